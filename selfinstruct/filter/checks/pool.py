"""Checks against other tasks: the held-out tasks (decontamination) and the pool (novelty). Both use
the filter's pool index, which embeds and indexes only what the pool gained since the last batch."""

from __future__ import annotations

import time

import numpy as np

from ...records import Reject, Task
from ..check import Batch, Check, register


@register
class Decontam(Check):
    """No task may copy a held-out task (filter/decontam.py); on where the filter has held-out tasks."""

    name = "decontam"
    stages = ("instructions", "tasks")

    def on(self, batch: Batch) -> bool:
        return super().on(batch) and self.filter.decontam is not None

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        assert self.filter.decontam is not None  # on() runs this check only where there is one
        return self.filter.decontam.check(tasks, embed=self.filter.embed)


@register
class Novelty(Check):
    """New against the pool and the earlier survivors of the batch (the first of a near-duplicate group
    wins); sets scores["nn_sim"] (["rouge_l"] with filter.novelty.method: rouge, the paper's)."""

    name = "novelty"
    stages = ("instructions", "tasks")

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        pool, ncfg = batch.pool, self.cfg.novelty
        if ncfg.method == "rouge":
            from ..rouge import rouge_filter

            keep, best, of = rouge_filter(
                [t.instruction for t in tasks], [t.instruction for t in pool], ncfg.rouge_threshold
            )
            key, kind = "rouge_l", "rouge_duplicate"
        else:
            from ..novelty import novelty_with_pool

            t0, index = time.perf_counter(), self.filter.index
            assert index is not None  # the filter builds it for the embedding method
            index.sync(pool)
            vecs = index.embed(tasks)
            batch.stats["embed_s"] = time.perf_counter() - t0  # embedding and searching, apart
            keep, best, of, index_kind = novelty_with_pool(vecs, index, ncfg)
            batch.stats["index_" + index_kind] = 1
            key, kind = "nn_sim", "near_duplicate"
        out: list[Reject | None] = []
        for k, task in enumerate(tasks):
            if np.isfinite(best[k]):  # -inf: nothing before it to compare with
                task.scores[key] = round(float(best[k]), 4)
            other = None if keep[k] else (pool[of[k]] if of[k] < len(pool) else tasks[of[k] - len(pool)])
            out.append(Reject(kind, f"{best[k]:.2f}, of={other.id}") if other else None)
        return out
