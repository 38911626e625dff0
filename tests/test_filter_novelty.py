"""Embedding novelty with the real embedded MiniLM and real faiss indexes."""

from __future__ import annotations

import numpy as np
import pytest

from selfinstruct.config import NoveltyConfig
from selfinstruct.filter.embed import EmbeddingCache, embed_tasks, embedder_for
from selfinstruct.filter.novelty import novelty_filter, search_nearest
from selfinstruct.records import Task

PARAPHRASES = [
    ("Write a poem about the ocean.", "Compose a poem about the sea."),
    ("Translate this sentence into French.", "Translate the following sentence to French."),
    ("Give me three tips for staying healthy.", "What are three ways to stay healthy?"),
    ("Summarize the article in two sentences.", "Write a two-sentence summary of the article."),
]
DIFFERENT = [
    "Explain how a car engine works.",
    "List five countries in South America.",
    "Convert 100 degrees Fahrenheit to Celsius.",
    "Write a SQL query that counts the orders per customer.",
    "Suggest a name for a bakery.",
]


def _vecs(texts: list[str]) -> np.ndarray:
    return embedder_for(NoveltyConfig()).encode(texts)


def test_paraphrases_of_the_pool_are_caught_different_tasks_kept():
    cfg = NoveltyConfig()
    pool = [a for a, _ in PARAPHRASES]
    cands = [b for _, b in PARAPHRASES] + DIFFERENT
    keep, best, of, kind = novelty_filter(_vecs(cands), _vecs(pool), cfg)
    assert kind == "flat"
    assert keep.tolist() == [False] * len(PARAPHRASES) + [True] * len(DIFFERENT)
    assert of[: len(PARAPHRASES)].tolist() == list(range(len(PARAPHRASES)))  # each caught by its own twin
    assert (best[: len(PARAPHRASES)] >= cfg.threshold).all() and (best[len(PARAPHRASES) :] < 0.6).all()


def test_within_batch_the_first_of_a_group_wins():
    cands = [
        "Compose a poem about the sea.",
        "Explain how a car engine works.",
        "Write a poem about the ocean.",
        "Write a poem about the sea.",
        "Suggest a name for a bakery.",
    ]
    keep, best, of, _ = novelty_filter(_vecs(cands), np.zeros((0, 384), np.float32), NoveltyConfig())
    assert keep.tolist() == [True, True, False, False, True]
    assert of[2] == 0 and of[3] == 0
    assert of[0] == -1 and not np.isfinite(best[0])  # nothing before it to compare with


def _brute_force(cand: np.ndarray, pool: np.ndarray, thr: float):
    """Self-Instruct's sequential loop, one candidate at a time: the reference for the blocked version."""
    kept_vecs, keep, best = list(pool), [], []
    for v in cand:
        sims = np.array(kept_vecs) @ v if kept_vecs else np.array([-np.inf])
        best.append(sims.max())
        keep.append(sims.max() < thr)
        if keep[-1]:
            kept_vecs.append(v)
    return np.array(keep), np.array(best, dtype=np.float32)


def _clustered(n: int, dim: int, rng, centres: int = 50, noise: float = 0.35) -> np.ndarray:
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim) * 8
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_blocked_search_is_exact_and_order_correct():
    rng = np.random.default_rng(0)
    cand, pool = _clustered(700, 32, rng), _clustered(300, 32, rng)
    cfg = NoveltyConfig(threshold=0.8, search_block=64)  # many blocks, many duplicates across them
    keep, best, _, _ = novelty_filter(cand, pool, cfg)
    ref_keep, ref_best = _brute_force(cand, pool, 0.8)
    assert 0.1 < keep.mean() < 0.9
    assert (keep == ref_keep).all()
    np.testing.assert_allclose(best, ref_best, atol=1e-5)


