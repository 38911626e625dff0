"""Hand labels of tasks, and how well each automatic signal agrees with them.

A labels file is JSONL, one task a line, in the fields of docs/*-hand-labels.jsonl: id (where missing,
the content key of instruction + input + output, a one-instance task's id), round,
instruction, input, output, is_classification and the person's instruction_ok, input_ok, output_ok
(true, false, or null while not yet judged). `selfinstruct review` writes the run's labels file
(RunDir.review_labels) in the same fields plus accepted, reject_kind, annotator and updated, so one
reader serves both.

A task is valid by hand when all three answers are yes, invalid as soon as one is no, and unknown
while some are unset and none is no. Each signal is a yes/no guess about that, over the labelled
tasks it covers:
  reject:KIND   the filter rejected the task with this kind: a guess "invalid"
  check:NAME    a verifier outcome (task.checks) starting passed/agree/repaired: a guess "valid";
                failed/disagree/wrong: a guess "not valid"; any other outcome (skipped, ...) covers nothing
  judge:Q       the audit judge's verdict on question Q (or all three): a guess "valid"
precision = share of the flagged tasks that are what the flag says (Wilson 95%), recall = share of the
tasks that are what it says that it flags, kappa = Cohen's agreement beyond chance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import QUESTIONS, wilson
from .records import InputError, Task, content_key

FIELDS = tuple(f"{q}_ok" for q in QUESTIONS)
_TEXT = ("instruction", "input", "output", "reject_kind", "annotator", "updated")
SAYS_VALID = ("passed", "agree", "repaired")
SAYS_INVALID = ("failed", "disagree", "wrong")


def check_row(row: Any) -> dict[str, Any]:
    """The row if it is a well-typed label record; ValueError naming the field otherwise."""
    if not isinstance(row, dict):
        raise ValueError(f"a label record must be a JSON object, got {type(row).__name__}")
    if row.get("id") is None and isinstance(row.get("instruction"), str):
        # Older hand labels have no id: the content key of a one-instance task, the id such a task has.
        row["id"] = content_key(row["instruction"], [(str(row.get("input") or ""), str(row.get("output") or ""))])
    if not isinstance(row.get("id"), str) or not row["id"]:
        raise ValueError("id must be a non-empty string")
    for f in FIELDS:
        if row.get(f) is not None and not isinstance(row[f], bool):
            raise ValueError(f"{f} must be true, false or null, got {row[f]!r}")
    for f in _TEXT:
        if row.get(f) is not None and not isinstance(row[f], str):
            raise ValueError(f"{f} must be a string, got {type(row[f]).__name__}")
    for f, kind in (("round", int), ("accepted", bool), ("is_classification", bool)):
        v = row.get(f)
        if v is not None and (not isinstance(v, kind) or (kind is int and isinstance(v, bool))):
            raise ValueError(f"{f} must be {kind.__name__}, got {v!r}")
    return row


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a labels file (review's or a docs/*-hand-labels.jsonl); none if it is missing.
    A damaged line raises InputError naming the file and line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(check_row(json.loads(line)))
        except ValueError as e:  # json's decode error is a ValueError too
            raise InputError(path, n, f"not a label record: {e}") from None
    return rows


def hand_valid(row: dict[str, Any]) -> bool | None:
    """All three yes -> True, any no -> False, otherwise not known yet."""
    answers = [row.get(f) for f in FIELDS]
    if False in answers:
        return False
    return True if all(a is True for a in answers) else None


@dataclass
class Signal:
    name: str
    guess: str  # what a flag says the task is: "invalid" or "valid"
    n: int  # labelled tasks the signal covers
    flagged: int
    hits: int  # flagged and truly what the flag says
    actual: int  # covered tasks truly what the flag says
    kappa: float | None
    note: str = ""

    @property
    def precision(self) -> float | None:
        return self.hits / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.hits / self.actual if self.actual else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.name,
            "guess": self.guess,
            "n": self.n,
            "flagged": self.flagged,
            "hits": self.hits,
            "actual": self.actual,
            "precision": self.precision,
            "precision_ci95": list(wilson(self.hits, self.flagged)),
            "recall": self.recall,
            "recall_ci95": list(wilson(self.hits, self.actual)),
            "kappa": self.kappa,
            "note": self.note,
        }


def kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of (signal, truth) pairs; None where it is undefined (no pairs, or both constant)."""
    n = len(pairs)
    if not n:
        return None
    po = sum(a == b for a, b in pairs) / n
    pa, pb = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if math.isclose(pe, 1.0) else round((po - pe) / (1 - pe), 4)


def score(name: str, guess: str, pairs: list[tuple[bool, bool]], note: str = "") -> Signal:
    """pairs: (signal flags the task, the task is truly what the flag says) per covered labelled task."""
    return Signal(
        name,
        guess,
        len(pairs),
        sum(f for f, _ in pairs),
        sum(f and t for f, t in pairs),
        sum(t for _, t in pairs),
        kappa(pairs),
        note,
    )


