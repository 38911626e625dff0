"""Filter at scale: embedding novelty on 52K instructions vs Self-Instruct's rouge-score filter,
paper mode vs rouge-score, and 1M candidates vs a 1M pool (vectors given).

    .venv/bin/python bench/filter_scale.py            # full run (~15 min on 2 cores)
    .venv/bin/python bench/filter_scale.py --quick    # small sizes, a minute or two

The 52K instructions are synthetic (bench/synth.py): mostly distinct tasks over 30 families, 15% of them
paraphrases or edits of an earlier one.
The rouge-score baseline is O(n^2); it is timed on a sample and extrapolated (see bench_rouge).
The machine is shared: timings are noisy. Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

from selfinstruct.synth import synth_instructions  # noqa: E402
from selfinstruct.testing import PUBLIC_SEEDS  # noqa: E402


def _seed_pool() -> list[str]:
    return [json.loads(x)["instruction"] for x in PUBLIC_SEEDS.read_text().splitlines() if x.strip()]


def bench_52k(n: int, workers: int) -> dict:
    import torch

    from selfinstruct.config import NoveltyConfig
    from selfinstruct.filter.embed import embed_tasks, embedder_for
    from selfinstruct.filter.novelty import novelty_filter
    from selfinstruct.records import Task

    torch.set_num_threads(2)
    cfg = NoveltyConfig(**({"embed_workers": workers} if workers else {}))
    texts, pool = synth_instructions(n), _seed_pool()
    tasks = [Task(x) for x in pool + texts]
    t0 = time.perf_counter()
    embedder = embedder_for(cfg)  # loading the model is counted; the workers start inside embed_tasks
    vecs = embed_tasks(tasks, cfg)
    t_embed = time.perf_counter() - t0
    keep, _, _, kind = novelty_filter(vecs[len(pool) :], vecs[: len(pool)], cfg)
    total = time.perf_counter() - t0
    print(
        f"novelty {n:,} ({len(set(texts)):,} distinct) vs pool {len(pool)}: {total:.1f} s wall "
        f"(embed {t_embed:.1f} s, search+dedupe {total - t_embed:.1f} s, index {kind}); kept {keep.sum():,} "
        f"({keep.mean():.0%}); {embedder.workers} embedding process(es)"
    )
    floor = _embed_floor(list(dict.fromkeys(texts)), embedder)
    return {"texts": texts, "pool": pool, "seconds": total, "kept": int(keep.sum()), "floor_s": floor}


def _embed_floor(texts: list[str], embedder) -> float:
    """Seconds the encoder's matmuls alone need at this machine's fp32 matmul peak (measured now, on
    2 threads): no fp32 embedder of these texts can be faster than this here."""
    import torch

    tokens = sum(len(x) for x in embedder.model.tokenizer(texts)["input_ids"])
    params = sum(
        p.numel() for name, p in embedder.model.named_parameters() if p.dim() == 2 and "embeddings" not in name
    )
    a, b = torch.randn(1024, 384), torch.randn(384, 1536)
    a @ b
    t0 = time.perf_counter()
    for _ in range(50):
        a @ b
    peak = 2 * 1024 * 384 * 1536 * 50 / (time.perf_counter() - t0)
    floor = 2 * params * tokens / peak
    print(
        f"floor: {tokens:,} tokens x {params / 1e6:.1f}M matmul weights at {peak / 1e9:.0f} GFLOP/s (fp32 peak "
        f"here) = {floor:.0f} s of embedding at the very least"
    )
    return floor


def _comparisons(kept: np.ndarray, npool: int) -> float:
    """Pairs Self-Instruct's loop scores: candidate i against the pool and every earlier kept candidate."""
    kept_before = np.concatenate([[0], np.cumsum(kept[:-1], dtype=np.int64)])
    return float(np.sum(npool + kept_before))


def bench_rouge(texts: list[str], pool: list[str], sample: int, n: int) -> dict:
    """rouge-score, Self-Instruct's way, on a sample: seconds per comparison. Paper mode makes the same
    decisions, so running it on all n gives the exact number of comparisons the baseline would make
    there (acceptance falls as the pool grows; no rate is assumed). Baseline = comparisons x seconds per
    comparison / 2, crediting Self-Instruct's process pool a perfect split over the 2 cores."""
    from selfinstruct.filter.rouge import rouge_filter, rouge_score_filter

    cands = texts[:sample]
    rouge_filter(cands[:5], pool[:5])  # numba compiles (or loads its on-disk cache) once per process
    t0 = time.perf_counter()
    keep, best, _ = rouge_filter(cands, pool, 0.7)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_keep, ref_best = rouge_score_filter(cands, pool, 0.7)
    t_ref = time.perf_counter() - t0
    same = bool((keep == ref_keep).all() and np.array_equal(best, ref_best))
    per_pair = t_ref / _comparisons(ref_keep, len(pool))
    print(
        f"sample {sample:,} vs pool {len(pool)}: rouge-score {t_ref:.1f} s ({per_pair * 1e6:.1f} us a pair), "
        f"paper mode {t_fast:.3f} s ({t_ref / t_fast:.0f}x), same decisions and scores: {same}; "
        f"kept {ref_keep.mean():.0%}"
    )
    t0 = time.perf_counter()
    full_keep, _, _ = rouge_filter(texts, pool, 0.7)
    t_full = time.perf_counter() - t0
    pairs = _comparisons(full_keep, len(pool))
    est = pairs * per_pair / 2
    print(
        f"paper mode on all {n:,}: {t_full:.1f} s, kept {full_keep.mean():.0%} -> rouge-score would score "
        f"{pairs:.3g} pairs x {per_pair * 1e6:.1f} us / 2 processes = {est:.0f} s ({est / 3600:.1f} h)"
    )
    return {"paper_speedup": t_ref / t_fast, "same": same, "baseline_s": est, "paper_full_s": t_full}


