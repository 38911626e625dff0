"""The in-context sampling that fills generate's prompts (the templates: prompting.py).

Every draw is fixed by (run seed, round, step, index), so a relaunch rebuilds the same prompts.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from ..records import Task


def rng_for(*parts: Any) -> random.Random:
    """A random stream fixed by (run seed, round, step, index): a relaunch rebuilds the same prompts."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def seed_for(*parts: Any) -> int:
    return rng_for(*parts).randrange(2**31)


def sample_in_context(
    seeds: list[Task],
    generated: list[Task],
    n_total: int,
    n_seed: int,
    rng: random.Random,
    weights: dict[str, float] | None = None,
) -> list[Task]:
    """n_seed seed tasks + the rest from generated ones (all seeds while none are generated).

    `weights` over-samples generated tasks (e.g. those the student still fails)."""
    n_gen = min(n_total - n_seed, len(generated))
    picked = rng.sample(seeds, min(n_total - n_gen, len(seeds)))
    if n_gen:
        if weights:
            w = [weights.get(t.id, 1.0) for t in generated]
            chosen: dict[str, Task] = {}
            while len(chosen) < n_gen:
                t = rng.choices(generated, weights=w)[0]
                chosen.setdefault(t.id, t)
            picked += list(chosen.values())
        else:
            picked += rng.sample(generated, n_gen)
    rng.shuffle(picked)
    return picked


def few_shot_examples(pool: list[Task], classification: bool, k: int, rng: random.Random) -> list[dict]:
    """k example (instruction, input, output) triples of the wanted kind, for instance prompts."""
    kind = [
        t for t in pool if bool(t.is_classification) == classification and t.instances and t.instances[0].output.strip()
    ]
    chosen = rng.sample(kind, min(k, len(kind)))
    return [
        {"instruction": t.instruction, "input": t.instances[0].input, "output": t.instances[0].output} for t in chosen
    ]
