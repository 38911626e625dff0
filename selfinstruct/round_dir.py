"""One round's folder, and its statistics as a type.

round-N/
  propose.jsonl ...    each teacher step's answers (a chunk store: store.py), with
                       <step>.usage.jsonl beside it (tokens and wall time per chunk)
  rejected.jsonl       every rejected task with its reason
  carry.jsonl          novel instructions or finished tasks the round did not need (the next one takes them)
  stats.json           RoundStats
  accepted.jsonl       the accepted set; its .done marker commits the round
  student/             the student distilled after this round (distill/train.py), finished when it holds .done

A Round is opened for writing (generate) or read-only (report, export, eval, distill): a reader
never repairs a store, which could cut the chunk a running generate is appending.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .records import InputError, Task
from .store import ChunkStore, damaged_stores, usage_stores, write_atomic

# A student folder (distill/train.py writes it, here or anywhere `distill --out` says): the adapter,
# its resolved config and training metrics, and the marker it is moved into place with.
STUDENT = "student"
DONE = ".done"
STUDENT_CONFIG = "config.yaml"
METRICS = "metrics.json"
STATS = "stats.json"  # a round's RoundStats


@dataclass
class RoundStats:
    """What a round did; stats.json holds exactly this. `proposed`: instructions the teacher wrote
    (before dedup), `candidates`: the unique ones, `counts`: every step's counters."""

    round: int
    prompts: int = 0
    proposed: int = 0
    candidates: int = 0
    accepted: int = 0
    acceptance_rate: float = 0.0
    rejected: dict[str, int] = field(default_factory=dict)  # reject kind -> count
    classification: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    teacher: dict[str, float] = field(default_factory=dict)  # summed usage: tokens in/out, wall_s
    teacher_errors: dict[str, Any] = field(default_factory=dict)
    tokens_per_accepted: int | None = None
    step_s: dict[str, float] = field(default_factory=dict)  # wall per step, teacher time included
    carried: int = 0
    long_seeds: list[dict[str, Any]] = field(default_factory=list)
    # A round of evol or magpie (or a mix): strategy -> accepted, rejected, teacher tokens of its requests
    by_strategy: dict[str, dict[str, float]] = field(default_factory=dict)
    token_limits: dict[str, int] = field(default_factory=dict)  # bounded tails: step -> max tokens asked

    @property
    def tokens(self) -> float:
        return self.teacher.get("prompt_tokens", 0) + self.teacher.get("completion_tokens", 0)

    @property
    def novel_per_prompt(self) -> float | None:
        """Self-Instruct's: its novel instructions over its own prompts (prompts counts every strategy's)."""
        novel, prompts = self.counts.get("novel", 0), self.counts.get("prompts", self.prompts)
        return novel / prompts if novel and prompts else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["by_strategy"]:
            d.pop("by_strategy")  # a Self-Instruct round's stats read as they always have
        if not d["token_limits"]:
            d.pop("token_limits")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoundStats:
        """Keys this version does not know are left out; "generated" is the old name of proposed."""
        d = dict(d)
        if "generated" in d:
            d.setdefault("proposed", d.pop("generated"))
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


class Round:
    def __init__(self, path: Path, n: int, readonly: bool = False):
        self.path, self.n, self.readonly = Path(path), n, readonly
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)

    def store(self, step: str) -> ChunkStore:
        """A step's store: propose, classify, instances, answers, judge, accepted, rejected, carry."""
        return ChunkStore(self.path / f"{step}.jsonl", readonly=self.readonly)

    @property
    def done(self) -> bool:
        """Its accepted set is committed; otherwise generate is still on it (or died)."""
        return self.store("accepted").is_done

    @property
    def student(self) -> Path:
        return self.path / STUDENT

    def student_done(self) -> bool:
        return student_done(self.student)

    def student_metrics(self) -> dict[str, Any] | None:
        d = read_json(self.student / METRICS)
        return d if isinstance(d, dict) else None

    def tasks(self, step: str) -> list[Task]:
        """The committed task records of a store (accepted, rejected, carry), file:line on a bad one."""
        store = self.store(step)
        out = []
        for lineno, row in enumerate(store, 1):
            try:
                out.append(Task.from_dict(row))
            except (TypeError, ValueError) as e:
                raise InputError(store.path, lineno, f"not a task record: {e}") from None
        return out

    def stats(self) -> RoundStats | None:
        d = read_json(self.path / STATS)
        return RoundStats.from_dict(d) if isinstance(d, dict) else None

    def usage(self) -> dict[str, dict[str, float]]:
        """step -> its usage rows summed (requests, tokens, wall_s, errors, ...)."""
        out: dict[str, dict[str, float]] = {}
        for step, store in usage_stores(self.path, readonly=self.readonly):
            acc = out.setdefault(step, {})
            for row in store:
                for k, v in row.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        acc[k] = acc.get(k, 0) + v
        return out

    def final_answers(self, step: str) -> list[dict]:
        """The last stored answer to each request of a step (a retried error is overridden)."""
        return list({row["request_id"]: row for row in self.store(step)}.values())

    def damaged(self) -> list[str]:
        return damaged_stores(self.path)

    def commit(self, accepted: list[Task], rejected: list[Task], carry: list[Task], stats: RoundStats) -> None:
        """Rejected, carried and stats first, then the accepted set and its marker: a crash in between
        redoes only this bookkeeping (chunk keys make it idempotent), never the teacher work."""
        t0 = time.perf_counter()
        self.store("rejected").write_chunk("round", [t.to_dict() for t in rejected])
        self.store("carry").write_chunk("round", [t.to_dict() for t in carry])
        stats.step_s["commit"] = round(time.perf_counter() - t0, 3)  # the accepted set's write is about as long
        write_atomic(self.path / STATS, json.dumps(stats.to_dict(), indent=1))
        store = self.store("accepted")
        store.write_chunk("round", [t.to_dict() for t in accepted])
        store.mark_done({"accepted": len(accepted)})

    def committed(self) -> tuple[RoundStats, list[Task], list[Task]] | None:
        """-> (stats, accepted, carried over) of a committed round, or None."""
        if not self.done:
            return None
        stats = self.stats()
        if stats is None:
            raise InputError(self.path / STATS, None, "a committed round without its stats")
        return stats, self.tasks("accepted"), self.tasks("carry")


def read_json(path: Path) -> Any:
    """A JSON file of a run, None if it is missing; `path: invalid JSON` if it is damaged."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise InputError(path, None, f"invalid JSON: {e}") from None


def student_done(folder: Path) -> bool:
    return (Path(folder) / DONE).exists()
