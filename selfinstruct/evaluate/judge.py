"""The teacher as judge: a position-fair pairwise win rate of a student's answers against the base's.

Small judges prefer a position, so every pair is asked in both orders (student as A, then as B).
A verdict counts only when the two orders agree on the same answer: a win or a loss; two orders
that disagree, or a reply with no clear A or B, make a tie. Identical answers are a tie without
asking. Reported: the win rate (wins + half the ties, over all items) with its bootstrap 95% CI,
wins/ties/losses, the position-consistency (pairs asked whose two orders agree) and the share of
clear verdicts that named the first position (0.5 for a judge without position bias).
"""

from __future__ import annotations

import re
from typing import Any

from ..prompting import make_request, template
from ..store import ChunkStore
from .paired import mean_ci

_VERDICT = re.compile(r"\b([AB])\b")


def judge_requests(items: list[tuple[str, str, str]], student: list[str], base: list[str], style: str):
    """Two requests per differing pair: (student as A) and (student as B); prompts/pairwise.jinja."""
    reqs = []
    for n, ((ins, inp, _), s, b) in enumerate(zip(items, student, base)):
        if s.strip() == b.strip():
            continue
        for student_is in ("A", "B"):
            a, bb = (s, b) if student_is == "A" else (b, s)
            text = template("pairwise.jinja").render(
                instruction=ins, a=a, b=bb, input_line=f"Input: {inp}\n" if inp.strip() else ""
            )
            reqs.append(
                make_request(text, style, max_tokens=4, temperature=0.0, meta={"item": n, "student_is": student_is})
            )
    return reqs


def verdict(text: str) -> str | None:
    m = _VERDICT.search(text or "")
    return m.group(1) if m else None


def outcomes(reqs, outs) -> tuple[dict[int, float], dict[str, int]]:
    """Per asked item: 1 (both orders pick the student), 0 (both pick the base) or 0.5; and counts
    of agreeing pairs, unclear replies and clear verdicts naming position A."""
    picks: dict[int, dict[str, bool | None]] = {}
    counts = {"agree": 0, "unclear": 0, "clear": 0, "first": 0}
    by_id = {o.request_id: o for o in outs}
    for req in reqs:
        out = by_id.get(req.id)
        v = verdict(out.text) if out is not None and out.finish_reason != "error" else None
        counts["unclear"] += v is None
        counts["clear"] += v is not None
        counts["first"] += v == "A"
        picks.setdefault(req.meta["item"], {})[req.meta["student_is"]] = (
            None if v is None else v == req.meta["student_is"]
        )
    result = {}
    for item, p in picks.items():
        a, b = p.get("A"), p.get("B")
        agree = a is not None and a == b
        counts["agree"] += agree
        result[item] = (1.0 if a else 0.0) if agree else 0.5
    return result, counts


def win_rate(
    teacher: Any,
    items: list[tuple[str, str, str]],
    student: list[str],
    base: list[str],
    style: str = "chat",
    store: ChunkStore | None = None,
    chunk_size: int = 64,
) -> dict[str, Any]:
    """The student's position-fair win rate over the base; with a store, every verdict is kept
    there (run_step: durable, a relaunch asks nothing again)."""
    from ..teachers.base import run_step

    reqs = judge_requests(items, student, base, style)
    outs = (run_step(teacher, reqs, store, chunk_size) if store is not None else teacher.complete(reqs)) if reqs else []
    asked, counts = outcomes(reqs, outs)
    per_item = [asked.get(n, 0.5) for n in range(len(items))]  # not asked: identical answers, a tie
    rate, lo, hi = mean_ci(per_item) if per_item else (0.0, 0.0, 0.0)
    return {
        "judge_win_rate": rate,
        "judge_ci_low": lo,
        "judge_ci_high": hi,
        "judge_wins": sum(v == 1.0 for v in per_item),
        "judge_ties": sum(v == 0.5 for v in per_item),
        "judge_losses": sum(v == 0.0 for v in per_item),
        "judge_asked": len(asked),
        "judge_consistency": round(counts["agree"] / len(asked), 4) if asked else None,
        "judge_first_share": round(counts["first"] / counts["clear"], 4) if counts["clear"] else None,
        "judge_unclear": counts["unclear"],
    }
