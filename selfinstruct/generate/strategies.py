"""The other ways a round makes new instructions, beside Self-Instruct's propose (steps.py):

- evol (Evol-Instruct, WizardLM): an accepted task is rewritten by the teacher, in depth (one more
  constraint, deeper, more concrete, more reasoning) or in breadth (a new task of its domain). A
  rewrite that merely copies its parent, or leaks the rewriting prompt, is eliminated with a reason;
  so is one the teacher then declines to answer.
- magpie (Magpie): the teacher gets only its chat template's user-turn prefix and writes the user's
  query itself; nothing else is in its prompt.

Both make self-contained prompts (any input is written into them), so their tasks skip classify and
instance writing: `respond` has the teacher answer each one directly, through the same answer
prompt as Self-Instruct's two-step answers, so strategies differ in their instructions only. After
that every task goes through the same filters, stores and resume as Self-Instruct's.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from functools import lru_cache

from ..filter.rouge import rouge_filter
from ..prompting import make_request, render
from ..records import Instance, Reject, Task
from ..store import ChunkStore
from . import multi_turn
from .prompts import rng_for, seed_for
from .steps import answer_request

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
_SENTINEL = "MAGPIEUSERQUERY"  # what the user would have said: the prefix ends right before it


def requests_for(ctx, strategy: str, need: int) -> int:
    """Requests of `strategy` for `need` novel tasks, at the rate this round has measured for it
    (one each before any); Self-Instruct's prompts count their several instructions (steps.py)."""
    if strategy == "self_instruct":
        return ctx.prompts_for(need)
    made, asked = ctx.counts[f"{strategy}_novel"], ctx.counts[f"{strategy}_prompts"]
    # multi_turn's prompts are task lists too: several instructions each, as Self-Instruct's
    rate = made / asked if made else float(ctx.cfg.generate.max_new_per_prompt if strategy == "multi_turn" else 1)
    return max(1, min(math.ceil(need / max(rate, 0.05)), ctx.cfg.generate.prompts_per_round))


def split(need: int, shares: dict[str, float]) -> dict[str, int]:
    """`need` tasks over strategies by share (largest remainder, ties in the shares' order)."""
    exact = {s: need * p for s, p in shares.items()}
    out = {s: math.floor(v) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: -(exact[s] - out[s]))[: need - sum(out.values())]:
        out[s] += 1
    return out


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
    out: list[Task] = []
    dropped: list[Task] = []
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
        _keep(ctx, task, out, dropped)
    return out, dropped


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


def magpie(ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
    """-> (queries the teacher wrote from its user-turn prefix alone, failed ones with a reason)."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    prefix, stop = g.magpie_prefix, []
    if prefix is None:
        prefix, end = user_turn_prefix(ctx.cfg.teacher.model)
        stop = [end] if end else []
    requests = [
        make_request(
            prefix,
            "completion",
            max_tokens=t.max_tokens,
            temperature=g.magpie_temperature,
            top_p=1.0,
            stop=stop,
            seed=seed_for(ctx.cfg.run.seed, ctx.round, "magpie", i),
            meta={"magpie": i},
        )
        for i in range(first, first + count)
    ]
    ctx.counts["magpie_prompts"] += count
    out: list[Task] = []
    dropped: list[Task] = []
    for comp in ctx.run("magpie", requests, store):
        if comp.finish_reason == "error":
            continue
        task = Task(
            instruction=comp.text.strip(),
            round=ctx.round,
            teacher=ctx.teacher.name,
            strategy="magpie",
            is_classification=False,
        )
        if comp.finish_reason == "length":
            task.reject = Reject("magpie_failed", "cut off")
        elif not task.instruction:
            task.reject = Reject("magpie_failed", "empty")
        _keep(ctx, task, out, dropped)
    return out, dropped


PROPOSERS = {"evol": evolve, "magpie": magpie, "multi_turn": multi_turn.propose}


def _keep(ctx, task: Task, out: list[Task], dropped: list[Task]) -> None:
    ctx.counts[f"{task.strategy}_proposed"] += 1
    if task.reject:
        dropped.append(task)
    elif task.id in ctx.seen:
        ctx.counts["duplicate_in_round"] += 1
    else:
        ctx.seen.add(task.id)
        out.append(task)


@lru_cache(maxsize=4)
def user_turn_prefix(model: str) -> tuple[str, str]:
    """-> (the chat template's text up to where the user's message begins, the text that ends the
    user's turn). As a prompt it tokenizes to exactly the template's ids: a BOS the tokenizer adds
    itself is left out of the text (else a teacher would see it twice)."""
    from transformers import AutoTokenizer

    from ..models import ModelError, resolve_model

    try:
        tok = AutoTokenizer.from_pretrained(resolve_model(model))
    except OSError as e:
        raise ModelError(f"magpie needs the teacher's tokenizer ({model}: {e}); set generate.magpie_prefix") from None
    if not tok.chat_template:
        raise ModelError(f"magpie needs a chat template, and {model} has none: use an instruction-tuned teacher")
    text = tok.apply_chat_template([{"role": "user", "content": _SENTINEL}], tokenize=False)
    prefix, _, after = text.partition(_SENTINEL)
    bos = tok.bos_token
    if bos and prefix.startswith(bos) and tok("x").input_ids[:1] == [tok.bos_token_id]:
        prefix = prefix[len(bos) :]
    return prefix, after.split("\n")[0].strip()


def respond(ctx, tasks: list[Task], store: ChunkStore) -> tuple[list[Task], list[Task]]:
    """The teacher answers each self-contained task (evol, magpie) -> (with their one instance,
    failed with the reason). An evolution the teacher declines ("sorry", short) has failed: WizardLM
    eliminates those too."""
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
        elif task.strategy == "evol" and "sorry" in answer.lower() and len(answer.split()) < 80:
            made.reject = Reject("evol_failed", "the teacher declined to answer it")
        (failed if made.reject else done).append(made)
    return done, failed