def _structured(n: int, centres: np.ndarray, rng, noise: float) -> np.ndarray:
    """Unit vectors around topic centres, made in chunks so no full-size temporary is needed."""
    x = np.empty((n, centres.shape[1]), dtype=np.float32)
    for s in range(0, n, 65536):
        e = min(n, s + 65536)
        x[s:e] = centres[rng.integers(0, len(centres), e - s)]
        x[s:e] += rng.standard_normal((e - s, centres.shape[1]), dtype=np.float32) * np.float32(noise)
        x[s:e] /= np.linalg.norm(x[s:e], axis=1, keepdims=True)
    return x


def bench_1m(n: int, nprobe: int | None = None) -> None:
    """Child process: 1M candidates vs a 1M pool; prints one JSON line (its own peak RSS)."""
    from selfinstruct.config import NoveltyConfig
    from selfinstruct.filter.novelty import novelty_filter

    rng = np.random.default_rng(0)
    dim = 384
    centres = rng.standard_normal((n // 50, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
    pool = _structured(n, centres, rng, 0.04)  # topical clusters: neighbours at cosine ~0.5
    cand = _structured(n, centres, rng, 0.04)
    # Planted near duplicates: 10% of candidates copy a pool vector, 5% an earlier candidate.
    dup_pool = rng.choice(n, n // 10, replace=False)
    cand[dup_pool] = pool[rng.integers(0, n, len(dup_pool))]
    dup_cand = np.setdiff1d(rng.choice(np.arange(1, n), n // 20, replace=False), dup_pool)
    planted = np.union1d(dup_pool, dup_cand)
    # A copy's source is an earlier candidate that is not itself planted (its vector stays as copied).
    fresh = np.setdiff1d(np.arange(n), planted)
    below = np.searchsorted(fresh, dup_cand)
    dup_cand, below = dup_cand[below > 0], below[below > 0]
    cand[dup_cand] = cand[fresh[(below * rng.random(len(below))).astype(np.int64)]]
    planted = np.union1d(dup_pool, dup_cand)
    cand[planted] += rng.standard_normal((len(planted), dim), dtype=np.float32) * np.float32(0.01)
    cand[planted] /= np.linalg.norm(cand[planted], axis=1, keepdims=True)
    cfg = NoveltyConfig(**({"ivf_nprobe": nprobe} if nprobe else {}))
    t0 = time.perf_counter()
    keep, _, _, kind = novelty_filter(cand, pool, cfg)
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": secs,
                "kind": kind,
                "kept": int(keep.sum()),
                "planted_caught": float((~keep[planted]).mean()),
                "peak_rss_mb": rss,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: 5K instructions, 150K vectors")
    ap.add_argument("--n", type=int, default=None, help="instructions to novelty-filter (default 52,000)")
    ap.add_argument("--sample", type=int, default=None, help="rouge-score sample size (default 1,500)")
    ap.add_argument("--n1m", type=int, default=None, help="candidates and pool size (default 1,000,000)")
    ap.add_argument("--nprobe", type=int, default=None, help="IVF lists probed in the 1M part (default: config's)")
    ap.add_argument("--workers", type=int, default=0, help="embedding processes (default: config's, one per core)")
    ap.add_argument("--part", choices=["all", "pool1m"], default="all")
    args = ap.parse_args()
    n = args.n or (5_000 if args.quick else 52_000)
    sample = args.sample or (300 if args.quick else 1_500)
    n1m = args.n1m or (150_000 if args.quick else 1_000_000)
    if args.part == "pool1m":
        return bench_1m(n1m, args.nprobe)
    res = bench_52k(n, args.workers)
    rouge = bench_rouge(res["texts"], res["pool"], sample, n)
    speedup = rouge["baseline_s"] / res["seconds"]
    print(
        f"=> novelty {n:,}: {res['seconds']:.0f} s "
        f"vs rouge-score baseline ~{rouge['baseline_s']:.0f} s: {speedup:.0f}x "
        f"(ceiling with the fp32 embedder at peak, no search: {rouge['baseline_s'] / res['floor_s']:.0f}x)"
    )
    # Own process: its peak memory is its own, not the embedder's.
    out = subprocess.run(
        [sys.executable, __file__, "--part", "pool1m", "--n1m", str(n1m)]
        + (["--nprobe", str(args.nprobe)] if args.nprobe else []),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    big = json.loads(out.strip().splitlines()[-1])
    print(
        f"{n1m:,} candidates vs {n1m:,} pool ({big['kind']} index): {big['seconds']:.0f} s, peak RSS "
        f"{big['peak_rss_mb']:.0f} MB, kept {big['kept']:,}, planted near duplicates caught "
        f"{big['planted_caught']:.1%}"
    )
    tag = "" if n == 52_000 else f"_n{n}"
    print(
        f"novelty_52k_s{tag}={res['seconds']:.0f} speedup_vs_rouge={speedup:.0f} "
        f"paper_mode_speedup={rouge['paper_speedup']:.0f} same_decisions={int(rouge['same'])} "
        f"pool_1m_s={big['seconds']:.0f} peak_rss_mb={big['peak_rss_mb']:.0f}"
        + ("" if n1m == 1_000_000 else f" pool_size={n1m}")
    )


if __name__ == "__main__":
    main()
