"""Evol-Instruct (WizardLM, Xu et al. 2023): an accepted task is rewritten by the teacher, in depth (one
more constraint, deeper, more concrete, more reasoning) or in breadth (a new task of its domain). A
rewrite that merely copies its parent, or leaks the rewriting prompt, is eliminated with a reason; so
is one the teacher then declines to answer. Its tasks are self-contained prompts (any input is
written into them): the round answers them directly (strategy.respond).
"""

from __future__ import annotations

import re

from ...filter.rouge import rouge_filter
from ...prompting import make_request, render
from ...records import Reject, Task
from ...store import ChunkStore
from ..prompts import rng_for, seed_for
from ..strategy import Strategy, keep_new, register

EVOLUTIONS = ("constraints", "deepen", "concretize", "reasoning", "breadth")
COPY_ROUGE = 0.9  # ROUGE-L F to its parent at or above which an evolution is a copy
_LEAK = re.compile(
    r"given prompt|rewritten prompt|#\s*(?:given|rewritten|created)\b|^task\s*:\s*$|no answer\.?$"
    r"|the new task must|harder version of it",
    re.I | re.M,
)
# The directive echoed before the rewrite ("Rewrite the task into a harder version of it: ...").
_ECHO = re.compile(r"^\s*rewrite (?:this|the) task into a harder version of it\s*:\s*", re.I)
_LABEL = re.compile(r"^\s*(?:#+\s*)?\**(?:rewritten|new|created|evolved)?\s*(?:task|prompt)\s*#?\s*:\**\s*", re.I)


@register
class Evol(Strategy):
    name = "evol"
    steps = ("evol",)

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        return evolve(ctx, store, first, count)

    def check_answer(self, task: Task, answer: str) -> Reject | None:
        if "sorry" in answer.lower() and len(answer.split()) < 80:
            return Reject("evol_failed", "the teacher declined to answer it")
        return None


def given_text(task: Task) -> str:
    """A task as one prompt: its instruction, and the first instance's input under it."""
    inp = task.instances[0].input.strip() if task.instances else ""
    return f"{task.instruction.strip()}\n\n{inp}" if inp else task.instruction.strip()


def evolve(ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
    """-> (evolved candidates, eliminated evolutions with their reason). Request i evolves a parent
    and an evolution drawn from (run seed, round, i): a relaunch asks the same again."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    parents = ctx.seeds + ctx.generated
    requests, by_id = [], {}
    for i in range(first, first + count):
        rng = rng_for(ctx.cfg.run.seed, ctx.round, "evol", i)
        parent, op = rng.choice(parents), rng.choice(EVOLUTIONS)
        by_id[parent.id] = parent
        text = render(g.templates, "evolve", "chat", op=op, given=given_text(parent))
        requests.append(
            make_request(
                text,
                "chat",
                max_tokens=t.max_tokens,
                temperature=g.evol_temperature,
                top_p=t.top_p,
                seed=seed_for(ctx.cfg.run.seed, ctx.round, "evol", i),
                meta={"evol": i, "parent": parent.id, "op": op},
            )
        )
    ctx.counts["evol_prompts"] += count
    made: list[Task] = []
    for comp in ctx.run("evol", requests, store):
        if comp.finish_reason == "error":
            continue
        parent, op = by_id[comp.meta["parent"]], comp.meta["op"]
        task = Task(
            instruction=clean_evolution(comp.text),
            round=ctx.round,
            parents=[parent.id],
            teacher=ctx.teacher.name,
            strategy="evol",
            evolution=op,
            is_classification=False,
        )
        task.reject = eliminate(task, parent, comp.finish_reason)
        made.append(task)
    return keep_new(ctx, made)


def clean_evolution(text: str) -> str:
    """The rewritten task without the labels and quotes small teachers wrap it in."""
    text = _LABEL.sub("", _ECHO.sub("", text.strip(), count=1), count=1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    if text.count('"') == 1:  # a quote opened and never closed
        text = text.replace('"', "").strip()
    return text


def eliminate(task: Task, parent: Task, finish_reason: str = "stop") -> Reject | None:
    """WizardLM's elimination of failed evolutions, before any answer: cut off, talking about the
    rewriting prompt instead of being a task, or no real change from its parent."""
    if finish_reason == "length":
        return Reject("evol_failed", "cut off")
    if not task.instruction:
        return Reject("evol_failed", "empty")
    if _LEAK.search(task.instruction):
        return Reject("evol_failed", "it talks about the rewriting prompt")
    # Its whole text, its instruction alone or its input alone: a small teacher echoes any of them.
    parts = [given_text(parent), parent.instruction] + [i.input for i in parent.instances[:1] if i.input.strip()]
    _, best, _ = rouge_filter([task.instruction], parts, COPY_ROUGE)
    if best[0] >= COPY_ROUGE:
        return Reject("evol_copy", f"of={parent.id}, rouge={best[0]:.2f}")
    return None
