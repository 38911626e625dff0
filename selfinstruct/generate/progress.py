"""One rich progress bar per teacher step, with request counts and generated tokens/s."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StepProgress:
    def __init__(self, title: str):
        self.title = title
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=False)
        self.tasks: dict[str, int] = {}
        self.tokens: dict[str, tuple[int, float]] = {}

    def __enter__(self) -> "StepProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def start(self, step: str, total: int, label: str = "") -> None:
        """A new bar for `step` (propose, classify, ...); teacher chunks of that step advance it."""
        self.tasks[step] = self.progress.add_task(f"{self.title} {label or step}", total=total, rate="")
        self.tokens[step] = (0, 0.0)

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
        self.progress.update(self.tasks[step], advance=len(outs), rate=rate)
