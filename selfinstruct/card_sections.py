"""The dataset card's markdown helpers and its sections on what the run measured: the funnel and
rejects per round, decontamination, verification, the audit and eval (card.py builds the rest).

Every value from the run is user text as far as markdown goes (a reject kind, a model label, a path
in a config): it goes through md(), which keeps it on one line and escapes it, or into a block
fenced() so that nothing inside can close it. Absent measurements say "not run", never a blank.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .formats import read_tasks
from .report.load import RunData
from .report.verification import outcome
from .round_dir import STATS
from .rundir import RunDir

NOT_RUN = "not run"
_MD = re.compile(r"([\\`*_\[\]|~])")


def md(value: Any) -> str:
    """One inline run of escaped markdown: a newline in it could start a heading, a rule or a table
    row, so whitespace is collapsed; emphasis, code, link and cell marks are escaped, HTML is entities."""
    return html.escape(_MD.sub(r"\\\1", " ".join(str(value).split())), quote=False)


def fenced(text: str, lang: str = "") -> str:
    """A code block whose fence is longer than any run of backticks in text, so text cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def table(head: list[str], rows: list[list[Any]]) -> str:
    """Cells are given escaped (md) or as numbers; the head is ours."""
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def ci(r: dict[str, Any], value: str, low: str, high: str, digits: int = 3, sign: str = "+") -> str:
    """'+0.012 [-0.030, +0.050]': a difference to the base with its 95% interval, as eval prints it."""
    if not all(isinstance(r.get(k), (int, float)) for k in (value, low, high)):
        return "-"
    f = f"{sign}.{digits}f"
    return f"{r[value]:{f}} [{r[low]:{f}}, {r[high]:{f}}]"


def funnel(run: RunData) -> str:
    head = [
        "round",
        "prompts",
        "proposed",
        "candidates",
        "accepted",
        "acceptance",
        "classification",
        "teacher tokens / accepted",
    ]
    rows: list[list[Any]] = []
    sums = [0, 0, 0, 0]
    for r in run.rounds:
        s = r.stats
        if s is None:
            rows.append([md(r.label), f"no {STATS} yet", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                md(r.label),
                s.prompts,
                s.proposed,
                s.candidates,
                s.accepted,
                pct(s.acceptance_rate),
                s.classification,
                s.tokens_per_accepted if s.tokens_per_accepted is not None else "-",
            ]
        )
        sums = [a + b for a, b in zip(sums, (s.prompts, s.proposed, s.candidates, s.accepted))]
    if not rows:
        return "No round has started."
    rows.append(["**all**", *sums, pct(sums[3] / sums[2] if sums[2] else None), "", ""])
    return (
        f"Per round, from its `{STATS}`: prompts sent, instructions proposed, unique candidates, "
        "accepted (acceptance = accepted / candidates).\n\n" + table(head, rows)
    )


