"""A strategy: one way a round makes new instructions, as one small registered class.

    @register
    class Shorten(Strategy):
        name = "shorten"                  # what generate.strategy names
        steps = ("shorten",)              # its teacher steps: the first holds its proposals

        def propose(self, ctx, store, first, count):
            requests = [...]              # request i built from (run seed, round, i): a relaunch asks the same
            made = [Task(instruction=c.text.strip(), round=ctx.round, strategy=self.name, ...)
                    for c in ctx.run(self.steps[0], requests, store) if c.finish_reason == "stop"]
            return keep_new(ctx, made)

A strategy proposes instructions; everything after is the round's (round.py). A `listed` strategy
proposes bare instructions, which get classify and written instances (Self-Instruct's two-step
instances); the others write self-contained prompts, answered directly (`respond`), and may check
an answer (`check_answer`) or grow the task after it (`finish`: multi_turn's later turns). Then
every task goes through the same filters, stores and resume. A module in generate/strategies/
registers itself when the registry is first read: a new strategy is that one file (and its prompt
template, if it has one). The built-in strategies are there too, and show the patterns.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from ..records import Instance, Reject, Task
from ..store import ChunkStore
from .prompts import seed_for
from .steps import answer_request

if TYPE_CHECKING:
    from .steps import StepContext

# Steps every strategy's tasks may pass through, owned by none: direct answers, the judge, the verifiers.
SHARED_STEPS = ("respond", "judge", "verify", "agree")
# The built-in strategies, in the order a mix is split in (ties go to the first); plug-ins follow by name.
BUILT_IN = ("self_instruct", "evol", "magpie", "verified", "multi_turn", "constrained", "rewrite")


class Strategy:
    name: ClassVar[str] = ""
    steps: ClassVar[tuple[str, ...]] = ()  # its teacher steps (store names); the first holds its proposals
    listed: ClassVar[bool] = False  # bare instructions: classify and written instances, not `respond`

    def key(self, count: str) -> str:
        """Its name for a round count ("prompts", "proposed", "novel"): Self-Instruct's are unprefixed."""
        return count if self.name == "self_instruct" else f"{self.name}_{count}"

    def requests(self, ctx: StepContext, need: int) -> int:
        """Requests for `need` novel tasks, at the rate this round has measured for this strategy
        (first_rate before any), at most generate.prompts_per_round."""
        made, asked = ctx.counts[self.key("novel")], ctx.counts[self.key("prompts")]
        rate = made / asked if made else self.first_rate(ctx)
        return max(1, min(math.ceil(need / max(rate, 0.05)), ctx.cfg.generate.prompts_per_round))

    def first_rate(self, ctx: StepContext) -> float:
        return 1.0

    def propose(self, ctx: StepContext, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        """Requests [first, first + count) -> (new candidates, failed ones with their reason)."""
        raise NotImplementedError

    def check_answer(self, task: Task, answer: str) -> Reject | None:
        """A direct answer that means the task failed (evol's declined rewrites); None: it stands."""
        return None

    def finish(
        self, ctx: StepContext, tasks: list[Task], store: Callable[[str], ChunkStore], progress=None
    ) -> tuple[list[Task], list[Task]]:
        """After the answers: -> (`tasks`, the ones of this strategy that failed). Others pass through."""
        return tasks, []


REGISTRY: dict[str, Strategy] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    if not cls.name or not cls.steps:
        raise ValueError(f"{cls.__name__}: a strategy needs a name and its steps")
    old = REGISTRY.get(cls.name)
    if old is not None and type(old).__qualname__ != cls.__qualname__:  # a module read twice registers again
        raise ValueError(f"two strategies named {cls.name!r}: {type(old).__qualname__} and {cls.__qualname__}")
    REGISTRY[cls.name] = cls()
    return cls


def registry() -> dict[str, Strategy]:
    """Every registered strategy, the modules of generate/strategies/ imported first: built-ins in
    BUILT_IN's order, then the others by name."""
    from . import strategies

    mods = [m.name for m in pkgutil.iter_modules(strategies.__path__)]
    for mod in sorted(mods, key=lambda m: (BUILT_IN.index(m) if m in BUILT_IN else len(BUILT_IN), m)):
        importlib.import_module(f"{strategies.__name__}.{mod}")
    ordered = sorted(REGISTRY, key=lambda s: (BUILT_IN.index(s) if s in BUILT_IN else len(BUILT_IN), s))
    return {s: REGISTRY[s] for s in ordered}


def strategy(name: str) -> Strategy:
    known = registry()
    if name not in known:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(known)}")
    return known[name]


def teacher_steps() -> tuple[str, ...]:
    """Every step a round may ask the teacher in: the strategies' own, then the shared ones."""
    return tuple(dict.fromkeys([*(s for st in registry().values() for s in st.steps), *SHARED_STEPS]))


def split(need: int, shares: dict[str, float]) -> dict[str, int]:
    """`need` tasks over strategies by share (largest remainder, ties in the shares' order)."""
    exact = {s: need * p for s, p in shares.items()}
    out = {s: math.floor(v) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: -(exact[s] - out[s]))[: need - sum(out.values())]:
        out[s] += 1
    return out


def keep_new(ctx: StepContext, tasks: list[Task]) -> tuple[list[Task], list[Task]]:
    """-> (the proposals new to this round, those failed already); each counted as proposed."""
    out: list[Task] = []
    dropped: list[Task] = []
    for task in tasks:
        ctx.counts[strategy(task.strategy).key("proposed")] += 1
        if task.reject:
            dropped.append(task)
        elif task.id in ctx.seen:
            ctx.counts["duplicate_in_round"] += 1
        else:
            ctx.seen.add(task.id)
            out.append(task)
    return out, dropped


def respond(ctx: StepContext, tasks: list[Task], store: ChunkStore) -> tuple[list[Task], list[Task]]:
    """The teacher answers each self-contained task -> (with their one instance, failed with the reason),
    through the same answer prompt as Self-Instruct's two-step answers."""
    requests = [
        answer_request(
            ctx,
            task.instruction,
            "",
            seed_for(ctx.cfg.run.seed, ctx.round, "respond", task.id),
            {"respond": task.id, "strategy": task.strategy},
        )
        for task in tasks
    ]
    by_task = {c.meta.get("respond"): c for c in ctx.run("respond", requests, store)}
    done: list[Task] = []
    failed: list[Task] = []
    for task in tasks:
        comp = by_task.get(task.id)
        answer = comp.text.strip() if comp is not None and comp.finish_reason == "stop" else ""
        # id="": the key covers the instance now that it exists
        made = replace(
            task,
            instances=[Instance("", answer)] if answer else [],
            id="",
            scores=dict(task.scores),
            parents=list(task.parents),
        )
        if not answer:
            why = (
                "teacher_error"
                if comp is None or comp.finish_reason == "error"
                else ("truncated" if comp.finish_reason == "length" else "empty_output")
            )
            made.reject = Reject("no_valid_instance", why)
        else:
            made.reject = strategy(task.strategy).check_answer(made, answer)
        (failed if made.reject else done).append(made)
    return done, failed
