"""`selfinstruct audit`: Self-Instruct's validity audit of a run's accepted tasks, by a judge model.

For each task (its first instance) the judge answers three questions, one request each, as the
paper's human audit did: is the instruction a valid task, is the input appropriate for it, is the
output a correct and acceptable response. Each answer is "Yes"/"No" with a one-sentence reason,
kept. A task is all-valid when all three are yes. Requests go through run_step into the audit's
request store, so a relaunch asks nothing twice; a verdict row per task and the shares, each with a
Wilson 95% interval, are written beside it (rundir.AuditDir names the files; the report shows them).

The judge is `generate.audit_judge` (default: the run's teacher), with the teacher's engine settings,
prompted as `teacher.step_styles.audit` says.
Measured against 30 hand labels: see docs/results.md "Validity audit".
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from .config import Config
from .prompting import make_request, render
from .records import Instance, Task
from .rundir import AuditDir, RunDir, warn_damaged
from .store import ChunkStore, write_atomic

QUESTIONS = ("instruction", "input", "output")
_VERDICT = re.compile(r"\W*(yes|no)\b", re.I)


def judge_config(cfg: Config):
    """The teacher's settings with the judge's model (generate.audit_judge), or the teacher's own."""
    judge = cfg.generate.audit_judge
    return cfg.teacher if not judge else cfg.teacher.model_copy(update={"model": judge})


def audit_requests(tasks: list[Task], cfg: Config) -> list:
    style = cfg.teacher.style("audit")
    reqs = []
    for t in tasks:
        inst = t.instances[0] if t.instances else Instance()
        for q in QUESTIONS:
            text = render(
                cfg.generate.templates,
                "audit",
                style,
                question=q,
                instruction=t.instruction,
                input=inst.input,
                output=inst.output,
            )
            reqs.append(
                make_request(
                    text,
                    style,
                    max_tokens=48,
                    temperature=0.0,
                    top_p=1.0,
                    stop=["\n\n"],
                    seed=0,
                    meta={"task": t.id, "question": q},
                )
            )
    return reqs


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """'Yes. The task is clear.' -> (True, 'The task is clear.'); no yes/no first -> (None, text)."""
    m = _VERDICT.match(text or "")
    if not m:
        return None, (text or "").strip()
    return m.group(1).lower() == "yes", text[m.end() :].strip(" .,:;-*\n")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a share k/n (sensible at small n and near 0 or 1)."""
    if n == 0:
        return 0.0, 0.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def verdicts(tasks: list[Task], completions: list) -> list[dict[str, Any]]:
    """One row per task: the three verdicts (True/False/None if unparsable), reasons, all_valid."""
    by = {(c.meta.get("task"), c.meta.get("question")): c for c in completions}
    rows = []
    for t in tasks:
        row: dict[str, Any] = {"id": t.id, "task": t.instruction, "round": t.round}
        for q in QUESTIONS:
            c = by.get((t.id, q))
            ok, why = parse_verdict(c.text) if c is not None and c.finish_reason != "error" else (None, "no answer")
            row[f"{q}_valid"], row[f"{q}_why"] = ok, why
        row["all_valid"] = all(row[f"{q}_valid"] is True for q in QUESTIONS)
        rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]], judge: str) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {"judge": judge, "tasks": n}
    for key in (*QUESTIONS, "all"):
        k = sum(r[f"{key}_valid"] is True for r in rows)
        out[f"{key}_valid"] = {"valid": k, "share": round(k / n, 4) if n else 0.0, "ci95": list(wilson(k, n))}
    out["unparsed"] = sum(r[f"{q}_valid"] is None for r in rows for q in QUESTIONS)
    return out


def run_audit(tasks: list[Task], teacher, cfg: Config, out: AuditDir) -> dict[str, Any]:
    """Audits `tasks` with `teacher`; writes its requests, verdicts and summary into `out`."""
    from .teachers.base import run_step

    out.path.mkdir(parents=True, exist_ok=True)
    comps = run_step(teacher, audit_requests(tasks, cfg), ChunkStore(out.requests), cfg.teacher.chunk_size)
    rows = verdicts(tasks, comps)
    write_atomic(out.verdicts, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    summary = summarize(rows, teacher.name)
    write_atomic(out.summary, json.dumps(summary, indent=1))
    return summary


def print_audit(summary: dict[str, Any], where: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"validity audit of {summary['tasks']} tasks by {escape(str(summary['judge']))} -> {escape(str(where))}"
    )
    for col in ("valid", "tasks", "share", "95% CI"):
        table.add_column(col, justify="left" if col == "valid" else "right")
    for key in (*QUESTIONS, "all"):
        s = summary[f"{key}_valid"]
        table.add_row(f"{key} valid", str(s["valid"]), f"{s['share']:.0%}", f"{s['ci95'][0]:.0%}-{s['ci95'][1]:.0%}")
    Console(stderr=True).print(table)


def audit_run(run: Path, cfg: Config) -> dict[str, Any]:
    """`selfinstruct audit RUN`: every accepted task of the run, judged by cfg.teacher. It holds the
    run's lock as generate does: a second audit (or a generate) on the run is refused while it works."""
    from .records import InputError
    from .teachers import make_teacher

    with RunDir.reader(run).exclusive("audit") as rundir:
        warn_damaged(rundir)
        tasks = rundir.accepted_tasks()
        if not tasks:
            raise InputError(run, None, "no accepted tasks in the run's rounds; run generate first")
        out = rundir.audit
        teacher = make_teacher(judge_config(cfg), seed=cfg.run.seed)
        try:
            summary = run_audit(tasks, teacher, cfg, out)
        finally:
            teacher.close()
    print_audit(summary, out.path)
    from .labels import print_signals, run_signals

    if found := run_signals(run):  # the run has hand labels (selfinstruct review): how the judge fares
        print_signals(*found)
    return summary