def _recall_at_1(base: np.ndarray, queries: np.ndarray, approx: str) -> float:
    import faiss

    from selfinstruct.filter.novelty import make_index

    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    _, truth = exact.search(queries, 1)
    index, kind = make_index(base.shape[1], len(base), NoveltyConfig(approx_above=0, approx_index=approx), train=base)
    assert kind == approx
    index.add(base)
    _, got = search_nearest(index, kind, queries, NoveltyConfig().refine_k, lambda pos: base[pos])
    return float((got == truth[:, 0]).mean())


# ivf_pq's training (k-means for the lists and the PQ codebooks) took 5-60 s on the shared 2-core box.
@pytest.mark.parametrize("approx", [pytest.param("ivf_pq", marks=pytest.mark.slow), "ivf", "hnsw"])
def test_approximate_index_recall_on_near_duplicates(approx):
    """Shaped like sentence embeddings: loose topics (neighbours at cosine ~0.65 in 384-d) and queries that
    are near duplicates (cosine ~0.93) of a base vector: the case the filter must not miss."""
    rng = np.random.default_rng(1)
    dim = 384
    topics = rng.standard_normal((400, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
    base = topics[rng.integers(0, 400, 10_000)] + 0.04 * rng.standard_normal((10_000, dim), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[rng.choice(len(base), 500, replace=False)] + 0.02 * rng.standard_normal((500, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = _recall_at_1(base, queries, approx)
    assert recall >= 0.95, recall


@pytest.mark.parametrize("approx", ["ivf", "hnsw"])
def test_approximate_index_recall_in_tight_clusters(approx):
    """The harder case for plain nearest-neighbour search: ~100 members per tight cluster, the
    query's true neighbour only slightly closer than the rest (PQ codes cannot rank these; ivf_pq is
    meant for duplicate detection, where every such member is over the threshold anyway)."""
    rng = np.random.default_rng(1)
    base = _clustered(20_000, 64, rng, centres=200)
    queries = base[rng.choice(len(base), 500, replace=False)] + 0.05 * rng.standard_normal((500, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = _recall_at_1(base, queries, approx)
    assert recall >= 0.95, recall


def test_approximate_filter_agrees_with_exact():
    rng = np.random.default_rng(2)
    cand, pool = _clustered(1500, 64, rng, centres=100), _clustered(2500, 64, rng, centres=100)
    exact = novelty_filter(cand, pool, NoveltyConfig(threshold=0.9))
    approx = novelty_filter(cand, pool, NoveltyConfig(threshold=0.9, approx_above=0))
    assert approx[3] == "ivf_pq"
    assert (exact[0] == approx[0]).mean() >= 0.98


def test_embedding_cache_is_reused(tmp_path):
    cfg = NoveltyConfig()
    tasks = [Task(t) for t in DIFFERENT]
    embedder = embedder_for(cfg)
    before = embedder.encoded
    first = embed_tasks(tasks, cfg, EmbeddingCache(tmp_path, cfg))
    assert embedder.encoded - before == len(tasks)
    more = tasks + [Task("Name three famous painters.")]
    second = embed_tasks(more, cfg, EmbeddingCache(tmp_path, cfg))  # a fresh process would load the file
    assert embedder.encoded - before == len(tasks) + 1  # only the new task was encoded
    np.testing.assert_array_equal(first, second[: len(tasks)])
    np.testing.assert_allclose(np.linalg.norm(second, axis=1), 1.0, atol=1e-5)
    # Each save wrote only what it added: a part of 5 vectors, then a part of 1.
    parts = sorted(EmbeddingCache(tmp_path, cfg).path.glob("*.npz"))
    assert [len(np.load(p)["keys"]) for p in parts] == [len(tasks), 1]
    # embed_input is another text, so another cache file: nothing stale is read back.
    other = NoveltyConfig(embed_input=True)
    assert EmbeddingCache(tmp_path, other).path != EmbeddingCache(tmp_path, cfg).path


def test_an_unreadable_cache_is_recomputed_not_fatal(tmp_path):
    cfg = NoveltyConfig()
    cache = EmbeddingCache(tmp_path, cfg)
    cache.path.mkdir(parents=True)
    (cache.path / "000000.npz").write_bytes(b"PK\x03\x04 torn")
    again = EmbeddingCache(tmp_path, cfg)
    assert again.keys == [] and again.lookup(["x"]) == [None]
    again.add(["x"], np.ones((1, 4), np.float32))  # a new part beside the torn one, not over it
    assert EmbeddingCache(tmp_path, cfg).lookup(["x"]) == [0]


def test_a_cache_saved_as_one_file_by_an_older_run_is_read(tmp_path):
    cfg = NoveltyConfig()
    cache = EmbeddingCache(tmp_path, cfg)
    legacy = tmp_path / (cache.path.name + ".npz")
    np.savez(legacy, keys=np.array(["a", "b"]), vecs=np.eye(2, dtype=np.float32))
    again = EmbeddingCache(tmp_path, cfg)
    assert again.lookup(["b", "c"]) == [1, None] and again.vecs.shape == (2, 2)


def _family_texts() -> list[str]:
    import random

    rng = random.Random(0)
    forms, verbs = ["poem", "story", "essay", "tweet", "song"], ["Write", "Compose", "Create", "Draft"]
    topics = ["the ocean", "the sea", "autumn", "fall leaves", "a city at night", "trains", "old trains"]
    texts = [f"{rng.choice(verbs)} a {rng.choice(forms)} about {rng.choice(topics)}." for _ in range(300)]
    return list(dict.fromkeys(texts + [a for pair in PARAPHRASES for a in pair] + DIFFERENT))


def _same_decisions(a: np.ndarray, b: np.ndarray) -> None:
    cfg = NoveltyConfig()
    keep_a, keep_b = novelty_filter(a, a[:0], cfg)[0], novelty_filter(b, b[:0], cfg)[0]
    assert (keep_a == keep_b).all() and 0 < keep_a.sum() < len(a)  # some kept, some dropped


def test_onnx_backend_gives_the_sentence_transformers_vectors():
    texts = _family_texts()
    ref = embedder_for(NoveltyConfig(embed_workers=1, embed_backend="torch")).encode(texts)
    onnx = embedder_for(NoveltyConfig(embed_workers=1))
    assert onnx.backend == "onnx"  # the default on CPU for MiniLM's plain layout
    got = onnx.encode(texts)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    _same_decisions(got, ref)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_parallel_embedding_gives_the_single_process_vectors_and_decisions(backend):
    """Two worker processes (one thread each) vs one process: same vectors to float noise, same keeps."""
    texts = _family_texts()
    one = embedder_for(NoveltyConfig(embed_workers=1, embed_backend=backend)).encode(texts)
    two_cfg = NoveltyConfig(embed_workers=2, embed_parallel_above=10, batch_size=16, embed_backend=backend)
    two = embedder_for(two_cfg).encode(texts)
    assert embedder_for(two_cfg).workers == 2 and embedder_for(two_cfg)._pool is not None  # really in parallel
    np.testing.assert_allclose(two, one, atol=2e-5)
    _same_decisions(two, one)


def test_a_missing_onnx_export_is_redone_not_fatal(tmp_path, monkeypatch):
    from pathlib import Path

    from selfinstruct.filter import embed_onnx
    from selfinstruct.filter.embed import Embedder

    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path))  # a cache of our own: exported here, from scratch
    first = Embedder(NoveltyConfig().embedder, workers=1)
    assert first.backend == "onnx" and str(tmp_path) in first.onnx_spec["onnx"]
    Path(first.onnx_spec["onnx"]).unlink()  # e.g. a cache cleaned by hand
    assert embed_onnx.cached_spec(first.name) is None
    again = Embedder(NoveltyConfig().embedder, workers=1)
    assert again.backend == "onnx" and Path(again.onnx_spec["onnx"]).is_file()
    np.testing.assert_allclose(again.encode(DIFFERENT), _vecs(DIFFERENT), atol=1e-5)