def check_says(outcome: str) -> bool | None:
    """A verifier outcome as a verdict: True says valid, False says not, None says neither."""
    head = outcome.strip().lower()
    if head.startswith(SAYS_VALID):
        return True
    return False if head.startswith(SAYS_INVALID) else None


def signals(
    labels: Iterable[dict[str, Any]], tasks: Iterable[Task], verdicts: Iterable[dict[str, Any]] = ()
) -> list[Signal]:
    """Every reject kind, verifier check and judge question against the labels, joined by task id.
    `tasks`: accepted and rejected tasks (a task missing here only counts for the judge)."""
    by_id = {r["id"]: r for r in labels}
    known = {i: v for i, r in by_id.items() if (v := hand_valid(r)) is not None}
    by_task = {t.id: t for t in tasks if t.id in by_id}
    out = _reject_signals(known, by_task) + _check_signals(known, by_task)
    return out + _judge_signals(by_id, known, list(verdicts))


def _reject_signals(known: dict[str, bool], tasks: dict[str, Task]) -> list[Signal]:
    covered = [i for i in known if i in tasks]
    kinds = sorted({t.reject.kind for t in tasks.values() if t.reject})
    rejected = sum(tasks[i].reject is not None for i in covered)
    note = "" if rejected else "no rejected task is labelled: precision unknown (review --rejected N labels some)"
    out = [score("reject: any", "invalid", [(tasks[i].reject is not None, not known[i]) for i in covered], note)]
    for kind in kinds:
        pairs = [((r := tasks[i].reject) is not None and r.kind == kind, not known[i]) for i in covered]
        out.append(score(f"reject: {kind}", "invalid", pairs))
    return out


def _check_signals(known: dict[str, bool], tasks: dict[str, Task]) -> list[Signal]:
    names = sorted({c for t in tasks.values() for c in t.checks})
    out = []
    for name in names:
        pairs = [
            (says, known[i])
            for i, t in tasks.items()
            if i in known and name in t.checks and (says := check_says(t.checks[name])) is not None
        ]
        out.append(
            score(
                f"check: {name}",
                "valid",
                pairs,
                "" if pairs else "no labelled task has a passed/failed outcome of this check",
            )
        )
    return out


def _judge_signals(by_id: dict[str, dict], known: dict[str, bool], verdicts: list[dict]) -> list[Signal]:
    if not verdicts:
        return []
    rows = [(v, by_id[v["id"]]) for v in verdicts if v.get("id") in by_id]
    out = [
        score(
            "judge: all valid",
            "valid",
            [(v.get("all_valid") is True, known[v["id"]]) for v, _ in rows if v["id"] in known],
        )
    ]
    for q in QUESTIONS:
        pairs = [
            (v.get(f"{q}_valid") is True, lab[f"{q}_ok"]) for v, lab in rows if isinstance(lab.get(f"{q}_ok"), bool)
        ]
        out.append(score(f"judge: {q}", "valid", pairs))
    return out


def fmt_share(k: int, n: int) -> str:
    if not n:
        return "–"
    lo, hi = wilson(k, n)
    return f"{k}/{n} {k / n:.0%} [{lo:.0%}, {hi:.0%}]"


def table_rows(found: list[Signal]) -> list[list[str]]:
    """signal, flags, n, precision, recall, kappa, note: for the terminal and the report alike."""
    return [
        [
            s.name,
            f"says {s.guess}",
            str(s.n),
            fmt_share(s.hits, s.flagged),
            fmt_share(s.hits, s.actual),
            "–" if s.kappa is None else f"{s.kappa:+.2f}",
            s.note,
        ]
        for s in found
    ]


HEADERS = ["signal", "flag", "labelled", "precision [95%]", "recall [95%]", "kappa", "note"]


def run_signals(run: str | Path) -> tuple[list[Signal], Path] | None:
    """A run's review labels against its reject kinds, checks and audit verdicts; None without labels."""
    from .rundir import RunDir

    rd = RunDir.reader(run)
    labels = load_labels(rd.review_labels)
    if not labels:
        return None
    tasks = [t for r in rd.rounds() for step in ("accepted", "rejected") for t in r.tasks(step)]
    return signals(labels, tasks, _verdicts(rd.audit.verdicts)), rd.review_labels


def _verdicts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError:
            raise InputError(path, n, "not valid JSON") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise InputError(path, n, "not a verdict record (an object with an id)")
        rows.append(row)
    return rows


def print_signals(found: list[Signal], source: str | Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    labelled = max((s.n for s in found), default=0)
    table = Table(title=f"signals against hand labels ({escape(str(source))}, up to {labelled} tasks)")
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("signal", "flag", "note") else "right")
    for row in table_rows(found):
        table.add_row(*[escape(c) for c in row])
    Console(stderr=True).print(table)
