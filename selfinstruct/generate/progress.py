"""One rich progress bar per teacher step, with request counts, generated tokens/s and what the
teacher reports live (the openai backend: `in_flight=N`, its current limit on requests in flight).
Where stderr is not a terminal (a log file, a pipe), bars are not drawn until the round ends, so
each teacher chunk is also one plain line there."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text


class _StatusColumn(ProgressColumn):
    """The teacher's live figures on the running step's bar; a finished bar keeps its last ones."""

    def __init__(self, owner: StepProgress):
        super().__init__()
        self.owner = owner

    def render(self, task) -> Text:
        if task.id == self.owner.current:
            task.fields["status"] = self.owner.status_text()
        return Text(task.fields.get("status", ""))


class StepProgress:
    def __init__(self, title: str, status: Callable[[], dict] | None = None):
        self.title = title
        self.status = status
        self.current: TaskID | None = None  # the bar of the step running now
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            _StatusColumn(self),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.tokens: dict[str, tuple[int, float]] = {}
        self.plain = not self.progress.console.is_terminal

    def __enter__(self) -> StepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def status_text(self) -> str:
        try:
            figures = self.status() if self.status else {}
        except Exception:  # a display must never stop a step
            return ""
        return " ".join(f"{k}={v}" for k, v in figures.items())

    def start(self, step: str, total: int, label: str = "") -> None:
        """A new bar for `step` (propose, classify, ...); teacher chunks of that step advance it."""
        self.tasks[step] = self.progress.add_task(
            f"{self.title} {label or step}", total=total, rate="", status=self.status_text()
        )
        self.tokens[step] = (0, 0.0)
        self.current = self.tasks[step]

    def note(self, text: str) -> None:
        """Shows a running figure (e.g. accepted so far) on the last bar."""
        if self.tasks:
            last = list(self.tasks.values())[-1]
            self.progress.update(last, description=f"{self.progress.tasks[last].description}  [{text}]")

    def update(self, step: str, outs: list, wall: float) -> None:
        if step not in self.tasks:
            return
        tok, secs = self.tokens[step]
        tok, secs = tok + sum(o.completion_tokens for o in outs), secs + wall
        self.tokens[step] = (tok, secs)
        rate = f"{tok / secs:.0f} tok/s" if secs else ""
        self.progress.update(self.tasks[step], advance=len(outs), rate=rate, status=self.status_text())
        if self.plain:
            bar = next(t for t in self.progress.tasks if t.id == self.tasks[step])
            line = f"{bar.description}: {bar.completed:.0f}/{bar.total:.0f} requests, {rate or '-'}, {secs:.0f} s"
            line += f" {self.status_text()}".rstrip()
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
