"""LoRA SFT of the student on accepted tasks: trl's SFTTrainer + a peft LoRA adapter.

Each instance is one prompt/completion example in the student's own chat template (see data.py);
the loss covers the completion tokens only. The adapter is written to a temp folder and renamed
into place with a `.done` marker inside, so a crash never leaves a half adapter that looks
finished, and a relaunch returns the stored metrics instead of training again.

    <out>/adapter_config.json, adapter_model.safetensors   the LoRA adapter (peft; vLLM loads it too)
    <out>/tokenizer files, config.yaml (resolved config), metrics.json, .done
    <out>/merged/                                          the merged model, when student.merge

Precision is chosen per device (models.py): CPU float32, no bf16, no gradient checkpointing;
CUDA bf16, checkpointing when `student.gradient_checkpointing`.

Multi-GPU, no code change (each process trains its shard; rank 0 writes the output):

    accelerate launch --num_processes 4 -m selfinstruct.cli distill --data runs/default
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, cast

from ..config import Config, StudentConfig
from ..models import load_model, load_tokenizer, model_dtype, pick_device
from ..records import InputError, Task
from ..round_dir import DONE, METRICS, STUDENT_CONFIG
from ..store import fsync_dir, write_error
from .data import build_examples, encode, load_training_tasks

FIT_SAMPLE = 8  # training examples re-scored in eval mode after training (metrics["fit_loss"]): a reload check


def lora_config(cfg: StudentConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )


def sft_args(cfg: StudentConfig, out_dir: Path, seed: int, device: str):
    """SFTConfig with every default that matters chosen here, not inherited from trl."""
    from trl import SFTConfig

    cuda = device == "cuda"
    return SFTConfig(
        output_dir=str(out_dir),
        seed=seed,
        data_seed=seed,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup,
        logging_steps=cfg.logging_steps,
        max_length=cfg.max_length,
        packing=cfg.packing,
        completion_only_loss=True,
        bf16=cuda and str(model_dtype(device)) == "torch.bfloat16",
        fp16=False,
        gradient_checkpointing=cuda and cfg.gradient_checkpointing,
        use_cpu=not cuda,
        report_to="none",
        push_to_hub=False,
        save_strategy="no",
        dataloader_num_workers=0,
        # Packed batches are padding-free (no attention mask): every token is real, count them all.
        include_num_input_tokens_seen="all" if cfg.packing else "non_padding",
    )


def build_trainer(
    tasks: list[Task],
    out_dir: Path,
    cfg: StudentConfig,
    *,
    seed: int = 0,
    device: str | None = None,
    init_adapter: Path | None = None,
):
    """(SFTTrainer for these tasks with LoRA applied and data tokenized, the example rows); `train()` is the caller's.
    With `init_adapter`, training goes on from that adapter instead of a fresh LoRA."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTTrainer

    device = device or pick_device(cfg.device)
    _score_completions_only()
    set_seed(seed)  # the LoRA init draws from the global generator before the trainer seeds it
    model, tok = load_model(cfg.model, device, place=False), load_tokenizer(cfg.model)
    rows = build_examples(tasks, tok)
    if not rows:
        raise ValueError("no instance with a non-empty output to train on")
    if any("segments" in r for r in rows):  # conversations: a label on every reply, tokenized here (data.py)
        data = Dataset.from_list([dict(zip(("input_ids", "labels"), encode(tok, r))) for r in rows])
    else:
        data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    peft_config = lora_config(cfg)
    if init_adapter is not None:
        from peft import PeftModel

        model, peft_config = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True), None
    trainer = SFTTrainer(
        model=model,
        args=sft_args(cfg, out_dir, seed, device),
        train_dataset=data,
        processing_class=tok,
        peft_config=peft_config,
    )
    return trainer, rows


def _score_completions_only() -> None:
    """trl's fused LM head scores only the positions that have a label on Triton devices, and every
    position elsewhere (to keep tile shapes fixed for compilers such as Neuron's). In eager CPU
    training nothing recompiles, and scoring prompt and padding positions through a 262K-token head
    (Gemma 3) made a step of 8 examples take 87 s; scoring only the completions makes the same step
    ~20 s, with the same loss and gradient norm (measured)."""
    import trl.trainer.utils as trl_utils

    if hasattr(trl_utils, "_use_triton"):
        original = getattr(trl_utils._use_triton, "__wrapped__", trl_utils._use_triton)

        def compact(device) -> bool:
            return device.type == "cpu" or original(device)

        cast(Any, compact).__wrapped__ = original  # cast: mypy types a def as a Callable, without attributes
        trl_utils._use_triton = compact


