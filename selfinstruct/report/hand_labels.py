"""The report's section on hand labels: how well each reject kind, verifier check and the audit
judge agree with what a person said (labels.py computes, `selfinstruct review` collects them)."""

from __future__ import annotations

from pathlib import Path

from ..labels import HEADERS, load_labels, signals, table_rows
from ..rundir import RunDir
from .load import RunData
from .page import na, para, table


def hand_labels(run: RunData, out: Path) -> str:
    path = RunDir.reader(run.path).review_labels
    labels = load_labels(path)  # a damaged file stops the report with its line, as a damaged store does
    if not labels:
        return na("no hand labels: label tasks with `selfinstruct review RUN`")
    tasks = [t for r in run.rounds for t in (*r.accepted, *r.rejected)]
    found = signals(labels, tasks, run.audit_rows)
    known = sum(all(isinstance(r.get(f"{q}_ok"), bool) for q in ("instruction", "input", "output")) for r in labels)
    annotators = sorted({r["annotator"] for r in labels if r.get("annotator")})
    return para(
        f"{len(labels)} tasks in {path.relative_to(run.path)}, {known} with all three questions answered"
        + (f", by {', '.join(annotators)}" if annotators else "")
        + ". A reject flags a task invalid, "
        "a passed/agree/repaired check and the judge's yes call it valid. Precision: share of the flagged "
        "that are so by hand; recall: share of those so by hand that are flagged (Wilson 95%). The "
        "rejected tasks are a sample (review --rejected), so a reject's recall is within that sample."
    ) + table(HEADERS, table_rows(found), left=2)
