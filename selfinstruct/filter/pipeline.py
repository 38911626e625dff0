"""The filter: candidates in, (accepted, rejected with a reason, stats) out.

Order, cheapest first: quality heuristics, decontamination against held-out tasks (decontam.py),
then novelty against the pool and within the batch (the first of a near-duplicate group wins),
then instruction-following difficulty (ifd.py, when on) and the LLM judge on the survivors only. Every
reject carries `kind(detail)`; stats count them per kind. Candidate order is preserved.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import Config, FilterConfig
from ..records import Reject, Task
from ..store import ChunkStore, write_atomic
from . import quality

# A check: the tasks still alive -> one Reject (or None, kept) per task, in order. A check that
# needs no batch is a per-task function lifted by `each`.
Check = Callable[[list[Task]], list[Reject | None]]


def each(fn: Callable[[Task], Reject | None]) -> Check:
    return lambda tasks: [fn(t) for t in tasks]


def instruction_checks(cfg: FilterConfig, pool: list[Task], *, decontam=None, index=None) -> list[tuple[str, Check]]:
    """(name, check) in order, for instructions before any instance is written."""
    return [("quality", each(lambda t: quality.check_instruction(t.instruction, cfg.quality))),
            *_verifiable(cfg), *_pool_checks(cfg, pool, decontam, index)]


def _verifiable(cfg: FilterConfig) -> list[tuple[str, Check]]:
    """Where unverified tasks are rejected anyway, one no program could check is rejected before the
    teacher writes its instance (verify/kinds.py may_verify)."""
    if not (cfg.verify.enabled and cfg.verify.unverified == "reject"):
        return []
    from ..verify.kinds import may_verify

    return [("verifiable", each(lambda t: None if may_verify(t.instruction) else Reject("unverified", "open")))]


def instance_checks(cfg: FilterConfig, pool: list[Task], *, decontam=None, index=None, judge=None,
                    dropped: Counter | None = None) -> list[tuple[str, Check]]:
    """The instruction checks with the instance checks beside the heuristics, then IFD and the judge
    (the costly ones, on the survivors only). `dropped["instances"]` counts instances cut from kept tasks."""
    def heuristics(t: Task) -> Reject | None:
        why = quality.check_instruction(t.instruction, cfg.quality)
        if why is None:
            why, n = quality.check_instances(t, cfg.quality)
            if dropped is not None:
                dropped["instances"] += n
        return why

    checks = [("quality", each(heuristics)), *_pool_checks(cfg, pool, decontam, index)]
    if cfg.quality.ifd_model:
        from .ifd import check_ifd

        checks.append(("ifd", lambda ts: check_ifd(ts, cfg.quality.ifd_model, cfg.quality.ifd_max)))
    if cfg.quality.judge:
        if judge is None:
            raise ValueError("filter.quality.judge is on: filter_tasks needs a judge (quality.Judge with its teacher)")
        checks.append(("judge", judge))
    return checks


def _pool_checks(cfg: FilterConfig, pool: list[Task], decontam, index) -> list[tuple[str, Check]]:
    """Decontamination (a Decontaminator over the held-out tasks, if any), then novelty."""
    checks: list[tuple[str, Check]] = []
    if decontam is not None:
        checks.append(("decontam", lambda ts: decontam.check(ts, embed=index.embed if index is not None else None)))
    return checks + [("novelty", _novelty(pool, cfg, index))]


def run_checks(candidates: list[Task], checks: list[tuple[str, Check]]) -> tuple[list[Task], list[Task], Counter, dict]:
    """-> (accepted, rejected, rejects per kind, seconds per check). Each check sees the survivors
    of the ones before it; candidate order is preserved."""
    for task in candidates:
        task.reject = None
    alive, kinds, timings = list(candidates), Counter(), {}
    for name, check in checks:
        if not alive and timings:  # the first check (the heuristics) always runs: its time is in the stats
            break
        t0 = time.perf_counter()
        for task, why in zip(alive, check(alive)):
            if why is not None:
                task.reject = why
                kinds[why.kind] += 1
        timings[f"{name}_s"] = time.perf_counter() - t0
        alive = [t for t in alive if t.reject is None]
    return alive, [t for t in candidates if t.reject is not None], kinds, timings


def filter_tasks(candidates: list[Task], pool: list[Task], cfg: FilterConfig, *, cache_dir: Path | None = None,
                 judge=None, check_instances: bool = True, decontam=None, index=None) -> tuple[list[Task], list[Task], dict]:
    """-> (accepted, rejected, stats). check_instances=False: instruction-only candidates (before
    instances are written); the instance checks, IFD and the judge, which need outputs, are skipped.
    index: a PoolIndex kept by the caller between calls (generate: one per run), which then embeds
    and indexes only what `pool` gained since the last call; without one, the pool is indexed here.
    judge: a quality.Judge (built with its teacher), needed when filter.quality.judge is on."""
    if index is None and cfg.novelty.method == "embedding":
        from .embed import EmbeddingCache
        from .pool_index import PoolIndex

        index = PoolIndex(cfg.novelty, EmbeddingCache(cache_dir, cfg.novelty) if cache_dir is not None else None)
    dropped: Counter = Counter()
    checks = (instance_checks(cfg, pool, decontam=decontam, index=index, judge=judge, dropped=dropped)
              if check_instances else instruction_checks(cfg, pool, decontam=decontam, index=index))
    accepted, rejected, kinds, timings = run_checks(candidates, checks)
    novelty = dict(checks)["novelty"].timings  # embedding and searching, apart
    if "embed_s" in novelty:
        timings["novelty_s"] -= novelty["embed_s"]
    timings.update(novelty)
    stats = {
        "candidates": len(candidates), "accepted": len(accepted), "rejected": dict(kinds),
        "instances_dropped": dropped["instances"], "novelty_method": cfg.novelty.method,
        **{k: round(v, 3) for k, v in timings.items()},
    }
    return accepted, rejected, stats


class _novelty:
    """Novelty against the pool and the earlier survivors; sets scores["nn_sim"] (["rouge_l"] in paper mode)."""

    def __init__(self, pool: list[Task], cfg: FilterConfig, index):
        self.pool, self.cfg, self.index = pool, cfg.novelty, index
        self.timings: dict[str, float] = {}

    def __call__(self, tasks: list[Task]) -> list[Reject | None]:
        pool, ncfg = self.pool, self.cfg
        if ncfg.method == "rouge":
            from .rouge import rouge_filter

            keep, best, of = rouge_filter([t.instruction for t in tasks], [t.instruction for t in pool],
                                          ncfg.rouge_threshold)
            key, kind = "rouge_l", "rouge_duplicate"
        else:
            from .novelty import novelty_with_pool

            t0 = time.perf_counter()
            self.index.sync(pool)
            vecs = self.index.embed(tasks)
            self.timings["embed_s"] = time.perf_counter() - t0
            keep, best, of, index_kind = novelty_with_pool(vecs, self.index, ncfg)
            self.timings["index_" + index_kind] = 1
            key, kind = "nn_sim", "near_duplicate"
        out: list[Reject | None] = []
        for k, task in enumerate(tasks):
            if np.isfinite(best[k]):  # -inf: nothing before it to compare with
                task.scores[key] = round(float(best[k]), 4)
            other = None if keep[k] else (pool[of[k]] if of[k] < len(pool) else tasks[of[k] - len(pool)])
            out.append(Reject(kind, f"{best[k]:.2f}, of={other.id}") if other else None)
        return out


def filter_file(input: Path, output: Path, cfg: Config, pool: Path | None = None) -> dict:
    """`selfinstruct filter`: accepted -> output (JSONL), rejected -> <output>.rejected.jsonl,
    plus <output>.config.yaml and <output>.stats.json; the embedding cache goes to <output>.cache/."""
    from ..formats import read_tasks, write_tasks

    input, output = Path(input), Path(output)
    candidates = read_tasks(input)
    pool_tasks = read_tasks(pool) if pool else []
    teacher = judge = None
    if cfg.filter.quality.judge:
        from ..teachers import make_teacher

        teacher = make_teacher(cfg.teacher, cfg.run.seed)
        judge = quality.Judge(teacher, ChunkStore(output.with_name(output.name + ".judge.jsonl")), cfg)
    try:
        accepted, rejected, stats = filter_tasks(
            candidates, pool_tasks, cfg.filter, cache_dir=output.with_name(output.name + ".cache"), judge=judge)
    finally:
        if teacher is not None:
            teacher.close()
    stats.update(input=str(input), pool=str(pool) if pool else None, pool_size=len(pool_tasks))
    write_tasks(output, accepted)
    write_tasks(output.with_name(output.name + ".rejected.jsonl"), rejected)
    write_atomic(output.with_name(output.name + ".config.yaml"), cfg.to_yaml())
    write_atomic(output.with_name(output.name + ".stats.json"), json.dumps(stats, indent=1))
    print_summary(stats, output)
    return stats


def print_summary(stats: dict, output: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"filter: {stats['accepted']} of {stats['candidates']} accepted -> {escape(str(output))}")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    n = max(stats["candidates"], 1)
    for kind, count in sorted(stats["rejected"].items(), key=lambda kv: -kv[1]):
        table.add_row(kind, str(count), f"{count / n:.1%}")
    table.add_row("[bold]accepted[/]", str(stats["accepted"]), f"{stats['accepted'] / n:.1%}")
    Console(stderr=True).print(table)
