"""Instruction-following difficulty (IFD, Li et al. 2024, "From Quantity to Quality"): a cheap signal
that a response answers its instruction, from one small model and no teacher request.

    IFD = loss(output | instruction + input) / loss(output alone)

(mean token losses of the output, i.e. the ratio of log-perplexities). Below 1 the instruction
helps the model predict the output; at or above 1 it does not: the output has nothing to do with
the instruction (a label for a poem, a copied input). `filter.quality.ifd_model` turns the check on
(`ifd_max`: the threshold); how well it agrees with hand labels is in bench/quality_signal.py.
"""

from __future__ import annotations

from functools import lru_cache

from ..records import Task


@lru_cache(maxsize=2)
def _model(name: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..models import resolve_model

    path = resolve_model(name)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


def _prompt(task: Task) -> str:
    inp = task.instances[0].input.strip() if task.instances else ""
    return f"{task.instruction.strip()}\n{inp}\n" if inp else f"{task.instruction.strip()}\n"


def _output_loss(model, tok, prefix: str, output: str) -> float:
    """Mean loss of the output's tokens after the BOS token (where the model has one) and `prefix`."""
    import torch

    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    head = bos + (tok(prefix, add_special_tokens=False)["input_ids"] if prefix else [])
    body = tok(output, add_special_tokens=False)["input_ids"][:256]
    ids = torch.tensor([head + body])
    labels = ids.clone()
    labels[0, :len(head)] = -100
    if not head:
        labels[0, 0] = -100  # nothing before the first token to predict it from
    with torch.no_grad():
        return float(model(input_ids=ids, labels=labels).loss)


def ifd_scores(tasks: list[Task], model_name: str) -> list[float]:
    """IFD of each task's first instance (tasks without one score inf)."""
    model, tok = _model(model_name)
    out = []
    for t in tasks:
        if not t.instances or not t.instances[0].output.strip():
            out.append(float("inf"))
            continue
        output = t.instances[0].output.strip()
        alone = _output_loss(model, tok, "", output)
        given = _output_loss(model, tok, _prompt(t), output)
        out.append(given / alone if alone > 0 else float("inf"))
    return out


def check_ifd(tasks: list[Task], model_name: str, ifd_max: float) -> dict[int, str]:
    """Reject reasons by position: `misaligned(ifd=1.08)` at or above ifd_max; sets scores["ifd"]."""
    reasons = {}
    for k, (task, score) in enumerate(zip(tasks, ifd_scores(tasks, model_name))):
        task.scores["ifd"] = round(score, 4)
        if score >= ifd_max:
            reasons[k] = f"misaligned(ifd={score:.2f})"
    return reasons
