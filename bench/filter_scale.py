"""Filter at scale: embedding novelty on 52K instructions vs Self-Instruct's rouge-score filter,
paper mode vs rouge-score, and 1M candidates vs a 1M pool (vectors given).

    .venv/bin/python bench/filter_scale.py            # full run (~15 min on 2 cores)
    .venv/bin/python bench/filter_scale.py --quick    # small sizes, a minute or two

The 52K instructions come from paraphrase families ("Write a poem about X" / "Compose a poem
about X" / ...) over thousands of topics, so many are near duplicates of each other.
The rouge-score baseline is O(n^2); it is timed on a sample and extrapolated (see _extrapolate).
The machine is shared: timings are noisy. Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEEDS = ROOT.parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"

FAMILIES = [
    ["Write a {form} about {topic}.", "Compose a {form} about {topic}.", "Create a {form} on the subject of {topic}.",
     "Can you write a {form} about {topic}?"],
    ["Explain {topic} to a {aud}.", "Describe {topic} in simple terms for a {aud}.",
     "How would you explain {topic} to a {aud}?"],
    ["Give {k} tips for {act}.", "List {k} pieces of advice for {act}.", "What are {k} good ways to get better at {act}?"],
    ["What are the pros and cons of {topic}?", "Summarize the arguments for and against {topic}."],
    ["Translate a sentence about {topic} into {lang}.", "Render this sentence on {topic} in {lang}."],
    ["Classify the following {thing} as {a} or {b}.", "Is the given {thing} {a} or {b}?"],
    ["Plan a {k}-day schedule for {act}.", "Make a {k} day plan to practise {act}."],
    ["Write a short dialogue between a {aud} and a {role} about {topic}.",
     "Create a conversation in which a {role} talks with a {aud} about {topic}."],
    ["Suggest a name for a {adj} {shop}.", "Come up with a catchy name for a {adj} {shop}."],
    ["Find the mistake in this sentence about {topic} and correct it.", "Proofread the following sentence about {topic}."],
]
WORDS = dict(
    form="poem|haiku|limerick|essay|tweet|speech|letter|song|fable|riddle|slogan|review|short story|blog post",
    aud="child|teenager|beginner|expert|grandparent|student|tourist|manager|new employee|ten-year-old",
    k="three|four|five|six|seven|ten",
    act=("cooking|running|saving money|learning Spanish|public speaking|gardening|chess|studying for exams|"
         "sleeping better|writing emails|negotiating a salary|painting with watercolours|training a puppy|"
         "hiking in winter|job interviews|meditation|time management|coding in Python|baking bread|swimming"),
    lang="French|German|Spanish|Italian|Japanese|Portuguese|Dutch|Korean",
    thing="review|email|tweet|headline|sentence|comment",
    a="positive|formal|spam|urgent|factual", b="negative|informal|not spam|routine|opinion",
    role="doctor|teacher|chef|pilot|lawyer|farmer|scientist|nurse|mechanic",
    adj="cosy|modern|vegan|family-run|tiny|luxury|retro|eco-friendly|late-night|seaside",
    shop="bakery|bookshop|cafe|gym|bike shop|florist|bar|tea room|toy store|barber",
    tail="|| Keep it short.| Use simple words.| Answer in one paragraph.| Be specific.| Use a friendly tone.",
)
WORDS = {k: v.split("|") for k, v in WORDS.items()}
ADJ = ("ancient modern urban rural digital renewable quantum medieval tropical arctic financial political "
       "social personal global local electric solar marine industrial organic microbial volcanic coastal "
       "nuclear mobile remote public private early late wild domestic northern southern").split()
NOUN = ("energy forests cities oceans volcanoes bees memory trade music empires storms bridges vaccines rivers "
        "deserts robots markets languages farming elections reefs satellites glaciers railways bacteria "
        "sleep friendship architecture photography taxes chocolate coffee tea rice wheat whales wolves "
        "batteries privacy education migration tourism sport fashion cinema theatre poetry gravity light "
        "banking healthcare housing transport software history religion art weather soil insects birds").split()


def synth_instructions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fam = rng.choice(FAMILIES)
        fill = {k: rng.choice(v) for k, v in WORDS.items()}
        fill["topic"] = f"{rng.choice(ADJ)} {rng.choice(NOUN)}"
        out.append(rng.choice(fam).format(**fill) + fill["tail"])
    return out


def _seed_pool() -> list[str]:
    if not SEEDS.exists():
        return []
    return [json.loads(x)["instruction"] for x in SEEDS.read_text().splitlines() if x.strip()]


def bench_52k(n: int) -> dict:
    import torch

    from selfinstruct.config import NoveltyConfig
    from selfinstruct.filter.novelty import embed_tasks, get_embedder, novelty_filter
    from selfinstruct.records import Task

    torch.set_num_threads(2)
    cfg = NoveltyConfig()
    texts, pool = synth_instructions(n), _seed_pool()
    tasks = [Task(x) for x in pool + texts]
    cpu0, t0 = _cpu(), time.perf_counter()
    get_embedder(cfg.embedder, cfg.batch_size)
    vecs = embed_tasks(tasks, cfg)
    t_embed = time.perf_counter() - t0
    keep, _, _, kind = novelty_filter(vecs[len(pool):], vecs[:len(pool)], cfg)
    total, cpu = time.perf_counter() - t0, _cpu() - cpu0
    print(f"novelty {n:,} ({len(set(texts)):,} distinct) vs pool {len(pool)}: {total:.1f} s wall, {cpu:.0f} s CPU "
          f"(embed {t_embed:.1f} s, search+dedupe {total - t_embed:.1f} s, index {kind}); kept {keep.sum():,} "
          f"({keep.mean():.0%})")
    return {"texts": texts, "pool": pool, "seconds": total, "cpu_s": cpu, "kept": int(keep.sum())}


def _cpu() -> float:
    """This process's CPU seconds (all threads): wall time / (CPU / 2) shows how shared the 2 cores were."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _extrapolate(sample_s: float, sample_kept: list[bool], npool: int, n: int) -> tuple[float, float]:
    """rouge-score cost = (pair comparisons) x (seconds per comparison, measured on the sample).
    Candidate i is compared with the pool and every earlier kept candidate, so a run of n makes
    n*P + sum_i kept_before(i) comparisons; we assume the sample's acceptance rate a holds:
    n*P + a*n*(n-1)/2. (Acceptance falls as the pool fills; if it halved, so would the quadratic
    term.) Self-Instruct spreads the comparisons over processes: we credit it a perfect 2x on 2 cores.
    -> (seconds for n, comparisons for n, seconds per comparison)."""
    kept_before = np.cumsum([0] + sample_kept[:-1])
    per_pair = sample_s / float(np.sum(npool + kept_before))
    a = float(np.mean(sample_kept))
    pairs = n * npool + a * n * (n - 1) / 2
    return per_pair * pairs / 2, pairs, per_pair