def rejects(run: RunData) -> str:
    stats = [(r.n, r.stats.rejected) for r in run.rounds if r.stats]
    totals: dict[str, int] = {}
    for _, rej in stats:
        for kind, k in rej.items():
            totals[kind] = totals.get(kind, 0) + k
    if not totals:
        return "No task was rejected." if stats else NOT_RUN
    rows = [
        [md(kind), *(rej.get(kind, 0) for _, rej in stats), total]
        for kind, total in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return table(["reason", *(f"round {n}" for n, _ in stats), "all"], rows)


def contamination(run: RunData, cfg: dict[str, Any]) -> str:
    from .filter.decontam import NGRAM

    rundir = RunDir.reader(run.path)
    if not rundir.heldout_path.is_file():
        return "No seeds were held out (`generate.heldout_share` is 0): " + NOT_RUN + "."
    held = read_tasks(rundir.heldout_path)
    novelty = (cfg.get("filter") or {}).get("novelty") or {}
    contaminated = sum(r.stats.rejected.get("contaminated", 0) for r in run.rounds if r.stats)
    sims = [t.scores["heldout_sim"] for t in run.accepted if isinstance(t.scores.get("heldout_sim"), (int, float))]
    overlap = run.eval_doc.get("heldout_overlapping_training")
    sha = md(run.manifest.get("heldout_sha256", "not recorded"))
    lines = [
        f"- held-out seeds: {len(held)} (`{rundir.heldout_path.name}`, sha256 {sha}), "
        "kept out of generation, of the in-context examples and of training",
        f"- check: a task sharing a {NGRAM}-word n-gram with a held-out task, or whose instruction's embedding "
        f"({md(novelty.get('embedder', '?'))}) has a cosine at or above {md(novelty.get('threshold', '?'))} "
        "to a held-out instruction, is rejected as `contaminated`",
        f"- rejected as contaminated: {contaminated}",
        f"- the accepted task closest to a held-out instruction: cosine {max(sims):.4f}"
        if sims
        else "- nearest held-out cosine of the accepted tasks: not recorded",
        "- held-out tasks overlapping the exported data, as `eval` counts them: "
        + (str(len(overlap)) if isinstance(overlap, list) else NOT_RUN),
    ]
    return "\n".join(lines)


def verification(run: RunData) -> str:
    if not any(t.checks for r in run.rounds for t in r.accepted):
        return NOT_RUN + " (`filter.verify.enabled` is off, or no accepted task was checked)."
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
    rows = []
    for r in run.rounds:
        kinds = [t.checks.get("kind", "-") for t in r.accepted]
        said = [outcome(t.checks) for t in r.accepted if t.checks]
        rej = r.stats.rejected if r.stats else {}
        rows.append(
            [
                md(r.label),
                len(r.accepted),
                kinds.count("code"),
                kinds.count("compute"),
                kinds.count("open"),
                said.count("passed"),
                said.count("agrees"),
                said.count("repaired"),
                said.count("constrained"),
                rej.get("failed_execution", 0),
                rej.get("wrong_value", 0),
                rej.get("constraint_unmet", 0),
                rej.get("unverified", 0),
            ]
        )
    return (
        "Code runs in the sandbox against tests the teacher wrote; a computable answer is recomputed by "
        "a program the teacher wrote; open tasks have no program that can check them, unless the engine "
        "attached a constraint (the constrained strategy) that the IFEval checkers find kept.\n\n" + table(head, rows)
    )


def audit(run: RunData) -> str:
    a = run.audit
    if not a:
        return NOT_RUN + " (`selfinstruct audit RUN`)."
    rows = []
    for key in ("instruction", "input", "output", "all"):
        s = a.get(f"{key}_valid")
        if isinstance(s, dict) and len(s.get("ci95") or []) == 2:
            rows.append(
                [
                    f"{key} valid",
                    s.get("valid"),
                    a.get("tasks"),
                    pct(s.get("share")),
                    f"{s['ci95'][0]:.0%} to {s['ci95'][1]:.0%}",
                ]
            )
    return (
        f"Judge: {md(a.get('judge', '?'))}, {a.get('tasks', '?')} tasks, one yes/no question each "
        f"(Wilson 95% intervals); {a.get('unparsed', 0)} answers unparsed.\n\n"
        + table(["question", "valid", "tasks", "share", "95% CI"], rows)
    )


def evaluation(run: RunData) -> str:
    rows = run.eval_rows
    if not rows:
        return NOT_RUN + " (`selfinstruct eval --run RUN`)."
    out = []
    for r in rows:
        rouge = r.get("rouge_l")
        out.append(
            [
                md(r.get("model", "?")),
                r.get("n", "?"),
                f"{rouge:.4f}" if isinstance(rouge, float) else "-",
                ci(r, "diff", "ci_low", "ci_high"),
                f"{r['if_prompt']:.3f}" if isinstance(r.get("if_prompt"), float) else "-",
                ci(r, "if_prompt_diff", "if_prompt_ci_low", "if_prompt_ci_high"),
                ci(r, "judge_win_rate", "judge_ci_low", "judge_ci_high", 2, sign=""),
                pct(r.get("judge_consistency")),
            ]
        )
    head = [
        "model",
        "n",
        "ROUGE-L",
        "vs base [95% CI]",
        "IFEval strict (prompt)",
        "vs base [95% CI]",
        "judge win rate [95% CI]",
        "judge consistent",
    ]
    return (
        "Each student against its base on the held-out seeds: ROUGE-L with a paired-bootstrap 95% "
        "interval of the difference, strict accuracy on the same seeds with IFEval constraints "
        "attached, and the teacher's pairwise judge, asked in both orders (a verdict counts where the "
        "orders agree: `judge consistent`).\n\n" + table(head, out)
    )
