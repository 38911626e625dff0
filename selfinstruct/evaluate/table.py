"""eval's table columns, and what the terminal shows past the ROUGE-L table: length control and following."""

from __future__ import annotations

from typing import Any

from .lengths import plain

COLUMNS = (
    "model",
    "n",
    "rouge_l",
    "diff",
    "ci_low",
    "ci_high",
    "wins",
    "ties",
    "losses",
    "cut_base_rouge_l",
    "vs_cut_base",
    "vs_cut_ci_low",
    "vs_cut_ci_high",
    "length_share",
    "if_prompt",
    "if_prompt_diff",
    "if_prompt_ci_low",
    "if_prompt_ci_high",
    "if_instr",
    "if_instr_diff",
    "if_instr_ci_low",
    "if_instr_ci_high",
    "judge_win_rate",
    "judge_ci_low",
    "judge_ci_high",
    "judge_consistency",
    "judge_first_share",
    "judge_unclear",
    "answer_words",
    "wall_s",
)


def _ci(r: dict[str, Any], d: str, lo: str, hi: str, digits: int = 3) -> str:
    return f"{r[d]:+.{digits}f} [{r[lo]:+.{digits}f}, {r[hi]:+.{digits}f}]" if d in r else "-"


def print_measures(rows: list[dict[str, Any]]) -> None:
    """After the ROUGE-L table: how much of each gain is length, then the following table."""
    from rich.console import Console

    console = Console(stderr=True, markup=False)  # model labels are user text, never markup
    _print_lengths(console, rows)
    _print_following(console, rows)


def _print_lengths(console, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    students = [r for r in rows if "cut_base_rouge_l" in r]
    if not students:
        return
    t = Table(title="length control: the base cut to each student's answer lengths (words)")
    for c in ("model", "words", "ROUGE-L", "base cut", "length part", "vs cut base [95% CI]"):
        t.add_column(c, justify="left" if c == "model" else "right", no_wrap=True)
    for r in students:
        t.add_row(
            r["model"],
            str(r.get("answer_words", "")),
            f"{r['rouge_l']:.4f}",
            f"{r['cut_base_rouge_l']:.4f}",
            f"{r['length_part']:+.3f}",
            _ci(r, "vs_cut_base", "vs_cut_ci_low", "vs_cut_ci_high"),
        )
    console.print(t)
    for r in students:
        console.print(plain(r))


def _print_following(console, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if any("if_prompt" in r for r in rows):
        t = Table(
            title=f"verifiable constraints ({rows[0].get('if_n')} items), "
            "strict: items (prompt) and constraints (instr) kept"
        )
        for c in ("model", "prompt", "vs base [95% CI]", "instr", "vs base [95% CI]"):
            t.add_column(c, justify="left" if c == "model" else "right", no_wrap=True)
        for r in (r for r in rows if "if_prompt" in r):
            t.add_row(
                r["model"],
                f"{r['if_prompt']:.2f}",
                _ci(r, "if_prompt_diff", "if_prompt_ci_low", "if_prompt_ci_high", 2),
                f"{r['if_instr']:.2f}",
                _ci(r, "if_instr_diff", "if_instr_ci_low", "if_instr_ci_high", 2),
            )
        console.print(t)
    judged = [r for r in rows if "judge_win_rate" in r]
    if judged:
        t = Table(title="pairwise judge vs the base, both orders: a verdict counts where they agree")
        for c in ("model", "win rate [95% CI]", "w/t/l", "consistent", "picks A", "unclear"):
            t.add_column(c, justify="left" if c == "model" else "right", no_wrap=True)
        for r in judged:
            pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
            t.add_row(
                r["model"],
                f"{r['judge_win_rate']:.3f} [{r['judge_ci_low']:.3f}, {r['judge_ci_high']:.3f}]",
                f"{r['judge_wins']}/{r['judge_ties']}/{r['judge_losses']}",
                pct(r["judge_consistency"]),
                pct(r["judge_first_share"]),
                str(r["judge_unclear"]),
            )
        console.print(t)
