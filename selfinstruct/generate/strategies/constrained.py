"""Constrained writing (AutoIF, Tulu 3's verifiable instruction following): the teacher continues a numbered
list of writing tasks (emails, stories, descriptions, tips: prompts/instructions_constrained*.jinja), the
engine attaches one IFEval constraint to each in constraints.py's "train" phrasings (never the eval's),
the teacher answers it directly, and the verify step keeps it only where if-verifiable's checker says the
answer keeps that constraint (checks["constraints"]). What it adds to a mix: open tasks a program checks
in part, where verified's are code and numbers.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace

from ... import constraints
from ...records import Reject, Task
from ...store import ChunkStore
from .. import steps
from ..prompts import seed_for
from ..strategy import Strategy, register

# Constraints an answer keeps without changing what it says or how it reads: the student learns from
# these answers, and a whole answer in capitals, JSON or quotation marks would teach it that style.
TYPES = (
    "length_constraints:number_sentences",
    "length_constraints:number_words",
    "detectable_format:number_bullet_lists",
    "keywords:existence",
    "keywords:forbidden_words",
)
# A task that sets its own length ("a four-sentence story", "a list of five names") gets no length or
# list constraint: "Write a four-sentence poem. Use less than 3 sentences." contradicts itself.
_OWN_SIZE = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten)[- ](?:sentences?|lines?|words?|steps?|items?|"
    r"paragraphs?|verses?|stanzas?|bullet|points?|tips|ideas|names|ways|reasons|questions|examples)\b|"
    r"\b(?:haiku|limerick|sonnet|acrostic)\b",
    re.I,
)
_FREE = tuple(t for t in TYPES if t.startswith("keywords:"))
# The header of the list prompt, copied back as a task ("Each task is one clear instruction ...").
_ECHO = re.compile(r"clear instruction|looking anything up|writing tasks|self-contained", re.I)
# A request to write something: the teacher, asked for writing tasks, also writes questions ("What is the
# name of the city with the most parks?"), and those it answers wrong more often than not.
_WRITE = re.compile(
    r"^(?:please\s+)?(?:write|compose|create|draft|generate|make|suggest|list|give|come up with|brainstorm|plan)\b",
    re.I,
)


@register
class Constrained(Strategy):
    name = "constrained"
    steps = ("constrained",)

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        made = steps.propose(ctx, store, first, count, strategy=self.name, pools=writing_pools)
        asks, other = sort_out(made, _asks_to_write, "not_writing")
        return [with_constraint(ctx, task) for task in asks], other


def sort_out(made: list[Task], wanted, why: str) -> tuple[list[Task], list[Task]]:
    """-> (the proposals `wanted` keeps, the others rejected as `why`, with their start as the detail)."""
    asks, other = [], []
    for task in made:
        if wanted(task):
            asks.append(task)
        else:
            task.reject = Reject(why, task.instruction[:40])
            other.append(task)
    return asks, other


def with_constraint(ctx, task: Task) -> Task:
    """The task with one constraint appended, drawn from (run seed, round, task): a relaunch draws the same."""
    rng = random.Random(seed_for(ctx.cfg.run.seed, ctx.round, "constrained_attach", task.id))
    types = _FREE if _OWN_SIZE.search(task.instruction) else TYPES
    text, specs = constraints.attach(task.instruction, rng, pool="train", k=1, types=types)
    return replace(
        task,
        instruction=text,
        id="",
        checks={**task.checks, "specs": json.dumps(specs)},
        scores=dict(task.scores),
        parents=list(task.parents),
    )


def bare(task: Task) -> Task:
    """The task as the teacher wrote it, its attached constraint taken off (for in-context lists)."""
    return replace(task, instruction=constraints.own_words(task.instruction, task.checks))


def writing_pools(ctx) -> tuple[list[Task], list[Task]]:
    """In-context pools: the seeds that ask to write something with no input and no code (shown questions,
    the teacher writes questions), padded with other open seeds to two samples' worth; and the constrained
    tasks that kept their constraint, shown bare."""
    from ...verify.kinds import asks_for_code, kind_of

    open_seeds = [
        s
        for s in ctx.seeds
        if s.instances
        and not s.instances[0].input.strip()
        and not s.is_classification
        and kind_of(s.instruction, "", s.instances[0].output) == "open"
    ]
    writing = [
        s
        for s in ctx.seeds
        if s.instances and not s.instances[0].input.strip() and _asks_to_write(s) and not asks_for_code(s.instruction)
    ]
    need = 2 * ctx.cfg.generate.in_context_seed
    pool = writing + [s for s in open_seeds if s not in writing][: max(0, need - len(writing))]
    kept = [bare(t) for t in ctx.generated if t.strategy == "constrained"]
    return pool or ctx.seeds, kept


def _asks_to_write(task: Task) -> bool:
    text = task.instruction
    return bool(_WRITE.match(text)) and not text.rstrip().endswith("?") and not _ECHO.search(text)
