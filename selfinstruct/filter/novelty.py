"""Embedding novelty: a candidate is new unless it is close to a pool task or to an earlier kept candidate.

Vectors are normalised sentence-transformers embeddings, so inner product = cosine similarity.
Candidates are processed in blocks (never one query at a time):
1. the block is searched against a faiss index of the pool plus the candidates kept so far;
2. the block is compared with itself (one matrix product), and a greedy pass in candidate order
   drops any member close to an earlier *kept* member of the block;
3. the block's kept members join the index.
This is exact and order-correct: candidate i is compared with the pool and with exactly the
candidates before it that were kept, as Self-Instruct's sequential loop does. The index is exact
(IndexFlatIP) up to `approx_above` vectors, then IVF (or HNSW): an approximate search, whose
recall on near duplicates is measured in tests/test_filter_novelty.py.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np

from ..config import NoveltyConfig


def make_index(dim: int, size: int, cfg: NoveltyConfig, train: np.ndarray | None = None):
    """Exact inner-product index, or an approximate one when the pool is big. -> (index, kind)."""
    import faiss

    index: faiss.Index  # HNSW or IVF below
    if size <= cfg.approx_above:
        return faiss.IndexFlatIP(dim), "flat"
    if cfg.approx_index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.hnsw_ef_construction
        index.hnsw.efSearch = cfg.hnsw_ef_search
        return index, "hnsw"
    # IVF with an HNSW coarse quantizer: assigning a vector to one of thousands of lists is cheap.
    # ivf_pq scans 4-bit PQ codes (fast-scan SIMD, ~30x less memory traffic than raw floats); its
    # hits are re-ranked with the exact vectors by `search_nearest`, which reads them from the
    # caller's arrays rather than keeping a second copy inside the index.
    nlist = cfg.ivf_nlist or int(2 ** round(math.log2(4 * math.sqrt(size))))
    codes = f"PQ{dim // 8}x4fs" if cfg.approx_index == "ivf_pq" and dim % 8 == 0 else "Flat"
    index = faiss.index_factory(dim, f"IVF{nlist}_HNSW32,{codes}", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = 10
    rng = np.random.default_rng(0)
    assert train is not None  # every caller trains an approximate index on its vectors
    sample = train if len(train) <= 20 * nlist else train[rng.choice(len(train), 20 * nlist, replace=False)]
    index.train(np.ascontiguousarray(sample))
    ivf.nprobe = cfg.ivf_nprobe
    # The HNSW over centroids must find the true nearest lists, on add as on search.
    # cast: downcast_index returns the quantizer's own class (the HNSW32 above); its stub says Index
    quantizer = cast(faiss.IndexHNSW, faiss.downcast_index(ivf.quantizer))
    quantizer.hnsw.efSearch = max(cfg.hnsw_ef_search, 2 * cfg.ivf_nprobe)
    return index, "ivf_pq" if codes != "Flat" else "ivf"


def search_nearest(index, kind: str, q: np.ndarray, refine_k: int, vectors) -> tuple[np.ndarray, np.ndarray]:
    """Best similarity and index position of each query's nearest indexed vector (-1: none found).
    For ivf_pq, the refine_k approximate hits are re-scored exactly: `vectors(positions)` gives them."""
    if kind != "ivf_pq":
        dist, idx = index.search(q, 1)
        return np.where(idx[:, 0] >= 0, dist[:, 0], -np.inf).astype(np.float32), idx[:, 0]
    _, idx = index.search(q, refine_k)
    sims = np.einsum("bd,bkd->bk", q, vectors(np.maximum(idx, 0)))
    sims[idx < 0] = -np.inf
    j = sims.argmax(axis=1)
    rows = np.arange(len(q))
    return sims[rows, j], np.where(idx[rows, j] >= 0, idx[rows, j], -1)


def _greedy_block(sims: np.ndarray, kept: np.ndarray, threshold: float) -> None:
    """In place: clears kept[i] when an earlier kept member of the block is at >= threshold."""
    hits = np.tril(sims >= threshold, -1)
    for i in np.flatnonzero(hits.any(axis=1) & kept):
        if (hits[i, :i] & kept[:i]).any():
            kept[i] = False


def novelty_filter(cand: np.ndarray, pool: np.ndarray, cfg: NoveltyConfig):
    """-> (keep bool[m], max similarity float32[m], of int64[m], index kind).

    `of` points at the most similar earlier item: < len(pool) is a pool row, else len(pool) + a
    candidate row; -1 when there was nothing to compare with (empty pool, first candidate).
    """
    m, npool = len(cand), len(pool)
    dim = cand.shape[1] if m else (pool.shape[1] if npool else 384)
    index, kind = make_index(dim, npool + m, cfg, train=pool if npool else cand)
    if npool:
        for s in range(0, npool, 65536):  # bounded temporary memory while adding a big pool
            index.add(pool[s : s + 65536])
    labels = np.empty(npool + m, dtype=np.int64)  # index position -> pool row or npool + candidate row
    labels[:npool] = np.arange(npool)
    ntotal = npool

    def vectors(pos: np.ndarray) -> np.ndarray:
        lab = labels[pos]
        out = np.empty(pos.shape + (dim,), dtype=np.float32)
        in_pool = lab < npool
        out[in_pool] = pool[lab[in_pool]]
        out[~in_pool] = cand[lab[~in_pool] - npool]
        return out

    keep = np.ones(m, dtype=bool)
    best = np.full(m, -np.inf, dtype=np.float32)
    of = np.full(m, -1, dtype=np.int64)
    for s in range(0, m, cfg.search_block):
        q = cand[s : s + cfg.search_block]
        e = s + len(q)
        if index.ntotal:
            sim, pos = search_nearest(index, kind, q, cfg.refine_k, vectors)
            best[s:e] = sim
            of[s:e] = np.where(pos >= 0, labels[np.maximum(pos, 0)], -1)
        k = keep[s:e]
        k &= ~(best[s:e] >= cfg.threshold)
        sims = q @ q.T
        _greedy_block(sims, k, cfg.threshold)
        # Within the block, the most similar earlier *kept* member (what the decision looked at).
        masked = np.where(np.tril(np.ones_like(sims, dtype=bool), -1) & k[None, :], sims, -np.inf)
        j = masked.argmax(axis=1)
        inner = masked[np.arange(len(q)), j]
        closer = inner > best[s:e]
        best[s:e] = np.where(closer, inner, best[s:e])
        of[s:e] = np.where(closer, npool + s + j, of[s:e])
        if k.any():
            index.add(np.ascontiguousarray(q[k]))
            labels[ntotal : ntotal + int(k.sum())] = np.flatnonzero(k) + npool + s
            ntotal += int(k.sum())
    return keep, best, of, kind


def novelty_with_pool(cand: np.ndarray, pool, cfg: NoveltyConfig):
    """novelty_filter against a filter.pool_index.PoolIndex that is kept between calls (the pool is
    not re-indexed per call). The same decisions: the pool is searched first; the candidates it does
    not reject are compared with the earlier kept ones; a candidate the pool rejects still reports
    the closest earlier kept candidate when that is closer. -> as novelty_filter."""
    npool = len(pool)
    best, of = pool.nearest(cand)
    keep = ~(best >= cfg.threshold)
    alive, by_pool = np.flatnonzero(keep), np.flatnonzero(~keep)
    inner_keep, inner_best, inner_of, kind = novelty_filter(cand[alive], cand[:0], cfg)
    keep[alive] = inner_keep
    closer = inner_best > best[alive]
    best[alive] = np.where(closer, inner_best, best[alive])
    of[alive] = np.where(closer, npool + alive[np.maximum(inner_of, 0)], of[alive])
    kept = np.flatnonzero(keep)
    for s in range(0, len(by_pool), cfg.search_block):
        rows = by_pool[s : s + cfg.search_block]
        sims = cand[rows] @ cand[kept].T
        sims[kept[None, :] >= rows[:, None]] = -np.inf  # only candidates before it
        if not sims.size:
            continue
        j = sims.argmax(axis=1)
        top = sims[np.arange(len(rows)), j]
        closer = top > best[rows]
        best[rows] = np.where(closer, top, best[rows])
        of[rows] = np.where(closer, npool + kept[j], of[rows])
    return keep, best, of, pool.kind if npool else kind
