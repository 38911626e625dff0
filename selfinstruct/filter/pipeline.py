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

import numpy as np

from ..config import Config, FilterConfig
from ..records import Task
from ..store import ChunkStore, write_atomic
from . import quality


def filter_tasks(candidates: list[Task], pool: list[Task], cfg: FilterConfig, *, cache_dir: Path | None = None,
                 teacher=None, judge_store: ChunkStore | None = None, chunk_size: int = 64,
                 check_instances: bool = True, prompt_style: str | None = None,
                 decontam=None, index=None) -> tuple[list[Task], list[Task], dict]:
    """-> (accepted, rejected, stats). check_instances=False: instruction-only candidates (before
    instances are written); the instance checks and the judge, which needs outputs, are skipped.
    index: a PoolIndex kept by the caller between calls (generate: one per run), which then embeds
    and indexes only what `pool` gained since the last call; without one, the pool is indexed here."""
    timings: dict[str, float] = {}
    if index is None and cfg.novelty.method == "embedding":
        from .embed import EmbeddingCache
        from .pool_index import PoolIndex

        index = PoolIndex(cfg.novelty, EmbeddingCache(cache_dir, cfg.novelty) if cache_dir is not None else None)
    reasons: dict[int, str] = {}
    dropped = 0
    t0 = time.perf_counter()
    for i, task in enumerate(candidates):
        task.reject_reason = None
        why = quality.check_instruction(task.instruction, cfg.quality)
        if why is None and check_instances:
            why, n = quality.check_instances(task)
            dropped += n
        if why:
            reasons[i] = why
    timings["quality_s"] = time.perf_counter() - t0

    if decontam is not None:  # a Decontaminator: held-out tasks no candidate may copy
        alive = [i for i in range(len(candidates)) if i not in reasons]
        t0 = time.perf_counter()
        found = decontam.check([candidates[i] for i in alive], embed=index.embed if index is not None else None)
        reasons.update({alive[k]: why for k, why in found.items()})
        timings["decontam_s"] = time.perf_counter() - t0

    alive = [i for i in range(len(candidates)) if i not in reasons]
    extra = _novelty([candidates[i] for i in alive], pool, cfg, index, timings)
    reasons.update({alive[k]: why for k, why in extra.items()})

    if cfg.quality.ifd_model and check_instances:
        from .ifd import check_ifd

        alive = [i for i in range(len(candidates)) if i not in reasons]
        t0 = time.perf_counter()
        found = check_ifd([candidates[i] for i in alive], cfg.quality.ifd_model, cfg.quality.ifd_max)
        reasons.update({alive[k]: why for k, why in found.items()})
        timings["ifd_s"] = time.perf_counter() - t0

    if cfg.quality.judge and check_instances:
        alive = [i for i in range(len(candidates)) if i not in reasons]
        t0 = time.perf_counter()
        verdicts = _judge([candidates[i] for i in alive], cfg, teacher, judge_store, chunk_size, prompt_style)
        reasons.update({i: why for i, why in zip(alive, verdicts) if why})
        timings["judge_s"] = time.perf_counter() - t0

    accepted, rejected = [], []
    for i, task in enumerate(candidates):
        task.reject_reason = reasons.get(i)
        (rejected if task.reject_reason else accepted).append(task)
    stats = {
        "candidates": len(candidates), "accepted": len(accepted),
        "rejected": dict(Counter(t.reject_reason.split("(")[0] for t in rejected)),
        "instances_dropped": dropped, "novelty_method": cfg.novelty.method,
        **{k: round(v, 3) for k, v in timings.items()},
    }
    return accepted, rejected, stats


def _novelty(tasks: list[Task], pool: list[Task], cfg: FilterConfig, index, timings: dict[str, float]) -> dict[int, str]:
    """Reject reasons by position in `tasks`; sets scores["nn_sim"] (or ["rouge_l"] in paper mode)."""
    if not tasks:
        return {}
    ncfg = cfg.novelty
    if ncfg.method == "rouge":
        from .rouge import rouge_filter

        t0 = time.perf_counter()
        keep, best, of = rouge_filter([t.instruction for t in tasks], [t.instruction for t in pool],
                                      ncfg.rouge_threshold)
        timings["novelty_s"] = time.perf_counter() - t0
        key, kind = "rouge_l", "rouge_duplicate"
    else:
        from .novelty import novelty_with_pool

        t0 = time.perf_counter()
        index.sync(pool)
        vecs = index.embed(tasks)
        timings["embed_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        keep, best, of, index_kind = novelty_with_pool(vecs, index, ncfg)
        timings["novelty_s"] = time.perf_counter() - t0
        timings["index_" + index_kind] = 1
        key, kind = "nn_sim", "near_duplicate"
    reasons = {}
    for k, task in enumerate(tasks):
        if np.isfinite(best[k]):  # -inf: nothing before it to compare with
            task.scores[key] = round(float(best[k]), 4)
        if not keep[k]:
            other = pool[of[k]] if of[k] < len(pool) else tasks[of[k] - len(pool)]
            reasons[k] = f"{kind}({best[k]:.2f}, of={other.id})"
    return reasons


def _judge(tasks: list[Task], cfg: FilterConfig, teacher, store: ChunkStore | None, chunk_size: int,
           prompt_style: str | None) -> list[str | None]:
    if not tasks:
        return []
    if teacher is None or store is None:
        raise ValueError("filter.quality.judge is on: filter_tasks needs a teacher and a judge_store")
    # The prompt must match the model: a base model continues text, a chat model answers a turn.
    style = (prompt_style or getattr(teacher, "prompt_style", None)
             or getattr(getattr(teacher, "cfg", None), "prompt_style", None) or "completion")
    return quality.judge(tasks, teacher, store, chunk_size, cfg.quality, style)


def filter_file(input: Path, output: Path, cfg: Config, pool: Path | None = None) -> dict:
    """`selfinstruct filter`: accepted -> output (JSONL), rejected -> <output>.rejected.jsonl,
    plus <output>.config.yaml and <output>.stats.json; the embedding cache goes to <output>.cache/."""
    from ..formats import read_tasks, write_tasks

    input, output = Path(input), Path(output)
    candidates = read_tasks(input)
    pool_tasks = read_tasks(pool) if pool else []
    teacher = store = None
    if cfg.filter.quality.judge:
        from ..teachers import make_teacher

        teacher = make_teacher(cfg.teacher, cfg.run.seed)
        store = ChunkStore(output.with_name(output.name + ".judge.jsonl"))
    try:
        accepted, rejected, stats = filter_tasks(
            candidates, pool_tasks, cfg.filter, cache_dir=output.with_name(output.name + ".cache"),
            teacher=teacher, judge_store=store, chunk_size=cfg.teacher.chunk_size,
            prompt_style=cfg.teacher.style("judge"))
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
    from rich.table import Table

    table = Table(title=f"filter: {stats['accepted']} of {stats['candidates']} accepted -> {output}")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    n = max(stats["candidates"], 1)
    for kind, count in sorted(stats["rejected"].items(), key=lambda kv: -kv[1]):
        table.add_row(kind, str(count), f"{count / n:.1%}")
    table.add_row("[bold]accepted[/]", str(stats["accepted"]), f"{stats['accepted'] / n:.1%}")
    Console(stderr=True).print(table)
