"""`selfinstruct eval`'s answering: the vLLM path (one engine, the student as a LoRA adapter) next to
the transformers path it replaced, on the same held-out items, base + one adapter, no cache.

Items: the instances of tests/fixtures/self_instruct_seed_tasks.jsonl (175) then seeds/seed_tasks.jsonl,
the first --items of them (250). The adapter: --adapter (e.g. runs/default/round-1/student), else a
Gemma 3 270M base LoRA trained here for a few steps on 16 other seed tasks.

The transformers path answers --tf-items of the items (default: all) and its time is scaled to all
of them (linear: it answers batch after batch); agreement compares both paths' answers on those.
It runs in a process of its own after the engine has gone: run in the engine's process it was
seen at half the CPU (one core of two), which would have flattered the new path.

    .venv/bin/python bench/eval_speed.py [--items 250] [--tf-items 250] [--adapter DIR]

Last line: new_s=... transformers_s=... speedup=... agreement=... mean_abs_rouge_diff=...
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from selfinstruct.testing import (
    DEFAULT_SEEDS,
    PUBLIC_SEEDS,  # noqa: E402
)

ROOT = Path(__file__).resolve().parent.parent


def items(n: int):
    from selfinstruct.evaluate.command import heldout_items
    from selfinstruct.formats import read_tasks

    own = DEFAULT_SEEDS
    return (heldout_items(read_tasks(PUBLIC_SEEDS)) + heldout_items(read_tasks(own)))[:n]


def quick_adapter(cfg) -> Path:
    from selfinstruct.distill.train import train_student
    from selfinstruct.formats import read_tasks

    out = Path(tempfile.mkdtemp(prefix="bench-eval-")) / "student"
    train_student(read_tasks(PUBLIC_SEEDS)[-16:], out, cfg.model_copy(update={"max_steps": 4}), seed=0)
    return out


def timed(fn, models, its, cfg):
    from selfinstruct.evaluate.command import rouge_l

    t0 = time.perf_counter()
    out = fn(models, its, cfg, 2, lambda label, n: None)
    wall = time.perf_counter() - t0
    refs = [r for _, _, r in its]
    return wall, out, {label: rouge_l(a, refs) for label, a in out.items()}


def transformers_side(adapter: Path, n: int, out: Path) -> None:
    """The --tf-worker process: the transformers path on the first n items, answers and wall to out."""
    from selfinstruct.config import load_config
    from selfinstruct.evaluate import answers as A

    cfg = load_config().student
    transformers = functools.partial(A.answer_models, backend="transformers")
    wall, answers, _ = timed(transformers, {"base": None, "student": adapter}, items(n), cfg)
    out.write_text(json.dumps({"wall": wall, "answers": answers}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=250)
    ap.add_argument("--tf-items", type=int, default=0, help="transformers path on this many (0: all)")
    ap.add_argument("--adapter", type=Path, default=None)
    ap.add_argument("--tf-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.tf_worker:
        return transformers_side(args.adapter, args.tf_items, args.tf_worker)
    from selfinstruct.config import load_config
    from selfinstruct.evaluate import answers as A
    from selfinstruct.evaluate.command import rouge_l

    cfg = load_config().student
    its = items(args.items)
    adapter = args.adapter or quick_adapter(cfg)
    models = {"base": None, "student": adapter}
    print(f"{len(its)} items x {list(models)} ({cfg.model} + {adapter}), max_new_tokens={cfg.eval_max_new_tokens}")
    new_s, new, new_scores = timed(functools.partial(A.answer_models, backend="vllm"), models, its, cfg)
    words = {m: sum(len(a.split()) for a in new[m]) / len(its) for m in models}
    print(
        f"vllm path: {new_s:.0f} s for {len(its) * len(models)} answers (engine start included); "
        f"words per answer: " + ", ".join(f"{m} {w:.1f}" for m, w in words.items()),
        flush=True,
    )
    k = args.tf_items or len(its)
    out = Path(tempfile.mkdtemp(prefix="bench-eval-tf-")) / "tf.json"
    subprocess.run(
        [sys.executable, __file__, "--tf-worker", str(out), "--tf-items", str(k), "--adapter", str(adapter)], check=True
    )
    side = json.loads(out.read_text())
    tf_s, old = side["wall"], side["answers"]
    refs = [r for _, _, r in its[:k]]
    old_scores = {m: rouge_l(old[m], refs) for m in models}
    scale = len(its) / k
    print(
        f"transformers path: {tf_s:.0f} s for {k * len(models)} answers"
        + (f", x{scale:.2f} -> {tf_s * scale:.0f} s" if k < len(its) else "")
    )
    same = [new[m][i].strip() == old[m][i].strip() for m in models for i in range(k)]
    diffs = [abs(new_scores[m][i] - old_scores[m][i]) for m in models for i in range(k)]
    for m in models:
        print(
            f"{m}: ROUGE-L vllm {sum(new_scores[m][:k]) / k:.4f} "
            f"vs transformers {sum(old_scores[m]) / k:.4f} on the same {k}"
        )
    print(
        f"new_s={new_s:.1f} transformers_s={tf_s * scale:.1f} speedup={tf_s * scale / new_s:.2f} "
        f"agreement={sum(same) / len(same):.3f} mean_abs_rouge_diff={sum(diffs) / len(diffs):.4f} items={len(its)} "
        f"tf_items={k}"
    )


if __name__ == "__main__":
    main()
