"""The report's eval section: following, not stopping. Length control, verifiable constraints and
the position-fair judge from the eval table (RunDir.eval), a table and a plot each, and the whole eval table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..evaluate.lengths import plain
from ..evaluate.table import COLUMNS
from ..rundir import RunDir
from .load import RunData
from .page import img, na, para, table
from .plots import ACCEPT, GENERATED, _plain, _png, plt


def _ci(r: dict[str, Any], d: str, lo: str, hi: str) -> str:
    return f"{r[d]:+.3f} [{r[lo]:+.3f}, {r[hi]:+.3f}]" if d in r else "–"


def evaluation(run: RunData, out: Path) -> str:
    rows = [r for r in run.eval_rows or [] if isinstance(r, dict) and "model" in r]
    where = RunDir.reader(run.path).eval.table.relative_to(run.path)
    if not rows:
        return na(f"no {where}: run `selfinstruct eval --run RUN`")
    parts = [
        para(
            "ROUGE-L against short references rewards an answer for stopping early, so a student that "
            "only talks less gains on it. Three measures separate following from stopping: the base cut "
            "to each student's answer lengths (length control), IFEval-style constraints checked by "
            "program (verifiable), and the teacher as a pairwise judge asked in both orders."
        ),
        _lengths(rows, out),
        _verifiable(rows, run.eval_doc, out),
        _judge(rows, out),
    ]
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    parts.append(
        f"<details><summary>every eval column ({where})</summary>"
        + table(cols, [[r.get(c) for c in cols] for r in rows])
        + "</details>"
    )
    return "".join(parts)


def _lengths(rows: list[dict[str, Any]], out: Path) -> str:
    students = [r for r in rows if "vs_cut_base" in r]
    if not students:
        return "<p><b>length control</b></p>" + na("no student, or an eval from before length control")
    body = [
        [
            r["model"],
            r.get("answer_words"),
            r["rouge_l"],
            _ci(r, "diff", "ci_low", "ci_high"),
            r["cut_base_rouge_l"],
            _ci(r, "vs_cut_base", "vs_cut_ci_low", "vs_cut_ci_high"),
        ]
        for r in students
    ]
    return (
        "<p><b>length control: each student against the base cut to its answer lengths</b></p>"
        + para(" ".join(plain(r) + "." for r in students))
        + table(["model", "words", "ROUGE-L", "vs base [95% CI]", "base cut", "vs cut base [95% CI]"], body)
        + img(
            _gain_plot(students, out / "eval_length.png"), "gain over the base and over the cut base", "eval_length.png"
        )
    )


def _verifiable(rows: list[dict[str, Any]], doc: dict[str, Any], out: Path) -> str:
    scored = [r for r in rows if "if_prompt" in r]
    if not scored:
        return "<p><b>verifiable constraints</b></p>" + na("an eval from before the verifiable set")
    v = doc.get("verifiable") or {}
    leaked = v.get("training_tasks_with_eval_phrasings")
    note = (
        f"{v.get('n', '?')} held-out seeds with one or two IFEval constraints each ({v.get('constraints', '?')} in "
        f"all), checked strictly by if-verifiable's checkers: prompt level = every constraint of an item "
        f"kept, instruction level = constraints kept. Same answer budget for every model "
        f"({doc.get('answer_max_new_tokens', '?')} new tokens): a long answer cut there can miss an ending "
        "or a count. " + ("" if leaked is None else f"Accepted tasks carrying an eval phrasing: {len(leaked)}.")
    )
    body = [
        [
            r["model"],
            r["if_prompt"],
            _ci(r, "if_prompt_diff", "if_prompt_ci_low", "if_prompt_ci_high"),
            r["if_instr"],
            _ci(r, "if_instr_diff", "if_instr_ci_low", "if_instr_ci_high"),
        ]
        for r in scored
    ]
    kinds = v.get("by_type") or {}
    models = [r["model"] for r in scored]
    per = (
        table(
            ["constraint", "asked", *models],
            [[k, d.get("asked"), *[d.get(m) for m in models]] for k, d in kinds.items()],
        )
        if kinds
        else ""
    )
    return (
        "<p><b>verifiable constraints (strict accuracy)</b></p>"
        + para(note)
        + table(["model", "prompt level", "vs base [95% CI]", "instruction level", "vs base [95% CI]"], body)
        + img(_accuracy_plot(scored, out / "eval_verifiable.png"), "verifiable accuracy", "eval_verifiable.png")
        + (f"<details><summary>by constraint type</summary>{per}</details>" if per else "")
    )


def _judge(rows: list[dict[str, Any]], out: Path) -> str:
    judged = [r for r in rows if "judge_win_rate" in r]
    if not judged:
        return "<p><b>pairwise judge</b></p>" + na("no judge verdicts (eval ran with --no-judge, or before this judge)")
    body = [
        [
            r["model"],
            f"{r['judge_win_rate']:.3f} [{r['judge_ci_low']:.3f}, {r['judge_ci_high']:.3f}]",
            f"{r['judge_wins']}/{r['judge_ties']}/{r['judge_losses']}",
            r.get("judge_consistency"),
            r.get("judge_first_share"),
            r.get("judge_unclear"),
        ]
        for r in judged
    ]
    return (
        "<p><b>pairwise judge: the teacher, both orders</b></p>"
        + para(
            "A verdict counts only when both orders name the same answer; otherwise the item is a tie. "
            "Win rate = (wins + ties / 2) / items, 0.5 = no better than the base. Consistency: share of "
            "differing pairs whose orders agree; picks A: share of clear verdicts naming the first "
            "position (0.5 without position bias)."
        )
        + table(["model", "win rate [95% CI]", "w/t/l", "consistency", "picks A", "unclear"], body)
        + img(_judge_plot(judged, out / "eval_judge.png"), "judge win rate", "eval_judge.png")
    )


def _bars(ax, x, values, lows, highs, width, colour, label):
    v = np.array(values, dtype=float)
    err = np.clip(np.array([v - np.array(lows, dtype=float), np.array(highs, dtype=float) - v]), 0, None)
    ax.bar(x, v, width, color=colour, label=label)
    ax.errorbar(x, v, yerr=err, fmt="none", ecolor="black", capsize=3)


def _gain_plot(rows: list[dict[str, Any]], path: Path) -> bytes:
    fig, ax = plt.subplots(figsize=(6.5, 3))
    x = np.arange(len(rows))
    _bars(
        ax,
        x - 0.2,
        [r["diff"] for r in rows],
        [r["ci_low"] for r in rows],
        [r["ci_high"] for r in rows],
        0.38,
        GENERATED,
        "vs base",
    )
    _bars(
        ax,
        x + 0.2,
        [r["vs_cut_base"] for r in rows],
        [r["vs_cut_ci_low"] for r in rows],
        [r["vs_cut_ci_high"] for r in rows],
        0.38,
        ACCEPT,
        "vs base cut to the student's lengths",
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [_plain(str(r["model"])) for r in rows])
    ax.set_ylabel("ROUGE-L difference")
    ax.set_title("Gain with and without the length advantage (95% CI)")
    ax.legend(fontsize=8)
    return _png(fig, path)


def _accuracy_plot(rows: list[dict[str, Any]], path: Path) -> bytes:
    """Each model's accuracy; a student's whisker is the base's accuracy plus its paired CI."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    x = np.arange(len(rows))
    base = rows[0]
    for shift, key, colour, label in (
        (-0.2, "if_prompt", GENERATED, "prompt level"),
        (0.2, "if_instr", ACCEPT, "instruction level"),
    ):
        lo = [r[key] if f"{key}_ci_low" not in r else base[key] + r[f"{key}_ci_low"] for r in rows]
        hi = [r[key] if f"{key}_ci_high" not in r else base[key] + r[f"{key}_ci_high"] for r in rows]
        _bars(ax, x + shift, [r[key] for r in rows], lo, hi, 0.38, colour, label)
    ax.set_xticks(x, [_plain(str(r["model"])) for r in rows])
    ax.set_ylim(0, 1)
    ax.set_ylabel("strict accuracy")
    ax.set_title("Verifiable constraints kept (whiskers: 95% CI vs the base)")
    ax.legend(fontsize=8)
    return _png(fig, path)


def _judge_plot(rows: list[dict[str, Any]], path: Path) -> bytes:
    fig, ax = plt.subplots(figsize=(6.5, 3))
    x = np.arange(len(rows))
    _bars(
        ax,
        x,
        [r["judge_win_rate"] for r in rows],
        [r["judge_ci_low"] for r in rows],
        [r["judge_ci_high"] for r in rows],
        0.5,
        ACCEPT,
        "win rate",
    )
    for i, r in enumerate(rows):
        if r.get("judge_consistency") is not None:
            ax.text(i, 0.03, f"consistent {r['judge_consistency']:.0%}", ha="center", fontsize=8)
    ax.axhline(0.5, color="black", linewidth=0.8)
    ax.set_xticks(x, [_plain(str(r["model"])) for r in rows])
    ax.set_ylim(0, 1)
    ax.set_ylabel("win rate vs base")
    ax.set_title("Pairwise judge, both orders agreeing (95% CI; 0.5 = tie)")
    return _png(fig, path)
