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

from ..records import Reject, Task


@lru_cache(maxsize=2)
def _model(name: str):
    from ..models import load_model, load_tokenizer

    return load_model(name).eval(), load_tokenizer(name)


def _prompt(task: Task) -> str:
    inp = task.instances[0].input.strip() if task.instances else ""
    return f"{task.instruction.strip()}\n{inp}\n" if inp else f"{task.instruction.strip()}\n"


def ifd_scores(tasks: list[Task], model_name: str) -> list[float]:
    """IFD of each task's first instance (tasks without an output score inf). The losses are the
    student's training loss on the output (distill/hard_examples.py), with and without the prompt."""
    from ..distill.hard_examples import example_losses

    model, tok = _model(model_name)
    scored = [t for t in tasks if t.instances and t.instances[0].output.strip()]
    outputs = [t.instances[0].output.strip() for t in scored]
    given = example_losses(model, tok, [{"prompt": _prompt(t), "completion": o} for t, o in zip(scored, outputs)])
    alone = example_losses(model, tok, [{"prompt": "", "completion": o} for o in outputs])
    by_id = {id(t): g / a if a > 0 else float("inf") for t, g, a in zip(scored, given, alone)}
    return [by_id.get(id(t), float("inf")) for t in tasks]


def check_ifd(tasks: list[Task], model_name: str, ifd_max: float) -> list[Reject | None]:
    """`misaligned(ifd=1.08)` at or above ifd_max, else None, per task; sets scores["ifd"]."""
    reasons: list[Reject | None] = []
    for task, score in zip(tasks, ifd_scores(tasks, model_name)):
        task.scores["ifd"] = round(score, 4)
        reasons.append(Reject("misaligned", f"ifd={score:.2f}") if score >= ifd_max else None)
    return reasons
