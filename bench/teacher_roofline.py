"""The teacher against this machine's limits: how long a round's teacher calls took, and the least time
its token mix needs here (a roofline).

    .venv/bin/python bench/teacher_roofline.py runs/default [runs/other ...] [--round 1]

The machine, measured here with torch on the run's threads: fp32 matmul rate, int8 matmul rate
(`torch._int_mm`), memory copy rate. The model, from its config.json: weights per token, bytes read
per decode step at fp32 (the embedded weights are dequantized to float32). The round, from its stores:
every teacher call (a usage row) with its requests' prompt and completion tokens, so a call's decode
steps are its longest answer.

- limit_s: prefill FLOPs at the fp32 rate, plus decode at the larger of its FLOPs and its weight reads,
  where a round that kept its batch full would need max(longest answer, completion tokens / max_num_seqs)
  decode steps. limit_as_called_s: the same for the calls as the round made them (small batches).
- ratio: the round's teacher time over limit_s; batch_mean: completion tokens per decode step made.
- prefill_tok_s, decode_step_s, decode_tok_s: fitted over the calls, wall = a*prompt + b*steps + c.

Several runs (made with different code on this machine) are measured side by side in one process; the
last line holds name=value figures, each run's prefixed with its folder name when there are several.
Reads stores only: it starts no teacher.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from selfinstruct.models import resolve_model
from selfinstruct.store import ChunkStore, usage_stores


def machine(threads: int) -> dict[str, float]:
    """fp32 GFLOP/s and int8 GOP/s of a 2048 (1024) square matmul, GB/s moved by a 256 MB copy: best of 5."""
    torch.set_num_threads(threads)

    def best(fn, reps: int = 5) -> float:
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    x, y = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a, b = (torch.randint(-128, 127, (1024, 1024), dtype=torch.int8) for _ in range(2))
    src = torch.empty(64 * 1024 * 1024)
    dst = torch.empty_like(src)
    return {
        "fp32_gflop_s": 2 * 2048**3 / best(lambda: torch.mm(x, y)) / 1e9,
        "int8_gop_s": 2 * 1024**3 / best(lambda: torch._int_mm(a, b)) / 1e9,
        "copy_gb_s": 2 * src.numel() * 4 / best(lambda: dst.copy_(src)) / 1e9,
    }


def model_size(model: str) -> dict[str, float]:
    """Weights touched per token, and the lm_head's, from the model's config.json."""
    c = json.loads((Path(resolve_model(model)) / "config.json").read_text())
    h, layers, inter, vocab = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
    head_dim = c.get("head_dim") or h // c["num_attention_heads"]
    kv = c.get("num_key_value_heads", c["num_attention_heads"]) * head_dim
    body = layers * (2 * h * h + 2 * h * kv + 3 * h * inter)
    return {"body": float(body), "head": float(h * vocab)}


def call_rows(round_path: Path) -> list[tuple[str, list[dict], dict]]:
    """(step, its answer rows, its usage row) for every teacher call of a round, from its stores."""
    out = []
    for step, usage in usage_stores(round_path, readonly=True):
        store = ChunkStore(round_path / f"{step}.jsonl", readonly=True)
        rows, sizes, uses = list(store), list(store.chunks.values()), list(usage)
        if len(sizes) != len(uses):  # an older layout: the step's totals as one call
            sizes, uses = [len(rows)], [{"wall_s": sum(u.get("wall_s", 0) for u in uses)}]
        start = 0
        for n, use in zip(sizes, uses):
            out.append((step, rows[start : start + n], use))
            start += n
    return out


def calls(round_path: Path) -> list[dict]:
    """One row per teacher call: prompt and completion tokens, decode steps (its longest answer), wall."""
    out = []
    for step, part, use in call_rows(round_path):
        done = [r.get("completion_tokens") or 0 for r in part]
        out.append(
            {
                "step": step,
                "n": len(part),
                "prompt": sum(r.get("prompt_tokens") or 0 for r in part),
                "completion": sum(done),
                "steps": max(done, default=0),
                "wall": use["wall_s"],
            }
        )
    return out


def roofline(run: Path, round_n: int, rates: dict[str, float]) -> dict[str, float]:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    size = model_size(cfg["teacher"]["model"])
    seqs = cfg["teacher"].get("vllm", {}).get("max_num_seqs", 64)
    flops, bw = rates["fp32_gflop_s"] * 1e9, rates["copy_gb_s"] * 1e9
    step_bytes = 4 * (size["body"] + size["head"])
    cs = calls(run / f"round-{round_n}")
    prompt, completion = sum(c["prompt"] for c in cs), sum(c["completion"] for c in cs)

    def limit(p: float, c: float, steps: float) -> float:
        decode = max(2 * (size["body"] + size["head"]) * c / flops, steps * step_bytes / bw)
        return 2 * size["body"] * p / flops + decode

    full_steps = max(max((c["steps"] for c in cs), default=0), math.ceil(completion / seqs))
    round_s = sum(c["wall"] for c in cs)
    lim = limit(prompt, completion, full_steps)
    made_steps = sum(c["steps"] * math.ceil(c["n"] / seqs) for c in cs)
    a, b, _ = fit(cs)
    return {
        "calls": len(cs),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "round_s": round(round_s, 1),
        "limit_s": round(lim, 1),
        "limit_as_called_s": round(sum(limit(c["prompt"], c["completion"], c["steps"]) for c in cs), 1),
        "ratio": round(round_s / max(lim, 1e-9), 2),
        "batch_mean": round(completion / max(made_steps, 1), 2),
        "prefill_tok_s": round(1 / a, 1) if a > 0 else float("nan"),
        "decode_step_s": round(b, 3),
        "decode_tok_s": round(completion / max(made_steps, 1) / b, 1) if b > 0 else float("nan"),
    }


def fit(cs: list[dict]) -> tuple[float, float, float]:
    """Least squares of each call's wall on its prompt tokens and decode steps (and a constant)."""
    if len(cs) < 4:
        return float("nan"), float("nan"), float("nan")
    x = np.array([[c["prompt"], c["steps"], 1.0] for c in cs])
    coef, *_ = np.linalg.lstsq(x, np.array([c["wall"] for c in cs]), rcond=None)
    return float(coef[0]), float(coef[1]), float(coef[2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--round", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rates = machine(args.threads)
    print("machine: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()))
    figures = {k: round(v, 1) for k, v in rates.items()}
    for run in args.runs:
        r = roofline(run, args.round, rates)
        print(
            f"{run} round {args.round}: {r['calls']} calls, {r['prompt_tokens']:,} prompt + {r['completion_tokens']:,} "
            f"completion tokens; teacher {r['round_s']} s against a limit of {r['limit_s']} s (x{r['ratio']}); "
            f"as called {r['limit_as_called_s']} s; {r['batch_mean']} sequences a decode step"
        )
        prefix = f"{run.name}_" if len(args.runs) > 1 else ""
        figures.update({prefix + k: v for k, v in r.items()})
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
