"""matplotlib figures for the report; each returns PNG bytes (also saved next to the page)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must come before pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..store import write_atomic  # noqa: E402

DPI = 80
ACCEPT, GENERATED, CANDIDATES = "#2e7d32", "#9e9e9e", "#cfd8dc"
# Reject reasons: tab10 without its green (accepted is green) and grey (generated is grey).
REASONS = ["#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]


def _png(fig, path: Path) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    write_atomic(path, data)
    return data


def _plain(text: str) -> str:
    """matplotlib reads $...$ as math: a stray $ in a label must stay a dollar sign."""
    return text.replace("$", r"\$")


def _round_colours(rounds: list[int]) -> dict[int, Any]:
    cmap = plt.get_cmap("viridis")
    top = max(max(rounds), 1)
    return {r: ("#d62728" if r == 0 else cmap(0.15 + 0.75 * (r - 1) / max(top - 1, 1))) for r in rounds}


def funnel(rows: list[dict[str, Any]], path: Path) -> bytes:
    """Per round: generated, candidates, and their outcome stacked as accepted + each reject reason.

    The outcome bar is drawn from the records, so where a loop rejects some tasks before they
    count as candidates (or drops some silently) it differs from the candidates bar, visibly."""
    kinds = sorted({k for r in rows for k in r["rejected"]})
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    gen = [r["proposed"] if r["proposed"] is not None else 0 for r in rows]
    ax.bar(x - 0.28, gen, 0.27, color=GENERATED, label="proposed")
    ax.bar(x, [r["candidates"] for r in rows], 0.27, color=CANDIDATES, label="candidates")
    bottom = np.array([r["accepted"] for r in rows], dtype=float)
    ax.bar(x + 0.28, bottom, 0.27, color=ACCEPT, label="accepted")
    for i, k in enumerate(kinds):
        vals = np.array([r["rejected"].get(k, 0) for r in rows], dtype=float)
        ax.bar(x + 0.28, vals, 0.27, bottom=bottom, color=REASONS[i % len(REASONS)], label=f"rejected: {_plain(k)}")
        bottom += vals
    ax.set_xticks(x, [f"round {r['round']}" for r in rows])
    ax.set_ylabel("tasks")
    ax.set_title("Funnel: generated, candidates, outcome (accepted + rejected by reason)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig, path)


def nn_sim(per_round: dict[int, dict[str, list[float]]], threshold: float | None, path: Path) -> bytes:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharex=True)
    colours = _round_colours(list(per_round))
    bins = np.linspace(0, 1, 41)
    for ax, which in zip(axes, ("accepted", "rejected")):
        for r, sims in per_round.items():
            if sims[which]:
                ax.hist(sims[which], bins=bins, histtype="step", lw=1.6, color=colours[r], label=f"round {r}")
        if threshold is not None:
            ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
        ax.set_title(f"{which}: max cosine similarity to the pool")
        ax.set_xlabel("nn_sim")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("tasks")
    return _png(fig, path)


def lengths(per_round: dict[int, dict[str, list[int]]], path: Path) -> bytes:
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.0))
    colours = _round_colours(list(per_round))
    for ax, field in zip(axes, ("instruction", "input", "output")):
        top = max([max(v[field]) for v in per_round.values() if v[field]] or [1])
        bins = np.linspace(0, top + 1, 30)
        for r, v in per_round.items():
            if v[field]:
                ax.hist(
                    v[field],
                    bins=bins,
                    histtype="step",
                    lw=1.5,
                    color=colours[r],
                    label="seeds" if r == 0 else f"round {r}",
                    density=True,
                )
        ax.set_title(f"{field} length (words)")
        ax.legend(fontsize=7)
    return _png(fig, path)


def classification(shares: dict[int, float], path: Path) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    labels = ["seeds" if r == 0 else f"round {r}" for r in shares]
    ax.bar(labels, [100 * s for s in shares.values()], color=[_round_colours(list(shares))[r] for r in shares])
    ax.set_ylabel("% classification")
    ax.set_ylim(0, 100)
    ax.set_title("Classification tasks per round")
    return _png(fig, path)


def verbs(rows: list[tuple[str, int, list[tuple[str, int]]]], path: Path) -> bytes:
    """Horizontal bars: each leading verb, split into its most common objects (the rest grey)."""
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.2))
    cmap = plt.get_cmap("tab20")
    for y, (_verb, n, objs) in enumerate(reversed(rows)):
        left = 0
        for i, (obj, c) in enumerate(objs):
            ax.barh(y, c, left=left, color=cmap(i % 20))
            if c >= max(2, n * 0.12):
                ax.text(left + c / 2, y, obj, ha="center", va="center", fontsize=7)
            left += c
        ax.barh(y, n - left, left=left, color="#dddddd")
    ax.set_yticks(range(len(rows)), [v for v, _, _ in reversed(rows)])
    ax.set_xlabel("accepted tasks")
    ax.set_title("Leading verbs and their most common objects")
    return _png(fig, path)


def embedding_map(xy: np.ndarray, rounds: list[int], path: Path) -> bytes:
    fig, ax = plt.subplots(figsize=(6.5, 5))
    colours = _round_colours(sorted(set(rounds)))
    rs = np.array(rounds)
    for r in sorted(set(rounds)):
        m = rs == r
        ax.scatter(xy[m, 0], xy[m, 1], s=10, alpha=0.75, color=colours[r], label="seeds" if r == 0 else f"round {r}")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("Instruction embeddings (PCA)")
    ax.legend(fontsize=8)
    return _png(fig, path)


def usage(per_round: dict[int, dict[str, dict[str, float]]], path: Path) -> bytes:
    """Tokens per round stacked by step, and teacher wall time per round."""
    rounds = list(per_round)
    steps = sorted({s for u in per_round.values() for s in u})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.0))
    cmap = plt.get_cmap("tab10")
    x = np.arange(len(rounds))
    bottom = np.zeros(len(rounds))
    for i, s in enumerate(steps):
        toks = np.array(
            [
                per_round[r].get(s, {}).get("prompt_tokens", 0) + per_round[r].get(s, {}).get("completion_tokens", 0)
                for r in rounds
            ],
            dtype=float,
        )
        a1.bar(x, toks, bottom=bottom, color=cmap(i % 10), label=s)
        bottom += toks
    a1.set_xticks(x, [f"round {r}" for r in rounds])
    a1.set_title("Teacher tokens (prompt + completion)")
    a1.legend(fontsize=7)
    wall = [sum(u.get("wall_s", 0) for u in per_round[r].values()) for r in rounds]
    a2.bar(x, wall, color=GENERATED)
    a2.set_xticks(x, [f"round {r}" for r in rounds])
    a2.set_title("Teacher time (s)")
    return _png(fig, path)


def gain(rows: list[dict[str, Any]], path: Path) -> bytes:
    """Each student's ROUGE-L difference to the base, with its paired-bootstrap 95% CI."""
    rows = [r for r in rows if "ci_low" in r]
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(rows))
    d = np.array([r["diff"] for r in rows])
    err = np.array([[r["diff"] - r["ci_low"] for r in rows], [r["ci_high"] - r["diff"] for r in rows]])
    colours = [ACCEPT if r["ci_low"] > 0 else "#d62728" if r["ci_high"] < 0 else GENERATED for r in rows]
    ax.bar(x, d, 0.5, color=colours)
    ax.errorbar(x, d, yerr=err, fmt="none", ecolor="black", capsize=4)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [_plain(str(r["model"])) for r in rows])
    ax.set_ylabel("ROUGE-L vs base")
    ax.set_title("Student gain on held-out tasks (95% CI; green: above 0)")
    return _png(fig, path)
