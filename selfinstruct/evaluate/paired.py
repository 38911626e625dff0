"""Base vs student on the same items: the mean ROUGE-L difference with a paired-bootstrap 95% CI.

Each held-out item is scored for both models, so the difference is taken item by item and the
items are resampled with replacement (Efron's percentile interval, a fixed seed: the same numbers
on every call). Wins, ties and losses count items where the student scores higher, the same
(within 1e-9), or lower. With weights (say, constraints per item), the difference is the weighted
mean and each resample is weighted the same way: a ratio of sums, resampled by item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000


def paired_bootstrap(
    student: list[float],
    base: list[float],
    resamples: int = RESAMPLES,
    seed: int = 0,
    weights: Sequence[float] | None = None,
) -> dict[str, float | int]:
    if len(student) != len(base) or not base or (weights is not None and len(weights) != len(base)):
        raise ValueError("paired scores need the same, non-zero number of items")
    d = np.asarray(student, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    means = (d * w)[idx].sum(axis=1) / w[idx].sum(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    mean = float((d * w).sum() / w.sum())
    return {
        "diff": round(mean, 4),
        "ci_low": round(float(lo), 4),
        "ci_high": round(float(hi), 4),
        "wins": int((d > 1e-9).sum()),
        "ties": int((np.abs(d) <= 1e-9).sum()),
        "losses": int((d < -1e-9).sum()),
    }


def mean_ci(values: list[float], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-item values with its bootstrap 95% interval."""
    if not values:
        raise ValueError("no values")
    v = np.asarray(values, dtype=np.float64)
    means = v[np.random.default_rng(seed).integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return round(float(v.mean()), 4), round(float(lo), 4), round(float(hi), 4)
