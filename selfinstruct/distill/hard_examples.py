"""How badly the student still answers each task: mean token loss on the reference output.

Loop mode (b) keeps the teacher and over-samples in-context examples from the tasks the student
fails most (highest loss on held-out accepted tasks); this module only scores, the generate loop
samples. The loss is the training loss computed the same way (same prompt, completion-only,
same tokenization), in eval mode with no dropout, so it is comparable before and after training.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ..config import Config, StudentConfig
from ..records import Task
from .data import build_examples, encode


def example_losses(
    model: Any, tok: Any, rows: list[dict[str, str]], *, batch_size: int = 8, max_length: int = 512
) -> list[float]:
    """Mean NLL per completion token of each {prompt, completion} row (and reply token of a conversation's),
    in the model's current mode."""
    import torch

    encoded = []
    for r in rows:
        ids, labels = encode(tok, r)  # a conversation's rows: every reply scored
        encoded.append((ids[:max_length], labels[:max_length]))
    device = next(model.parameters()).device
    out: list[float] = []
    for i in range(0, len(encoded), batch_size):
        batch = encoded[i : i + batch_size]
        width = max(len(ids) for ids, _ in batch)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=device)
        labels = torch.tensor([lb + [-100] * (width - len(lb)) for _, lb in batch], device=device)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
        nll = torch.nn.functional.cross_entropy(
            shift_logits.transpose(1, 2), shift_labels, ignore_index=-100, reduction="none"
        )
        counts = (shift_labels != -100).sum(1).clamp(min=1)
        out.extend((nll.sum(1) / counts).tolist())
    return out


def task_losses(
    model_dir_or_adapter: str | Path | None,
    tasks: list[Task],
    cfg: Config | StudentConfig,
    *,
    model: Any = None,
    tok: Any = None,
) -> dict[str, float]:
    """task id -> mean loss over its instances (None = the base student). Tasks with no output are left out.

    Pass an already loaded `model` and `tok` to score several task sets without reloading.
    """
    scfg = cfg.student if isinstance(cfg, Config) else cfg
    if model is None:
        from ..models import load_student, pick_device

        model, tok = load_student(model_dir_or_adapter, scfg.model, pick_device(scfg.device))
    rows = build_examples(tasks, tok)
    losses = example_losses(model, tok, rows, batch_size=scfg.eval_batch_size, max_length=scfg.max_length)
    per_task: dict[str, list[float]] = defaultdict(list)
    for r, loss in zip(rows, losses):
        per_task[r["task_id"]].append(loss)
    return {tid: sum(v) / len(v) for tid, v in per_task.items()}
