"""Rewriting a given text, with a checkable constraint: the teacher continues a numbered list of tasks that
work on material they are given (rewrite the following email more politely, summarize the given review,
turn these notes into a list: prompts/instructions_rewrite*.jinja); the engine attaches one IFEval
constraint to each, as the constrained strategy does; the round writes the text (the input) and then the
answer on it, as Self-Instruct's input-first instances; the verify step keeps it where if-verifiable's
checker finds the constraint kept. What it adds to a mix: tasks with an input (seven in ten of the
public seeds have one; the constrained and verified strategies' tasks almost never do), on which a small
teacher's answer depends on the text in front of it, not on what it knows.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ...records import Task
from ...store import ChunkStore
from .. import steps
from ..strategy import Strategy, register
from .constrained import bare, sort_out, with_constraint

# What a rewriting task asks: a change to a given text, not a fact about it (a translation is left out: the
# teacher's other languages are weak, and nothing here checks them).
_REWRITE = re.compile(
    r"^(?:please\s+)?(?:re-?write|re-?phrase|reword|paraphrase|summari[sz]e|shorten|condense|simplify|edit|"
    r"proofread|polish|improve|revise|expand|turn|restructure|reformat|make\b[^.?]*\b(?:more|less)\b)",
    re.I,
)


@register
class Rewrite(Strategy):
    name = "rewrite"
    steps = ("rewrite",)
    listed = True  # its text is written by the round's input step, then answered on (steps.write_instances)

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        made = steps.propose(ctx, store, first, count, strategy=self.name, pools=rewrite_pools)
        asks, other = sort_out(made, lambda task: asks_to_rewrite(task.instruction), "not_rewriting")
        # not a classification, whatever its neighbours are: "Summarize the review" sits among the seeds'
        # sentiment tasks, and an output-first instance would write a label, not a text
        return [replace(with_constraint(ctx, task), is_classification=False) for task in asks], other


def asks_to_rewrite(instruction: str) -> bool:
    """A change to material the task points at ("the following email", "this paragraph"), not to code."""
    from ...filter.quality import needs_input
    from ...verify.kinds import asks_for_code

    return bool(_REWRITE.match(instruction.strip())) and needs_input(instruction) and not asks_for_code(instruction)


def rewrite_pools(ctx) -> tuple[list[Task], list[Task]]:
    """In-context pools: the seeds that ask to rewrite a text they are given, padded with the other seeds that
    take an input and are neither classification nor code, to two samples' worth; and the rewriting tasks
    that kept their constraint, shown bare."""
    from ...verify.kinds import asks_for_code

    with_input = [
        s
        for s in ctx.seeds
        if s.instances and s.instances[0].input.strip() and not s.is_classification and not asks_for_code(s.instruction)
    ]
    rewriting = [s for s in with_input if _REWRITE.match(s.instruction.strip())]
    need = 2 * ctx.cfg.generate.in_context_seed
    pool = rewriting + [s for s in with_input if s not in rewriting][: max(0, need - len(rewriting))]
    kept = [bare(t) for t in ctx.generated if t.strategy == "rewrite"]
    return pool or ctx.seeds, kept
