"""The pool's vectors and faiss index, kept for the whole run: a batch embeds and indexes only what
the pool gained since the last batch, so the filter's cost per batch does not grow with the pool.

The pool only ever grows at its end (seeds, then each round's accepted tasks in order), so `sync`
checks that the pool still starts with what is indexed and adds the rest; anything else (another
pool) rebuilds. The index is exact (IndexFlatIP) up to `approx_above` vectors; when the pool
crosses it, the approximate index is trained once on the pool so far and then only added to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import NoveltyConfig
from ..records import Task
from .embed import EmbeddingCache, Rows, embed_tasks
from .novelty import make_index, search_nearest

if TYPE_CHECKING:
    import faiss


class PoolIndex:
    def __init__(self, cfg: NoveltyConfig, cache: EmbeddingCache | None = None):
        self.cfg, self.cache = cfg, cache
        self.ids: list[str] = []
        self.rows = Rows()  # the pool's vectors, in pool order (the index's positions)
        self.index: faiss.Index | None = None
        self.kind = "flat"

    def __len__(self) -> int:
        return len(self.ids)

    def embed(self, tasks: list[Task]) -> np.ndarray:
        return embed_tasks(tasks, self.cfg, self.cache)

    def sync(self, pool: list[Task]) -> None:
        n = len(self.ids)
        if n and (len(pool) < n or pool[n - 1].id != self.ids[-1] or pool[0].id != self.ids[0]):
            self.ids, self.rows, self.index = [], Rows(), None  # not our pool grown: start over
            n = 0
        if len(pool) > n:
            self._add(pool[n:], self.embed(pool[n:]))

    def _add(self, tasks: list[Task], vecs: np.ndarray) -> None:
        n = len(self.ids)
        self.rows.append(vecs)
        self.ids += [t.id for t in tasks]
        size, all_vecs = len(self.ids), self.rows.view
        if self.index is None or (self.kind == "flat" and size > self.cfg.approx_above):
            self.index, self.kind = make_index(vecs.shape[1], size, self.cfg, train=all_vecs)
            n = 0  # a new index holds nothing yet
        for s in range(n, size, 65536):  # bounded temporary memory while adding a big pool
            self.index.add(np.ascontiguousarray(all_vecs[s : min(size, s + 65536)]))

    def nearest(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best similarity to the pool and the pool position of each query (-inf, -1: empty pool)."""
        if not self.ids:
            return np.full(len(q), -np.inf, np.float32), np.full(len(q), -1, np.int64)
        best = np.empty(len(q), np.float32)
        pos = np.empty(len(q), np.int64)
        for s in range(0, len(q), self.cfg.search_block):
            block = np.ascontiguousarray(q[s : s + self.cfg.search_block])
            best[s : s + len(block)], pos[s : s + len(block)] = search_nearest(
                self.index, self.kind, block, self.cfg.refine_k, lambda p: self.rows.view[p]
            )
        return best, pos
