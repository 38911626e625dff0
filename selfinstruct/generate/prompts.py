"""Jinja2 prompt templates and the in-context sampling that fills them.

Templates live in prompts/ (or a folder the config names, searched first, so a user can
override one template and keep the rest). Each step has a completion-style template for base
models and a `_chat` one for instruction-tuned teachers.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from ..config import PROJECT_ROOT
from ..records import Task
from ..teachers.base import Request


@lru_cache(maxsize=8)
def _env(folder: str) -> jinja2.Environment:
    paths = [folder] if Path(folder).is_absolute() else [folder, str(PROJECT_ROOT / folder)]
    paths.append(str(PROJECT_ROOT / "prompts"))
    return jinja2.Environment(loader=jinja2.FileSystemLoader(paths), undefined=jinja2.StrictUndefined,
                              autoescape=False, trim_blocks=False)


def render(folder: str, step: str, style: str, **ctx: Any) -> str:
    name = f"{step}.jinja" if style == "completion" else f"{step}_chat.jinja"
    return _env(folder).get_template(name).render(**ctx)


def make_request(text: str, style: str, *, max_tokens: int, temperature: float, top_p: float,
                 stop: list[str], seed: int, meta: dict[str, Any]) -> Request:
    if style == "completion":
        return Request(prompt=text, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                       stop=stop, seed=seed, meta=meta)
    return Request(messages=[{"role": "user", "content": text}], max_tokens=max_tokens,
                   temperature=temperature, top_p=top_p, stop=[], seed=seed, meta=meta)


def rng_for(*parts: Any) -> random.Random:
    """A random stream fixed by (run seed, round, step, index): a relaunch rebuilds the same prompts."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def seed_for(*parts: Any) -> int:
    return rng_for(*parts).randrange(2**31)


def sample_in_context(seeds: list[Task], generated: list[Task], n_total: int, n_seed: int,
                      rng: random.Random, weights: dict[str, float] | None = None) -> list[Task]:
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
    kind = [t for t in pool if bool(t.is_classification) == classification and t.instances
            and t.instances[0].output.strip()]
    chosen = rng.sample(kind, min(k, len(kind)))
    return [{"instruction": t.instruction, "input": t.instances[0].input, "output": t.instances[0].output}
            for t in chosen]
