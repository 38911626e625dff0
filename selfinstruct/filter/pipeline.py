"""The filter: candidates in, (accepted, rejected with a reason, stats) out.

`Filter(cfg)` is built once (generate: once per run) and owns what its checks share: the pool index
and its embedding cache, the held-out tasks' decontamination. Its checks are the classes filter.checks
names (filter/check.py, filter/checks/), in that order, cheapest first by default: the quality
heuristics, decontamination against held-out tasks, novelty against the pool and within the batch (the
first of a near-duplicate group wins), then instruction-following difficulty, the LLM judge and the
verifiers on the survivors only. `instructions()` runs the checks of the instructions stage (before any
instance is written), `tasks()` those of the tasks stage. Every reject carries `kind(detail)`; stats
count them per kind. Candidate order is preserved.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import Config, FilterConfig, packaged
from ..records import Task
from ..store import ChunkStore, write_atomic
from .check import Batch, Check, entry

if TYPE_CHECKING:
    from ..generate.steps import StepContext


class Filter:
    """heldout: tasks no candidate may copy; cache_dir: where the embedding cache lives (a run's
    embeddings folder), none to keep vectors in memory only."""

    def __init__(self, cfg: FilterConfig, *, cache_dir: Path | None = None, heldout: list[Task] | None = None):
        self.cfg, self.index, self.decontam = cfg, None, None
        if cfg.novelty.method == "embedding":
            from .embed import EmbeddingCache
            from .pool_index import PoolIndex

            self.index = PoolIndex(cfg.novelty, EmbeddingCache(cache_dir, cfg.novelty) if cache_dir else None)
        if heldout:
            from .decontam import Decontaminator

            self.decontam = Decontaminator(heldout, cfg.novelty)
        self.checks: list[Check] = [cls(self, options) for cls, options in map(entry, cfg.checks)]

    def embed(self, tasks: list[Task]) -> np.ndarray:
        """The novelty embedder's vectors, from the pool index's cache where there is one."""
        if self.index is not None:
            return self.index.embed(tasks)
        from .embed import embed_tasks

        return embed_tasks(tasks, self.cfg.novelty)

    def instructions(self, candidates: list[Task], pool: list[Task]) -> tuple[list[Task], list[Task], dict]:
        """Instruction-only candidates, before instances are written: the checks that need outputs are
        left out. -> (accepted, rejected, stats)."""
        return self.run(candidates, Batch("instructions", pool))

    def tasks(
        self,
        candidates: list[Task],
        pool: list[Task],
        ctx: StepContext | None = None,
        store: Callable[[str], ChunkStore] | None = None,
        start: Callable[[str, int], None] | None = None,
    ) -> tuple[list[Task], list[Task], dict]:
        """Tasks with their instances. ctx and store: the round whose teacher the judge and the verifiers
        ask, and its stores for their answers; start(step, n): a progress bar for such a step."""
        batch = Batch("tasks", pool, ctx, store)
        if start is not None:
            batch.start = start
        return self.run(candidates, batch)

    def run(self, candidates: list[Task], batch: Batch) -> tuple[list[Task], list[Task], dict]:
        checks = [c for c in self.checks if c.on(batch)]
        accepted, rejected, kinds, timings = run_checks(candidates, checks, batch)
        return (
            accepted,
            rejected,
            {
                "candidates": len(candidates),
                "accepted": len(accepted),
                "rejected": dict(kinds),
                "instances_dropped": 0,
                "novelty_method": self.cfg.novelty.method,
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in {**batch.stats, **timings}.items()},
            },
        )


def run_checks(
    candidates: list[Task], checks: list[Check], batch: Batch
) -> tuple[list[Task], list[Task], Counter, dict]:
    """-> (accepted, rejected, rejects per kind, seconds per check). Each check sees the survivors
    of the ones before it, and may put a new record in a task's place; candidate order is preserved."""
    for task in candidates:
        task.reject = None
    slots = list(candidates)
    kinds: Counter[str] = Counter()
    timings: dict[str, float] = {}
    alive = list(range(len(slots)))
    for check in checks:
        if not alive and timings:  # the first check (the heuristics) always runs: its time is in the stats
            break
        tasks, t0, inner = [slots[i] for i in alive], time.perf_counter(), _seconds(batch.stats)
        for i, task, why in zip(alive, tasks, check(tasks, batch), strict=True):
            slots[i] = task
            if why is not None:
                task.reject = why
                kinds[why.kind] += 1
        # what the check timed apart (novelty's embedding) is not counted twice
        timings[f"{check.name}_s"] = time.perf_counter() - t0 - (_seconds(batch.stats) - inner)
        alive = [i for i in alive if slots[i].reject is None]
    return [slots[i] for i in alive], [t for t in slots if t.reject is not None], kinds, timings


def _seconds(stats: dict) -> float:
    return sum(v for k, v in stats.items() if k.endswith("_s"))


def filter_tasks(
    candidates: list[Task],
    pool: list[Task],
    cfg: FilterConfig,
    *,
    cache_dir: Path | None = None,
    check_instances: bool = True,
    heldout: list[Task] | None = None,
) -> tuple[list[Task], list[Task], dict]:
    """One filter call with a filter of its own. -> (accepted, rejected, stats). check_instances=False:
    instruction-only candidates (Filter.instructions). No judge or verifier: they need a round's teacher."""
    filt = Filter(cfg, cache_dir=cache_dir, heldout=heldout)
    return filt.tasks(candidates, pool) if check_instances else filt.instructions(candidates, pool)


def filter_file(input: Path, output: Path, cfg: Config, pool: Path | None = None) -> dict:
    """`selfinstruct filter`: accepted -> output (JSONL), rejected -> <output>.rejected.jsonl,
    plus <output>.config.yaml and <output>.stats.json; the embedding cache goes to <output>.cache/.
    No verify step: its tests and programs are written inside generate, by the round's teacher."""
    from ..formats import read_tasks, write_tasks

    input, output = Path(input), Path(output)
    candidates = read_tasks(input)
    pool = packaged(pool) if pool else None  # seeds/seed_tasks.jsonl: the package's seeds, from any folder
    pool_tasks = read_tasks(pool) if pool else []
    checks = [c for c in cfg.filter.checks if entry(c)[0].name != "verify"]
    filt = Filter(cfg.filter.model_copy(update={"checks": checks}), cache_dir=output.with_name(output.name + ".cache"))
    teacher = ctx = None
    if cfg.filter.quality.judge:
        from ..generate.steps import StepContext
        from ..teachers import make_teacher

        teacher = make_teacher(cfg.teacher, cfg.run.seed)
        ctx = StepContext(cfg, teacher, 0, [], [])
    try:
        accepted, rejected, stats = filt.tasks(
            candidates, pool_tasks, ctx, store=lambda step: ChunkStore(output.with_name(f"{output.name}.{step}.jsonl"))
        )
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
