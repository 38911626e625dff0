"""The report's verification section: what the verifiers (verify/) proved, per round, and the mix of
task kinds accepted, so a run that keeps only checkable tasks shows what it gave up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .load import RunData
from .page import esc, na, para, table

OUTCOMES = ("passed", "agrees", "repaired", "constrained", "unverified", "open")


def outcome(checks: dict[str, str]) -> str:
    """One word for a task's verification: passed (tests), agrees, repaired, constrained (an attached
    constraint kept), unverified, open."""
    if "specs" in checks and checks.get("constraints", "").startswith("met"):
        return "constrained"
    text = checks.get("execution") or checks.get("computation") or ""
    word = text.split(":")[0].split(" ")[0]
    return word if word in OUTCOMES else ("open" if checks.get("kind") == "open" else "unverified")


def verification(run: RunData, out: Path) -> str:
    if not any(t.checks for r in run.rounds for t in r.accepted + r.rejected):
        return na("no task was verified (filter.verify.enabled is off)")
    rows = []
    for r in run.rounds:
        kinds = Counter(t.checks.get("kind", "-") for t in r.accepted)
        said = Counter(outcome(t.checks) for t in r.accepted if t.checks)
        rej = Counter(
            t.reject.kind
            for t in r.rejected
            if t.reject and t.reject.kind in ("failed_execution", "wrong_value", "constraint_unmet", "unverified")
        )
        rows.append(
            [
                f"round {r.n}",
                len(r.accepted),
                kinds["code"],
                kinds["compute"],
                kinds["open"],
                said["passed"],
                said["agrees"],
                said["repaired"],
                said["constrained"],
                rej["failed_execution"],
                rej["wrong_value"],
                rej["constraint_unmet"],
                rej["unverified"],
            ]
        )
    head = [
        "round",
        "accepted",
        "code",
        "compute",
        "open",
        "tests passed",
        "value agrees",
        "repaired",
        "constraint kept",
        "rejected: failed_execution",
        "rejected: wrong_value",
        "rejected: constraint_unmet",
        "rejected: unverified",
    ]
    fixed = [t for r in run.rounds for t in r.accepted if "teacher_output" in t.checks][:8]
    sample = "".join(
        f"<li>{esc(t.instruction)}<br><s>{esc(t.checks['teacher_output'][:200])}</s> &rarr; "
        f"{esc(t.instances[0].output[:200])}</li>"
        for t in fixed
    )
    return (
        para(
            "Kinds (verify/kinds.py): code runs against tests the teacher wrote; compute has its answer "
            "recomputed by a program the teacher wrote; open has no program that can check it, unless the "
            "engine attached a constraint (the constrained strategy) that the IFEval checkers find kept. Both "
            "programs run in the sandbox. A repaired output is the program's value in place of the "
            "teacher's own (kept in the record)."
        )
        + table(head, rows)
        + (f"<p><b>repaired outputs</b></p><ul>{sample}</ul>" if sample else "")
    )
