"""The three teacher steps of a Self-Instruct round, each: build requests -> run_step -> parse.

1. propose:  in-context task lists -> new instructions (numbered-list continuation)
2. classify: each new instruction -> is it a classification task? (few-shot yes/no)
3. instances: each instruction -> one example; output-first for classification (label, then an
   input of that label), input-first for the rest.

Requests are built deterministically from (run seed, round, index), so a relaunch rebuilds the
same requests, finds their chunks committed, and never asks the teacher again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from ..config import Config
from ..records import Task
from ..store import ChunkStore
from ..teachers.base import Completion, Teacher, run_step
from .parse import parse_instance, parse_instructions, parse_is_classification
from .prompts import few_shot_examples, make_request, render, rng_for, sample_in_context, seed_for


@dataclass
class StepContext:
    cfg: Config
    teacher: Teacher
    round: int
    seeds: list[Task]
    generated: list[Task]  # accepted in earlier rounds
    counts: Counter = field(default_factory=Counter)
    on_chunk: Callable[[str, list[Completion], float], None] | None = None
    weights: dict[str, float] | None = None  # over-sampling of generated in-context tasks
    seen: set[str] = field(default_factory=set)  # instructions proposed so far this round

    @property
    def style(self) -> str:
        return self.cfg.teacher.prompt_style

    def run(self, name: str, requests: list, store: ChunkStore) -> list[Completion]:
        cb = (lambda outs, wall: self.on_chunk(name, outs, wall)) if self.on_chunk else None
        outs = run_step(self.teacher, requests, store, self.cfg.teacher.chunk_size, on_chunk=cb)
        self.counts[f"{name}_errors"] += sum(o.finish_reason == "error" for o in outs)
        self.counts[f"{name}_truncated"] += sum(o.finish_reason == "length" for o in outs)
        return outs


def propose(ctx: StepContext, store: ChunkStore, batch: int = 0) -> list[Task]:
    """Asks for new instructions; returns raw candidates (no instances yet), exact duplicates dropped.
    Batch b of a round uses prompt numbers [b*P, (b+1)*P): each batch's prompts are new ones."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    requests = []
    for i in range(batch * g.prompts_per_round, (batch + 1) * g.prompts_per_round):
        rng = rng_for(ctx.cfg.run.seed, ctx.round, "propose", i)
        shown = sample_in_context(ctx.seeds, ctx.generated, g.in_context, g.in_context_seed, rng, ctx.weights)
        text = render(g.templates, "instructions", ctx.style, tasks=shown, n_new=g.max_new_per_prompt)
        requests.append(make_request(
            text, ctx.style, max_tokens=t.max_tokens if g.max_new_per_prompt > 1 else min(t.max_tokens, 48),
            temperature=t.temperature, top_p=t.top_p, stop=_propose_stop(len(shown), g.max_new_per_prompt),
            seed=seed_for(ctx.cfg.run.seed, ctx.round, "propose", i),
            meta={"prompt": i, "parents": [s.id for s in shown]}))
    ctx.counts["prompts"] += len(requests)
    out: list[Task] = []
    for comp in ctx.run("propose", requests, store):
        if comp.finish_reason == "error":
            continue
        for text in parse_instructions(comp.text, comp.finish_reason)[: g.max_new_per_prompt]:
            ctx.counts["proposed"] += 1
            task = Task(instruction=text, round=ctx.round, parents=comp.meta.get("parents", []),
                        teacher=ctx.teacher.name)
            if task.id in ctx.seen:
                ctx.counts["duplicate_in_round"] += 1
                continue
            ctx.seen.add(task.id)
            out.append(task)
    return out


def _propose_stop(shown: int, n_new: int) -> list[str]:
    # Small base models write one fresh task and then loop on copies ("Task 10: ..." again and
    # again): with n_new == 1 each prompt stops at the end of its first line, and more prompts
    # are sent instead (they share a prefix-cached start, so prefill is cheap).
    if n_new == 1:
        return ["\n"]
    last = shown + n_new + 1
    return [f"Task {last}", f"\n{last}."]


def classify(ctx: StepContext, tasks: list[Task], store: ChunkStore) -> None:
    """Sets is_classification on each task (unparsable answers count as 'no': input-first is the safe side)."""
    pool = ctx.seeds + ctx.generated
    requests = []
    for task in tasks:
        rng = rng_for(ctx.cfg.run.seed, ctx.round, "classify", task.id)
        yes = [s for s in pool if s.is_classification]
        no = [s for s in pool if s.is_classification is False]
        yes, no = rng.sample(yes, min(4, len(yes))), rng.sample(no, min(4, len(no)))
        examples = yes + no
        rng.shuffle(examples)
        text = render(ctx.cfg.generate.templates, "classify", ctx.style, examples=examples, instruction=task.instruction)
        requests.append(make_request(text, ctx.style, max_tokens=3, temperature=0.0, top_p=1.0, stop=["\n"],
                                     seed=0, meta={"task": task.id}))
    by_task = {c.meta.get("task"): c for c in ctx.run("classify", requests, store)}
    for task in tasks:
        comp = by_task.get(task.id)
        verdict = parse_is_classification(comp.text) if comp else None
        ctx.counts["classify_unparsed"] += verdict is None
        task.is_classification = bool(verdict)
        ctx.counts["classification"] += bool(verdict)


def write_instances(ctx: StepContext, tasks: list[Task], store: ChunkStore) -> list[Task]:
    """Adds instances; returns the tasks for which none could be parsed, with the reason set."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    pool = ctx.seeds + ctx.generated
    requests = []
    for task in tasks:
        for k in range(g.instances_per_task):
            rng = rng_for(ctx.cfg.run.seed, ctx.round, "instances", task.id, k)
            step = "instances_output_first" if task.is_classification else "instances"
            examples = few_shot_examples(pool, bool(task.is_classification), 3, rng)
            text = render(g.templates, step, ctx.style, examples=examples, instruction=task.instruction)
            requests.append(make_request(
                text, ctx.style, max_tokens=t.max_tokens, temperature=t.temperature, top_p=t.top_p,
                stop=["\nTask:"], seed=seed_for(ctx.cfg.run.seed, ctx.round, "instances", task.id, k),
                meta={"task": task.id, "k": k}))
    by_task: dict[str, list[Completion]] = {}
    for comp in ctx.run("instances", requests, store):
        by_task.setdefault(comp.meta.get("task"), []).append(comp)
    failed = []
    for task in tasks:
        reasons = Counter()
        for comp in by_task.get(task.id, []):
            if comp.finish_reason == "error":
                reasons["teacher_error"] += 1
                continue
            inst, why = parse_instance(comp.text, bool(task.is_classification), comp.finish_reason)
            if inst is None:
                reasons[why] += 1
            elif inst not in task.instances:
                task.instances.append(inst)
        if not task.instances:
            task.reject_reason = f"no_valid_instance({', '.join(sorted(reasons)) or 'no answer'})"
            failed.append(task)
        task.id = task.key()  # the key covers instances now that they exist
    return failed
