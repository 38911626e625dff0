"""Length control: how much of a student's ROUGE-L gain is only that it says less.

ROUGE-L F against short references rewards a short answer, so for each student the base's answers
are cut, item by item, to that student's answer length in words and scored the same way (the cut
base). The student's gain over the cut base, with its paired-bootstrap CI, is the part of its gain
that length does not explain; the cut base's own gain over the base is the part that it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .paired import paired_bootstrap


def cut_to(answers: list[str], like: list[str]) -> list[str]:
    """Each answer cut to the word count of its counterpart in `like` (never lengthened)."""
    return [" ".join(a.split()[: len(b.split())]) for a, b in zip(answers, like)]


def length_control(
    base: list[str],
    student: list[str],
    refs: list[str],
    base_scores: list[float],
    student_scores: list[float],
    score: Callable[[list[str], list[str]], list[float]],
) -> dict[str, Any]:
    """The row fields for one student: the cut base's score, its gain over the base (the length
    part) and the student's gain over the cut base with its CI (what length does not explain)."""
    cut = score(cut_to(base, student), refs)
    over_cut = paired_bootstrap(student_scores, cut)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    gain, length_part = mean(student_scores) - mean(base_scores), mean(cut) - mean(base_scores)
    return {
        "cut_base_rouge_l": round(mean(cut), 4),
        "length_part": round(length_part, 4),
        "vs_cut_base": over_cut["diff"],
        "vs_cut_ci_low": over_cut["ci_low"],
        "vs_cut_ci_high": over_cut["ci_high"],
        "length_share": round(length_part / gain, 2) if gain > 0 else None,
    }


def plain(row: dict[str, Any]) -> str:
    """One sentence for the table and the report: how much of the gain is length."""
    if "vs_cut_base" not in row:
        return ""
    lead = (
        f"{row['model']}: {row['diff']:+.3f} ROUGE-L over the base; the base cut to its answer lengths "
        f"gets {row['length_part']:+.3f} by itself"
    )
    share = row.get("length_share")
    part = (
        "" if share is None else f", so {max(0.0, share):.0%} of the gain is length"
    )  # over 100%: a cut base beats it
    verdict = (
        "better than"
        if row["vs_cut_ci_low"] > 0
        else "worse than"
        if row["vs_cut_ci_high"] < 0
        else "not distinguishable from"
    )
    return (
        f"{lead}{part}; over the cut base {row['vs_cut_base']:+.3f} [{row['vs_cut_ci_low']:+.3f}, "
        f"{row['vs_cut_ci_high']:+.3f}]: {verdict} a base that stops as early"
    )