def bench_rouge(texts: list[str], pool: list[str], sample: int, n: int) -> dict:
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
    est, pairs, per_pair = _extrapolate(t_ref, ref_keep.tolist(), len(pool), n)
    print(f"sample {sample:,} vs pool {len(pool)}: rouge-score {t_ref:.1f} s, paper mode {t_fast:.3f} s "
          f"({t_ref / t_fast:.0f}x), same decisions and scores: {same}; kept {ref_keep.mean():.0%}")
    print(f"rouge-score Self-Instruct filter on {n:,}, extrapolated: n*P + a*n^2/2 = {pairs:.3g} comparisons "
          f"x {per_pair * 1e6:.1f} us / 2 processes -> {est:.0f} s ({est / 3600:.1f} h)")
    return {"paper_speedup": t_ref / t_fast, "same": same, "baseline_s": est}


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
    print(json.dumps({"seconds": secs, "kind": kind, "kept": int(keep.sum()),
                      "planted_caught": float((~keep[planted]).mean()), "peak_rss_mb": rss}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: 5K instructions, 150K vectors")
    ap.add_argument("--n", type=int, default=None, help="instructions to novelty-filter (default 52,000)")
    ap.add_argument("--sample", type=int, default=None, help="rouge-score sample size (default 1,500)")
    ap.add_argument("--n1m", type=int, default=None, help="candidates and pool size (default 1,000,000)")
    ap.add_argument("--nprobe", type=int, default=None, help="IVF lists probed in the 1M part (default: config's)")
    ap.add_argument("--part", choices=["all", "pool1m"], default="all")
    args = ap.parse_args()
    n = args.n or (5_000 if args.quick else 52_000)
    sample = args.sample or (300 if args.quick else 1_500)
    n1m = args.n1m or (150_000 if args.quick else 1_000_000)
    if args.part == "pool1m":
        return bench_1m(n1m, args.nprobe)
    res = bench_52k(n)
    rouge = bench_rouge(res["texts"], res["pool"], sample, n)
    speedup = rouge["baseline_s"] / res["seconds"]
    print(f"=> novelty {n:,}: {res['seconds']:.0f} s vs rouge-score baseline ~{rouge['baseline_s']:.0f} s: {speedup:.0f}x")
    # Own process: its peak memory is its own, not the embedder's.
    out = subprocess.run([sys.executable, __file__, "--part", "pool1m", "--n1m", str(n1m)]
                         + (["--nprobe", str(args.nprobe)] if args.nprobe else []),
                         capture_output=True, text=True, check=True).stdout
    big = json.loads(out.strip().splitlines()[-1])
    print(f"{n1m:,} candidates vs {n1m:,} pool ({big['kind']} index): {big['seconds']:.0f} s, peak RSS "
          f"{big['peak_rss_mb']:.0f} MB, kept {big['kept']:,}, planted near duplicates caught "
          f"{big['planted_caught']:.1%}")
    tag = "" if n == 52_000 else f"_n{n}"
    print(f"novelty_52k_s{tag}={res['seconds']:.0f} speedup_vs_rouge={speedup:.0f} "
          f"paper_mode_speedup={rouge['paper_speedup']:.0f} same_decisions={int(rouge['same'])} "
          f"pool_1m_s={big['seconds']:.0f} peak_rss_mb={big['peak_rss_mb']:.0f}"
          + ("" if n1m == 1_000_000 else f" pool_size={n1m}"))


if __name__ == "__main__":
    main()
