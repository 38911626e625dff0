"""Bounded tails: each teacher step's token limit, set from how long that step's answers ran in the
run's earlier rounds.

A call to the teacher ends when its longest sequence does. An answer that loops ("vibrant, vibrant,
...") runs to teacher.max_tokens and holds the whole call, then is thrown away as truncated. From
round 2 on, a step whose earlier answers are known gets the limit quantile x margin of the lengths
of the answers that ended by themselves (finish "stop"), never above what was asked. A loop stops
there instead; an answer longer than almost all of its step's is lost. Round 1 runs as configured.
Only rounds in which a step ran unbounded measure it: a bounded round's answers are cut at its limit,
and measuring them would lower the limit a little more each round.

The limits come only from committed rounds, so a relaunch rebuilds the same requests and asks
nothing again. docs/results.md "Bounded tails" has what they saved and cost on a labelled run.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..config import TailOptions
from ..rundir import RunDir
from ..store import usage_stores
from ..teachers.base import Request


def step_limits(run: RunDir, n: int, opts: TailOptions) -> dict[str, int]:
    """{step: token limit} for round `n`, from rounds 1..n-1 of `run`; a step with fewer than
    opts.min_answers finished answers there gets none. Empty when opts.quantile is None."""
    if opts.quantile is None or n < 2:
        return {}
    lengths: dict[str, list[int]] = {}
    for k in range(1, n):
        rnd = run.round(k)
        stats = rnd.stats()
        bounded_then = stats.token_limits if stats else {}
        for step, _ in usage_stores(rnd.path, readonly=True):
            if step in bounded_then:
                continue
            for row in rnd.store(step):
                if row.get("finish_reason") == "stop":
                    lengths.setdefault(step, []).append(int(row.get("completion_tokens") or 0))
    return {
        step: math.ceil(float(np.quantile(found, opts.quantile)) * opts.margin)
        for step, found in sorted(lengths.items())
        if len(found) >= opts.min_answers
    }


def bounded(requests: list[Request], limit: int | None) -> list[Request]:
    """The requests with max_tokens at most `limit`. Each keeps its id: a step finds its answers by the
    ids of the requests it built, and the limits are the same on a relaunch."""
    if limit is None:
        return requests
    return [r if r.max_tokens <= limit else replace(r, max_tokens=limit) for r in requests]
