"""Reads a run directory for the report and the export, without ever changing it.

A run may be half-way (generate still going, a round without stats, no student): every
piece is optional and a missing one is None or empty, so each report section can say
"not available" instead of failing. Stores are opened read-only: repairing one (cutting an
uncommitted tail) would cut the chunk that a running generate is writing right now.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import packaged
from ..records import InputError, Task
from ..round_dir import Round, RoundStats, read_json
from ..rundir import RunDir, RunError

# A config key is secret-looking when one of its words is one of these ("max_tokens" is not).
SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "credential", "credentials", "auth"}
# Values that look like credentials whatever their key: HF and OpenAI-style tokens, bearer strings.
SECRET_VALUE = re.compile(r"\b(hf_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_-]{8,}|Bearer\s+\S+)")
URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


@dataclass
class RoundData:
    n: int
    accepted: list[Task] = field(default_factory=list)
    rejected: list[Task] = field(default_factory=list)
    stats: RoundStats | None = None
    usage: dict[str, dict[str, float]] = field(default_factory=dict)  # step -> summed usage
    student: dict[str, Any] | None = None
    damaged: list[str] = field(default_factory=list)  # stores that do not match their commit logs
    done: bool = False  # its accepted set is committed; otherwise generate is still on it (or died)

    @property
    def label(self) -> str:
        return f"round {self.n}" + ("" if self.done else " (in progress)")


@dataclass
class RunData:
    path: Path
    name: str
    manifest: dict[str, Any]
    config: dict[str, Any]  # redacted, paths shortened
    seeds: list[Task]
    seeds_note: str  # where the seeds came from, or why they are missing
    rounds: list[RoundData]
    eval_rows: list[dict[str, Any]] | None
    audit: dict[str, Any] | None = None  # the audit's summary: validity shares (audit.py)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)  # the audit's verdict rows, one per task
    eval_doc: dict[str, Any] = field(default_factory=dict)  # eval's table whole: the verifiable set's summary too
    other_damaged: list[str] = field(default_factory=list)  # the audit's and eval's stores, checked as rounds' are

    @property
    def accepted(self) -> list[Task]:
        return [t for r in self.rounds for t in r.accepted]

    @property
    def damaged(self) -> list[str]:
        return [line for r in self.rounds for line in r.damaged] + self.other_damaged


def load_round(r: Round) -> RoundData:
    return RoundData(
        n=r.n,
        accepted=r.tasks("accepted"),
        rejected=r.tasks("rejected"),
        stats=r.stats(),
        usage=r.usage(),
        student=r.student_metrics(),
        damaged=r.damaged(),
        done=r.done,
    )


def load_run(path: str | Path) -> RunData:
    run = RunDir.reader(path)
    if not run.path.is_dir():
        raise RunError(f"{run.path}: no such run directory")
    manifest = run.manifest()
    rounds = [load_round(r) for r in run.rounds()]
    if not manifest and not rounds:
        raise RunError(f"{run.path}: not a run directory (no manifest and no round folders)")
    raw_cfg = run.raw_config()
    seeds, note = _seeds(raw_cfg.get("seeds"), run.heldout_path)
    eval_doc = read_json(run.eval.table)
    eval_rows = eval_doc.get("rows") if isinstance(eval_doc, dict) else eval_doc  # {"heldout": ..., "rows": [...]}
    audit = read_json(run.audit.summary)
    return RunData(
        path=run.path,
        name=str(manifest.get("name") or run.path.name),
        manifest=manifest,
        config=redact(raw_cfg, run.path),
        seeds=seeds,
        seeds_note=note,
        rounds=rounds,
        eval_rows=eval_rows if isinstance(eval_rows, list) else None,
        eval_doc=eval_doc if isinstance(eval_doc, dict) else {},
        audit=audit if isinstance(audit, dict) else None,
        audit_rows=read_committed_jsonl(run.audit.verdicts),
        other_damaged=run.other_damaged(),
    )


def read_committed_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a plain JSONL file written whole (tmp + rename); none if it is missing."""
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise InputError(path, n, "not valid JSON") from None
    return rows


def _seeds(path: Any, heldout: Path) -> tuple[list[Task], str]:
    """The seeds are round 0; they live outside the run, so only their file name is shown.
    Seeds that generate held out for evaluation (the run's held-out file) were never in the pool."""
    if not isinstance(path, str) or not path:
        return [], "no seeds path in the run's config"
    p = packaged(path)
    if not p.is_file():
        return [], f"seed file {Path(path).name} not found"
    from ..formats import read_tasks

    tasks = read_tasks(p)
    for t in tasks:
        t.round = 0
    note = Path(path).name
    if heldout.is_file():
        held = {(t.instruction, t.id) for t in read_tasks(heldout)}
        tasks = [t for t in tasks if (t.instruction, t.id) not in held]
        note += f", {len(held)} held out for eval"
    return tasks, note


def safe_text(value: str, run: Path | None = None) -> str:
    """A config-ish string made safe to show: credentials cut, paths outside the run shortened."""
    value = SECRET_VALUE.sub("[redacted]", value)
    value = URL_USERINFO.sub(r"\1[redacted]@", value)
    if run is not None:
        root = str(run.resolve())
        value = value.replace(root + os.sep, "").replace(root, ".")
    # Any other absolute path: keep the last component only.
    return re.sub(r"(?<![\w:/.])/(?:[^\s/'\",]+/)+([^\s/'\",]+)", r"…/\1", value)


def redact(obj: Any, run: Path | None = None, key: str = "") -> Any:
    if key and SECRET_WORDS & set(re.split(r"[^a-z0-9]+", key.lower())):
        return "[redacted]"
    if isinstance(obj, dict):
        return {k: redact(v, run, str(k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v, run) for v in obj]
    if isinstance(obj, str):
        return safe_text(obj, run)
    return obj
