"""The teacher as judge: pairwise win-rate of a student's answers against the base model's.

Every pair is asked twice, student first and student second, because small judges prefer a
position; a verdict counts 1 for the student, 0 for the base, and a reply with no clear A or B
counts 0.5 (a tie). Identical answers are a tie without asking.
"""

from __future__ import annotations

import re
from typing import Any

from ..prompting import make_request, template
from ..store import ChunkStore

_VERDICT = re.compile(r"\b([AB])\b")


def judge_requests(items: list[tuple[str, str, str]], student: list[str], base: list[str], style: str):
    """Two requests per differing pair: (student as A) and (student as B); prompts/pairwise.jinja."""
    reqs = []
    for n, ((ins, inp, _), s, b) in enumerate(zip(items, student, base)):
        if s.strip() == b.strip():
            continue
        for student_is in ("A", "B"):
            a, bb = (s, b) if student_is == "A" else (b, s)
            text = template("pairwise.jinja").render(instruction=ins, a=a, b=bb,
                                                     input_line=f"Input: {inp}\n" if inp.strip() else "")
            reqs.append(make_request(text, style, max_tokens=4, temperature=0.0,
                                     meta={"item": n, "student_is": student_is}))
    return reqs


def verdict(text: str) -> str | None:
    m = _VERDICT.search(text or "")
    return m.group(1) if m else None


def win_rate(teacher: Any, items: list[tuple[str, str, str]], student: list[str], base: list[str],
             style: str = "chat", store: ChunkStore | None = None, chunk_size: int = 64) -> dict[str, float]:
    """{win_rate, unclear}: the student's share of verdicts over both orders, ties counted as half.
    With a store, every verdict is kept there (run_step: durable, a relaunch asks nothing again)."""
    from ..teachers.base import run_step

    reqs = judge_requests(items, student, base, style)
    ties = 2 * (len(items) - len(reqs) // 2)  # identical answers: both orders are ties
    points, unclear = 0.5 * ties, 0
    outs = (run_step(teacher, reqs, store, chunk_size) if store is not None else teacher.complete(reqs)) if reqs else []
    for req, out in zip(reqs, outs):
        v = verdict(out.text) if out.finish_reason != "error" else None
        if v is None:
            unclear += 1
            points += 0.5
        else:
            points += float(v == req.meta["student_is"])
    total = 2 * len(items)
    return {"win_rate": round(points / total, 4) if total else 0.0, "unclear": unclear}
