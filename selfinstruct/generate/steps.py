"""The three teacher steps of a Self-Instruct round, each: build requests -> run_step -> parse.

1. propose:  in-context task lists -> new instructions (numbered-list continuation)
2. classify: each new instruction -> is it a classification task? (few-shot yes/no)
3. instances: each instruction -> one example; output-first for classification (label, then an
   input of that label), input-first for the rest.

Requests are built deterministically from (run seed, round, index), so a relaunch rebuilds the
same requests, finds their chunks committed, and never asks the teacher again.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, cast

import numpy as np

from ..config import Config
from ..constraints import own_words
from ..filter.quality import needs_input, self_contained_question
from ..prompting import make_request, render
from ..records import Instance, Reject, Task
from ..store import ChunkStore
from ..teachers.base import Completion, Teacher, run_step
from ..verify.kinds import asks_for_code
from .parse import parse_input, parse_instance, parse_instructions, parse_is_classification
from .prompts import few_shot_examples, rng_for, sample_in_context, seed_for
from .tails import bounded

if TYPE_CHECKING:
    from ..filter.pipeline import Filter


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
    filter: Filter | None = None  # the run's, kept between batches and rounds (its pool index, its held-out tasks)
    novel_per_prompt: float | None = None  # measured by the last round: sizes this round's first batch
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step
    token_limits: dict[str, int] = field(default_factory=dict)  # per step, from earlier rounds (tails.py)

    def style(self, step: str) -> str:
        return self.cfg.teacher.style(step)

    @contextmanager
    def timed(self, step: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0) + time.perf_counter() - t0

    def prompts_for(self, instructions: int) -> int:
        """Propose prompts for `instructions` novel ones, at the rate measured so far in this round, or
        the last round's; before any, as if each prompt's instructions were all novel (asking too few
        costs one more batch, too many only carries them over). In whole in-context samples, at most
        generate.prompts_per_round."""
        g = self.cfg.generate
        rate = (
            self.counts["novel"] / self.counts["prompts"]
            if self.counts["novel"]
            else self.novel_per_prompt or float(g.max_new_per_prompt)
        )
        per = g.completions_per_prompt
        count = per * math.ceil(instructions / max(rate, 0.05) / per)
        return max(per, min(count, g.prompts_per_round))

    def run(self, name: str, requests: list, store: ChunkStore, teacher: Teacher | None = None) -> list[Completion]:
        """A step's requests through the teacher (or another model: verify's second answers), counted."""
        on_chunk = self.on_chunk  # a local: mypy keeps its narrowing inside the lambda
        cb = (lambda outs, wall: on_chunk(name, outs, wall)) if on_chunk else None
        requests = bounded(requests, self.token_limits.get(name))
        outs = run_step(teacher or self.teacher, requests, store, self.cfg.teacher.chunk_size, on_chunk=cb)
        self.counts[f"{name}_errors"] += sum(o.finish_reason == "error" for o in outs)
        self.counts[f"{name}_truncated"] += sum(o.finish_reason == "length" for o in outs)
        return outs


def propose(
    ctx: StepContext,
    store: ChunkStore,
    first: int = 0,
    count: int | None = None,
    strategy: str = "self_instruct",
    pools: Callable[[StepContext], tuple[list[Task], list[Task]]] | None = None,
) -> list[Task]:
    """Asks for new instructions; returns raw candidates (no instances yet), exact duplicates dropped.
    Prompts are numbered in the round: a batch asks [first, first + count), so each batch's are new
    (count: generate.prompts_per_round when not given). Another strategy than Self-Instruct uses its own
    template (instructions_<strategy>) and in-context pools (`pools`: (seeds, generated); verified's by
    default, the seeds and tasks a program could check, verify/kinds.py)."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    step = "propose" if strategy == "self_instruct" else strategy
    prefix = "" if strategy == "self_instruct" else f"{strategy}_"
    seeds, generated = (ctx.seeds, ctx.generated) if strategy == "self_instruct" else (pools or _checkable_first)(ctx)
    requests = []
    for i in range(first, first + (g.prompts_per_round if count is None else count)):
        # completions_per_prompt requests share one in-context sample (and their prefill, through the
        # prefix cache); each has its own sampling seed, so each writes its own "first" new task.
        rng = rng_for(ctx.cfg.run.seed, ctx.round, step, i // g.completions_per_prompt)
        shown = sample_in_context(seeds, generated, g.in_context, g.in_context_seed, rng, ctx.weights)
        template = "instructions" if strategy == "self_instruct" else f"instructions_{strategy}"
        text = render(g.templates, template, ctx.style("propose"), tasks=shown, n_new=g.max_new_per_prompt)
        requests.append(
            make_request(
                text,
                ctx.style("propose"),
                max_tokens=t.max_tokens if g.max_new_per_prompt > 1 else min(t.max_tokens, 48),
                temperature=t.temperature,
                top_p=t.top_p,
                stop=_propose_stop(len(shown), g.max_new_per_prompt),
                seed=seed_for(ctx.cfg.run.seed, ctx.round, step, i),
                meta={"prompt": i, "parents": [s.id for s in shown]},
            )
        )
    ctx.counts[prefix + "prompts"] += len(requests)
    out: list[Task] = []
    for comp in ctx.run(step, requests, store):
        if comp.finish_reason == "error":
            continue
        for text in parse_instructions(comp.text, comp.finish_reason)[: g.max_new_per_prompt]:
            ctx.counts[prefix + "proposed"] += 1
            task = Task(
                instruction=text,
                round=ctx.round,
                parents=comp.meta.get("parents", []),
                teacher=ctx.teacher.name,
                strategy=strategy,
            )
            if task.id in ctx.seen:
                ctx.counts["duplicate_in_round"] += 1
                continue
            ctx.seen.add(task.id)
            out.append(task)
    return out


def _checkable_first(ctx: StepContext) -> tuple[list[Task], list[Task]]:
    """In-context pools for the verified strategy: the seeds a program could check (all seeds when
    too few are), and the generated tasks a verifier passed (all of them when none did yet)."""
    from ..verify.kinds import kind_of

    g = ctx.cfg.generate
    checkable = [
        s
        for s in ctx.seeds
        if s.instances
        and kind_of(s.instruction, s.instances[0].input, s.instances[0].output, s.is_classification) != "open"
    ]
    # Too few checkable seeds would show every prompt the same handful: pad with the others.
    seeds = (
        checkable
        if len(checkable) >= 2 * g.in_context_seed
        else checkable + [s for s in ctx.seeds if s not in checkable][: 2 * g.in_context_seed - len(checkable)]
    )
    proven = [
        t
        for t in ctx.generated
        if t.checks.get("execution", "").startswith("passed")
        or t.checks.get("computation", "").startswith(("agrees", "repaired"))
    ]
    return seeds, proven or ctx.generated


def _propose_stop(shown: int, n_new: int) -> list[str]:
    # Small base models write one fresh task and then loop on copies ("Task 10: ..." again and
    # again): with n_new == 1 each prompt stops at the end of its first line, and more prompts
    # are sent instead (they share a prefix-cached start, so prefill is cheap).
    if n_new == 1:
        return ["\n"]
    # A blank line ends the list: what follows is the model talking about it, not a task.
    last = shown + n_new + 1
    return [f"Task {last}", f"\n{last}.", "\n\n"]


def classify(ctx: StepContext, tasks: list[Task], store: ChunkStore) -> None:
    """Sets is_classification on each task: by the teacher (few-shot yes/no; unparsable answers count
    as 'no': input-first is the safe side), or by generate.classify_with: neighbours."""
    if ctx.cfg.generate.classify_with == "neighbours":
        return classify_by_neighbours(ctx, tasks)
    pool = ctx.seeds + ctx.generated
    # One set of examples for the whole round: every prompt then shares its long start, which the
    # engine's prefix cache computes once (prefill is most of a CPU teacher's time).
    rng = rng_for(ctx.cfg.run.seed, ctx.round, "classify")
    yes = [s for s in pool if s.is_classification]
    no = [s for s in pool if s.is_classification is False]
    half = ctx.cfg.generate.classify_shots // 2
    examples = rng.sample(yes, min(half, len(yes))) + rng.sample(no, min(half, len(no)))
    rng.shuffle(examples)
    requests = []
    for task in tasks:
        text = render(
            ctx.cfg.generate.templates,
            "classify",
            ctx.style("classify"),
            examples=examples,
            instruction=task.instruction,
        )
        requests.append(
            make_request(
                text,
                ctx.style("classify"),
                max_tokens=3,
                temperature=0.0,
                top_p=1.0,
                stop=["\n"],
                seed=0,
                meta={"task": task.id},
            )
        )
    by_task = {c.meta.get("task"): c for c in ctx.run("classify", requests, store)}
    for task in tasks:
        comp = by_task.get(task.id)
        verdict = parse_is_classification(comp.text) if comp else None
        ctx.counts["classify_unparsed"] += verdict is None
        task.is_classification = bool(verdict)
        ctx.counts["classification"] += bool(verdict)


def classify_by_neighbours(ctx: StepContext, tasks: list[Task]) -> None:
    """The label most of the k most similar *seed* instructions have (their labels are a person's;
    a generated task's label is only ever a guess). No teacher request: the vectors are the novelty
    filter's, already cached."""
    from ..filter.embed import embed_tasks

    labelled = [s for s in ctx.seeds if s.is_classification is not None]
    if not tasks or not labelled:
        return
    embed = ctx.filter.embed if ctx.filter is not None else (lambda ts: embed_tasks(ts, ctx.cfg.filter.novelty))
    sims = embed(tasks) @ embed(labelled).T
    k = min(ctx.cfg.generate.classify_neighbours, len(labelled))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    yes = np.array([bool(s.is_classification) for s in labelled])
    for task, votes in zip(tasks, yes[top].mean(axis=1)):
        task.is_classification = bool(votes > 0.5)
        ctx.counts["classification"] += task.is_classification


def _two_step(ctx: StepContext, task: Task) -> bool:
    """Input-first tasks of a chat teacher with generate.answer_step: one request writes the input,
    a second one answers the task on it (the teacher's natural mode, not a filled-in form)."""
    return bool(ctx.cfg.generate.answer_step and not task.is_classification and ctx.style("instances") == "chat")


def _no_input(ctx: StepContext, task: Task) -> bool:
    """A self-contained question ("How many legs does an octopus have?") is answered without an
    input request: 12 of the 14 such seeds have no input, and a written one gave the answer away
    ("An octopus has 8 legs.") or did not belong to the question (hand labels, docs/results.md). So is a
    request for code when verification is on: its tests bring the inputs, and the input written for
    one was often the solution itself (docs/results.md "Verified data")."""
    if not _two_step(ctx, task):
        return False
    if ctx.cfg.filter.verify.enabled and asks_for_code(task.instruction):
        return True
    return not ctx.cfg.generate.input_for_questions and self_contained_question(task.instruction)


def _strategy(task: Task) -> dict[str, str]:
    """A request's strategy, for the round's split of teacher tokens by strategy; Self-Instruct's are
    left unnamed (the step names them), so its request ids stay as they were."""
    return {} if task.strategy == "self_instruct" else {"strategy": task.strategy}


def _no_input_ids(task: Task, n: int) -> list[str]:
    return [f"{task.id}/noinput/{k}" for k in range(n)]


def write_instances(
    ctx: StepContext, tasks: list[Task], store: ChunkStore, answer_store: ChunkStore | None = None
) -> tuple[list[Task], list[Task]]:
    """-> (the tasks with their instances, the ones for which none could be parsed, with the reason).
    Both are new records, keyed by instruction and instances; `tasks` is left as it was."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    pool = ctx.seeds + ctx.generated
    requests = []
    # Examples fixed per round and kind, for the prefix cache (as in classify).
    shots = {
        kind: few_shot_examples(pool, kind, 3, rng_for(ctx.cfg.run.seed, ctx.round, "instances", kind))
        for kind in (False, True)
    }
    for task in tasks:
        for k in range(0 if _no_input(ctx, task) else g.instances_per_task):
            step = "instances_output_first" if task.is_classification else "instances"
            step = "instances_input" if _two_step(ctx, task) else step
            examples = shots[bool(task.is_classification)]
            # the input is written for the task itself: an attached "Answer in less than 3 sentences." is the answer's
            shown = own_words(task.instruction, task.checks) if step == "instances_input" else task.instruction
            text = render(
                g.templates,
                step,
                ctx.style("instances"),
                examples=examples,
                instruction=shown,
                needs_input=needs_input(task.instruction),
            )
            requests.append(
                make_request(
                    text,
                    ctx.style("instances"),
                    max_tokens=t.max_tokens,
                    temperature=t.temperature,
                    top_p=t.top_p,
                    stop=["\nTask:"],
                    seed=seed_for(ctx.cfg.run.seed, ctx.round, "instances", task.id, k),
                    meta={"task": task.id, "k": k, **_strategy(task)},
                )
            )
    by_task: dict[str, list[Completion]] = {}
    for comp in ctx.run("instances", requests, store):
        # cast: every request above carries its task's id in meta, which is dict[str, Any]
        by_task.setdefault(cast(str, comp.meta.get("task")), []).append(comp)
    answers = _answers(ctx, tasks, by_task, answer_store) if answer_store is not None else {}
    done: list[Task] = []
    failed: list[Task] = []
    for task in tasks:
        reasons: Counter[str] = Counter()
        instances: list[Instance] = []
        for inst, why in _written(ctx, task, by_task.get(task.id, []), answers):
            if inst is None:
                reasons[why] += 1
            elif inst not in instances:
                instances.append(inst)
        # id="": the key covers the instances now that they exist
        made = replace(task, instances=instances, id="", scores=dict(task.scores), parents=list(task.parents))
        if not instances:
            made.reject = Reject("no_valid_instance", ", ".join(sorted(reasons)) or "no answer")
        (done if instances else failed).append(made)
    return done, failed


def _written(
    ctx: StepContext, task: Task, comps: list[Completion], answers: dict[str, tuple[Instance | None, str]]
) -> list[tuple[Instance | None, str]]:
    """(instance or None, why not) per instance request of `task`."""
    if _no_input(ctx, task):
        return [
            answers.get(rid, (None, "truncated")) for rid in _no_input_ids(task, ctx.cfg.generate.instances_per_task)
        ]
    out: list[tuple[Instance | None, str]] = []
    for comp in comps:
        if comp.finish_reason == "error":
            out.append((None, "teacher_error"))
        elif _two_step(ctx, task):
            out.append(answers.get(comp.request_id, (None, "truncated")))
        else:
            out.append(parse_instance(comp.text, bool(task.is_classification), comp.finish_reason))
    return out


def answer_request(ctx: StepContext, instruction: str, input: str, seed: int, meta: dict):
    """The teacher asked to answer a task on its input, in the one answer prompt (chat): the second
    request of two-step instances, and evol's and magpie's direct answers."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    temperature = t.temperature if g.answer_temperature is None else g.answer_temperature
    return make_request(
        render(g.templates, "answer", "chat", instruction=instruction, input=input),
        "chat",
        max_tokens=t.max_tokens,
        temperature=temperature,
        top_p=t.top_p if temperature > 0 else 1.0,
        stop=[],
        seed=seed,
        meta=meta,
    )


def _answers(
    ctx: StepContext, tasks: list[Task], by_task: dict[str, list[Completion]], store: ChunkStore
) -> dict[str, tuple[Instance | None, str]]:
    """Second request of two-step instances: the teacher answers each task on its written input.
    -> {input request id: (Instance or None, reject reason)}."""
    requests, inputs = [], {}
    for task in tasks:
        for rid in _no_input_ids(task, ctx.cfg.generate.instances_per_task) if _no_input(ctx, task) else []:
            inputs[rid] = ""
            requests.append(
                answer_request(
                    ctx,
                    task.instruction,
                    "",
                    seed_for(ctx.cfg.run.seed, rid),
                    {"input_request": rid, **_strategy(task)},
                )
            )
        for comp in by_task.get(task.id, []) if _two_step(ctx, task) else []:
            if comp.finish_reason != "stop":
                continue
            inputs[comp.request_id] = parse_input(comp.text)
            requests.append(
                answer_request(
                    ctx,
                    task.instruction,
                    inputs[comp.request_id],
                    seed_for(ctx.cfg.run.seed, comp.request_id),
                    {"input_request": comp.request_id, **_strategy(task)},
                )
            )
    out: dict[str, tuple[Instance | None, str]] = {}
    for comp in ctx.run("answers", requests, store):
        rid = cast(str, comp.meta.get("input_request"))  # cast: every request above carries it in meta
        if comp.finish_reason != "stop":
            out[rid] = None, "teacher_error" if comp.finish_reason == "error" else "truncated"
        else:
            out[rid] = Instance(input=inputs.get(rid, ""), output=comp.text.strip()), ""
    return out
