"""Training throughput of `train_student` (what `selfinstruct distill` runs) next to a plain trl script.

Both train the same LoRA on the same prompt/completion data with the same settings (the ones
train_student picks for this device); the plain script is written the way trl's docs show it,
with those settings spelled out. Tokens/s = non-padding tokens trained / trainer train_runtime,
both counted by trl. The runs alternate (ours, trl, ours, trl, ...) and each side keeps its best,
because this machine is shared and its load drifts.

    .venv/bin/python bench/distill_throughput.py [--examples 64] [--steps 4] [--reps 2]

Last line: tokens_per_s=... trl_tokens_per_s=... ratio=...
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning threads crawl on a shared CPU

from selfinstruct.testing import PUBLIC_SEEDS as SEEDS  # noqa: E402


def ours(tasks, cfg, threads: int) -> dict:
    from selfinstruct.distill.train import train_student

    out = Path(tempfile.mkdtemp(prefix="bench-ours-")) / "student"
    try:
        return train_student(tasks, out, cfg, seed=0, threads=threads)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def plain_trl(tasks, cfg, threads: int) -> dict:
    """A plain SFTTrainer script: chat-template prompt/completion pairs, peft LoRA, trl does the rest."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from selfinstruct.models import resolve_model

    torch.set_num_threads(threads)
    set_seed(0)
    path = resolve_model(cfg.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows = []
    for t in tasks:
        for i in t.instances:
            user = t.instruction if not i.input.strip() else f"{t.instruction}\n\n{i.input}"
            prompt = tok.apply_chat_template(
                [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
            )
            rows.append({"prompt": prompt, "completion": i.output + tok.eos_token})
    out = tempfile.mkdtemp(prefix="bench-trl-")
    args = SFTConfig(
        output_dir=out,
        seed=0,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        max_steps=cfg.max_steps,
        max_length=cfg.max_length,
        packing=cfg.packing,
        logging_steps=1,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        dataloader_num_workers=0,
    )
    peft = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, peft_config=peft
    )
    result = trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h][-1]
    runtime = result.metrics["train_runtime"]
    return {
        "tokens": int(tokens),
        "train_s": runtime,
        "tokens_per_s": tokens / runtime,
        "train_loss_last": [h["loss"] for h in trainer.state.log_history if "loss" in h][-1],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

    from selfinstruct.config import StudentConfig
    from selfinstruct.formats import read_tasks

    tasks = read_tasks(SEEDS)[: a.examples]
    cfg = StudentConfig(batch_size=a.batch, max_length=a.max_length, max_steps=a.steps, device="cpu")
    runs: dict[str, list[dict]] = {"ours": [], "trl": []}
    for rep in range(a.reps):
        for name, fn in (("ours", ours), ("trl", plain_trl)):
            t0 = time.perf_counter()
            m = fn(tasks, cfg, a.threads)
            runs[name].append(m)
            print(
                f"rep {rep} {name:4s}: {m['tokens_per_s']:7.1f} tokens/s  ({m['tokens']} tokens in "
                f"{m['train_s']:.1f} s train, {time.perf_counter() - t0:.1f} s total, "
                f"last loss {m['train_loss_last']:.3f})",
                flush=True,
            )
    best = {k: max(r["tokens_per_s"] for r in v) for k, v in runs.items()}
    print(f"\n{'':6s}{'best tokens/s':>14s}{'tokens/step':>13s}")
    for k in runs:
        print(f"{k:6s}{best[k]:14.1f}{runs[k][0]['tokens'] / a.steps:13.1f}")
    print(
        f"settings: {a.examples} examples, {a.steps} steps, batch {a.batch}, max_length {a.max_length}, "
        f"LoRA r={cfg.lora.r} {cfg.lora.target_modules}, float32 CPU, {a.threads} threads, best of {a.reps}"
    )
    print(f"tokens_per_s={best['ours']:.1f} trl_tokens_per_s={best['trl']:.1f} ratio={best['ours'] / best['trl']:.3f}")


if __name__ == "__main__":
    main()