def train_student(
    tasks: list[Task],
    out_dir: Path,
    cfg: StudentConfig,
    *,
    seed: int = 0,
    threads: int = 2,
    resolved_config: Config | None = None,
    init_adapter: Path | None = None,
) -> dict[str, Any]:
    """Trains a LoRA adapter on `tasks` and saves it to `out_dir`; returns the training metrics.

    A finished `out_dir` (it has the marker) is not trained again: its stored metrics come back.
    """
    out_dir = Path(out_dir)
    if (out_dir / DONE).exists():
        return json.loads((out_dir / METRICS).read_text())
    import torch

    t0 = time.perf_counter()
    device = pick_device(cfg.device)
    if device == "cpu":
        torch.set_num_threads(threads)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    main = int(os.environ.get("RANK", "0")) == 0
    if main:
        shutil.rmtree(tmp, ignore_errors=True)  # a crashed attempt's leftovers
    trainer, rows = build_trainer(tasks, tmp, cfg, seed=seed, device=device, init_adapter=init_adapter)
    result = trainer.train()
    metrics = _metrics(trainer, result, cfg, device, n_tasks=len(tasks), n_examples=len(rows))
    metrics["init_adapter"] = str(init_adapter) if init_adapter else None
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        metrics["fit_loss"] = _fit_loss(trainer, rows[:FIT_SAMPLE], cfg)
        _save(trainer, tmp, out_dir, cfg, resolved_config, metrics, t0)
    return metrics


def _metrics(trainer, result, cfg: StudentConfig, device: str, n_tasks: int, n_examples: int) -> dict[str, Any]:
    logs = [h for h in trainer.state.log_history if "loss" in h]
    train_s = result.metrics.get("train_runtime", 0.0)
    tokens = int(trainer.state.num_input_tokens_seen)
    return {
        "model": cfg.model,
        "device": device,
        "tasks": n_tasks,
        "examples": n_examples,
        "sequences": len(trainer.train_dataset),  # fewer than examples when packed
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "train_loss_first": logs[0]["loss"] if logs else None,
        "train_loss_last": logs[-1]["loss"] if logs else None,
        "train_loss_mean": result.training_loss,
        "tokens": tokens,
        "tokens_per_s": round(tokens / train_s, 1) if train_s else 0.0,
        "train_s": round(train_s, 2),
    }


def _fit_loss(trainer, rows: list[dict[str, str]], cfg: StudentConfig) -> float:
    """Loss on these training examples in eval mode: the check that a reload gives the same model."""
    from .hard_examples import example_losses

    trainer.model.eval()
    losses = example_losses(
        trainer.model, trainer.processing_class, rows, batch_size=cfg.eval_batch_size, max_length=cfg.max_length
    )
    return sum(losses) / len(losses)


def _save(
    trainer, tmp: Path, out_dir: Path, cfg: StudentConfig, resolved: Config | None, metrics: dict[str, Any], t0: float
) -> None:
    """The student folder whole or not at all. On a full disk: no half folder left, and one line
    naming the folder (safetensors reports the OS error in its own exception type)."""
    try:
        _write_student(trainer, tmp, out_dir, cfg, resolved, metrics, t0)
    except Exception as e:
        err = _as_os_error(e)
        if err is None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(out_dir, err) from None


def _as_os_error(e: Exception) -> OSError | None:
    if isinstance(e, OSError):
        return e
    m = re.search(r"os error (\d+)", str(e))
    return OSError(int(m.group(1)), os.strerror(int(m.group(1)))) if m else None


def _write_student(
    trainer, tmp: Path, out_dir: Path, cfg: StudentConfig, resolved: Config | None, metrics: dict[str, Any], t0: float
) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(str(tmp))
    trainer.processing_class.save_pretrained(str(tmp))
    if cfg.merge:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(tmp / "merged"))
        trainer.processing_class.save_pretrained(str(tmp / "merged"))
    resolved_yaml = resolved.to_yaml() if resolved else Config(student=cfg).to_yaml()
    (tmp / STUDENT_CONFIG).write_text(resolved_yaml)
    metrics["wall_s"] = round(time.perf_counter() - t0, 2)
    (tmp / METRICS).write_text(json.dumps(metrics, indent=1))
    (tmp / DONE).write_text("")
    if out_dir.exists():
        shutil.rmtree(out_dir)  # no marker (checked on entry): an unfinished older attempt
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out_dir)
    fsync_dir(out_dir.parent)


def distill_path(data: Path, cfg: Config, out: Path | None = None) -> dict[str, Any]:
    """`selfinstruct distill`: a run dir (all accepted tasks of all rounds) or a task file -> a student."""
    tasks, default_out = load_training_tasks(Path(data))
    if not any(i.output.strip() for t in tasks for i in t.instances):
        raise InputError(data, None, "no instance has an output to train on")
    out = Path(out) if out else default_out
    if (out / DONE).exists():
        _print_summary(json.loads((out / METRICS).read_text()), out, note="already trained; kept")
        return json.loads((out / METRICS).read_text())
    metrics = train_student(tasks, out, cfg.student, seed=cfg.run.seed, threads=cfg.run.threads, resolved_config=cfg)
    _print_summary(metrics, out)
    return metrics


def _print_summary(metrics: dict[str, Any], out: Path, note: str = "") -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"student -> {escape(str(out))}" + (f" ({note})" if note else ""))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console(stderr=True).print(table)
