"""Throughput of the scale-out paths here: 1 vs 2 vLLM endpoints, 1 vs 2 Ray workers.

    .venv/bin/python bench/scale.py [--requests 24] [--max-tokens 16]

On this 2-core machine both endpoints (or both Ray workers) share the same two cores, each
pinned to one: the ratios show the overhead of fanning out and whether the balancing keeps
both replicas busy, NOT a speedup (that needs replicas on separate cores, GPUs or machines).
The last line holds the figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from selfinstruct.config import TeacherConfig  # noqa: E402
from selfinstruct.teachers import Request, make_teacher  # noqa: E402

MODEL = "embedded:smollm2-135m"


def _requests(n: int, max_tokens: int) -> list[Request]:
    return [
        Request(prompt=f"Idea {i}: a short task about", max_tokens=max_tokens, temperature=0.0, seed=i)
        for i in range(n)
    ]


def _rate(teacher, reqs) -> float:
    teacher.complete(reqs[:2])  # warm-up
    t0 = time.perf_counter()
    outs = teacher.complete(reqs)
    assert all(o.finish_reason != "error" for o in outs), [o.error for o in outs if o.error]
    return len(reqs) / (time.perf_counter() - t0) * 3600


def bench_endpoints(reqs) -> tuple[float, float]:
    from selfinstruct.testing import kill_group, start_pinned_server, wait_ready

    tmp = Path(tempfile.mkdtemp())
    servers = [start_pinned_server(tmp / f"{i}.log", core=i) for i in range(2)]
    try:
        for (proc, url), i in zip(servers, range(2)):
            wait_ready(proc, url, tmp / f"{i}.log")
        urls = [url for _, url in servers]
        rates = []
        for n in (1, 2):
            cfg = TeacherConfig(backend="openai", model=MODEL, openai={"base_urls": urls[:n], "max_in_flight": 8})
            rates.append(_rate(make_teacher(cfg), reqs))
        return rates[0], rates[1]
    finally:
        for proc, _ in servers:
            kill_group(proc)


def bench_ray(reqs) -> tuple[float, float]:
    rates = []
    for n in (1, 2):
        cfg = TeacherConfig(
            backend="ray",
            model=MODEL,
            temperature=0.0,
            ray={"inner": "transformers", "replicas": n, "batch_size": max(1, len(reqs) // 2)},
        )
        with make_teacher(cfg) as teacher:
            t0 = time.perf_counter()
            teacher.complete(reqs)  # replicas start inside each call: timed as a user sees it
            rates.append(len(reqs) / (time.perf_counter() - t0) * 3600)
    return rates[0], rates[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--skip", choices=["endpoints", "ray"], action="append", default=[])
    args = ap.parse_args()
    reqs = _requests(args.requests, args.max_tokens)
    figures = {}
    if "endpoints" not in args.skip:
        one, two = bench_endpoints(reqs)
        figures |= {
            "endpoints1_req_per_h": round(one),
            "endpoints2_req_per_h": round(two),
            "endpoints_ratio": round(two / one, 2),
        }
    if "ray" not in args.skip:
        one, two = bench_ray(reqs)
        figures |= {"ray1_req_per_h": round(one), "ray2_req_per_h": round(two), "ray_ratio": round(two / one, 2)}
    for k, v in figures.items():
        print(f"{k:>24}  {v}")
    print("note: 2 shared cores; a ratio near 1 is expected here and shows no speedup")
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
