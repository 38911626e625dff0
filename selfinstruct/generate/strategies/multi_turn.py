"""The multi_turn strategy: conversations of generate.turns exchanges (issue #28).

The first turn is a Self-Instruct task: the teacher continues a numbered task list (its own step,
"multi_turn", so its prompts never repeat self_instruct's in a mix) and answers each new instruction
directly, as evol's and magpie's are answered (strategy.respond). Then, for each later turn, two
requests. The user's message: as Magpie's gen_mt.py does, the conversation so far in the teacher's own
chat template, then the header of a new user turn, continued by the teacher up to its end-of-turn; the
teacher writes as the user it was trained to answer. Measured on 10 seed conversations with the default
0.5B teacher (bench/follow_up_prompts.py): 7 related follow-ups this way, against 1 when asked in a chat
request to "write the user's next message" of a transcript (it answered as the assistant, or described
the user). A teacher whose tokenizer is not local (a hosted model) gets that transcript request
(prompts/follow_up_chat.jinja). The reply: the teacher answers with the whole conversation as its chat
history, the first user message being the answer prompt it answered, so it continues its own conversation.

Each turn is checked as soon as it exists (filter/turns.py), so a conversation that already failed
costs no more requests; the filter checks every turn again. A turn's requests are built from what
the stores hold (run seed, round, task, turn), so a relaunch rebuilds them, finds them answered and
asks the teacher nothing twice.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from rich.console import Console
from rich.markup import escape

from ...filter import quality
from ...filter.turns import check_turn
from ...formats import conversation
from ...prompting import make_request, render
from ...records import Reject, Task
from ...store import ChunkStore
from ...teachers.base import Completion, Request
from ..parse import parse_instructions
from ..prompts import rng_for, sample_in_context, seed_for
from ..steps import _propose_stop
from ..strategy import Strategy, keep_new, register

STEP = "multi_turn"
_SENTINEL = "MULTITURNUSERMESSAGE"  # what the user would say next: the continuation ends right before it
console = Console(stderr=True)
FOLLOW_UP_TOKENS = 128  # one or two sentences; a longer one is the teacher answering instead of asking
_INTRO = re.compile(r"^\W*(?:sure|certainly|of course|okay|ok|here(?:'s| is))\b", re.I)
_LABEL = re.compile(
    r"^\s*\**(?:the\s+)?(?:user(?:'s)?(?:\s+next)?(?:\s+message)?|follow-?up(?:\s+request|\s+question)?"
    r"|next message)\s*\**\s*:\s*\**\s*",
    re.I,
)
_ASSISTANT = re.compile(r"\n\s*\**assistant\**\s*:", re.I)  # the teacher writing the transcript on, answer too


@register
class MultiTurn(Strategy):
    name = STEP
    steps = (STEP, "follow_up", "reply")

    def first_rate(self, ctx) -> float:
        return float(ctx.cfg.generate.max_new_per_prompt)  # its prompts are task lists, as Self-Instruct's

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        return propose(ctx, store, first, count)

    def finish(self, ctx, tasks: list[Task], store, progress=None) -> tuple[list[Task], list[Task]]:
        return converse(ctx, tasks, store("follow_up"), store("reply"), progress)


def propose(ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
    """-> (first turns: new instructions from numbered task lists, dropped ones with their reason)."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    requests = []
    for i in range(first, first + count):
        rng = rng_for(ctx.cfg.run.seed, ctx.round, STEP, i // g.completions_per_prompt)
        shown = sample_in_context(ctx.seeds, ctx.generated, g.in_context, g.in_context_seed, rng, ctx.weights)
        text = render(g.templates, "instructions", ctx.style("propose"), tasks=shown, n_new=g.max_new_per_prompt)
        requests.append(
            make_request(
                text,
                ctx.style("propose"),
                max_tokens=t.max_tokens,
                temperature=t.temperature,
                top_p=t.top_p,
                stop=_propose_stop(len(shown), g.max_new_per_prompt),
                seed=seed_for(ctx.cfg.run.seed, ctx.round, STEP, i),
                meta={"prompt": i, "parents": [s.id for s in shown], "strategy": STEP},
            )
        )
    ctx.counts[f"{STEP}_prompts"] += count
    made = []
    for comp in ctx.run(STEP, requests, store):
        if comp.finish_reason == "error":
            continue
        for text in parse_instructions(comp.text, comp.finish_reason)[: g.max_new_per_prompt]:
            task = Task(
                instruction=text,
                round=ctx.round,
                parents=comp.meta.get("parents", []),
                teacher=ctx.teacher.name,
                strategy=STEP,
                is_classification=False,
            )
            if quality.needs_input(text):  # a conversation opens with a self-contained request
                task.reject = Reject("missing_input", "turn 1 user")
            made.append(task)
    return keep_new(ctx, made)


def converse(
    ctx, tasks: list[Task], follow_store: ChunkStore, reply_store: ChunkStore, progress=None
) -> tuple[list[Task], list[Task]]:
    """-> (`tasks` with every multi_turn one grown to generate.turns exchanges, the conversations that
    failed, with the reason naming the turn). Tasks of other strategies pass through as they are."""
    done = [t for t in tasks if t.strategy != STEP]
    alive: list[Task] = []
    failed: list[Task] = []
    for t in tasks:
        if t.strategy == STEP:  # new records: the proposal's turns list is never touched
            t = replace(t, turns=[], scores=dict(t.scores), parents=list(t.parents))
            why, _ = quality.check_instances(replace(t, instances=list(t.instances)), ctx.cfg.filter.quality)
            _sort(t, why, alive, failed)
    for k in range(2, ctx.cfg.generate.turns + 1):
        for side, step, store in (("user", "follow_up", follow_store), ("assistant", "reply", reply_store)):
            if progress is not None:
                progress.start(step, len(alive), f"turn {k} {side}")
            asked = [(follow_up_request if side == "user" else reply_request)(ctx, t, k) for t in alive]
            answers = {c.request_id: c for c in ctx.run(step, asked, store)}
            talking, alive = alive, []
            for t, req in zip(talking, asked):
                why = _add_turn(t, answers.get(req.id), side, k)
                _sort(t, why or check_turn(t, k, ctx.cfg.filter.quality), alive, failed)
    # id="": the key covers the turns now that they exist
    return done + [replace(t, id="") for t in alive], [replace(t, id="") for t in failed]


def follow_up_request(ctx, task: Task, k: int) -> Request:
    """The teacher writes the user's message of turn k: continuing its chat template where a new user turn
    begins, or, without a local chat template, asked for it in a transcript."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    common = dict(
        max_tokens=min(t.max_tokens, FOLLOW_UP_TOKENS),
        temperature=t.temperature,
        top_p=t.top_p,
        seed=seed_for(ctx.cfg.run.seed, ctx.round, "follow_up", task.id, k),
        meta={"follow_up": task.id, "turn": k, "strategy": STEP},
    )
    turn = user_turn_continuation(t.model, conversation(task))
    if turn is None:
        return make_request(render(g.templates, "follow_up", "chat", messages=conversation(task)), "chat", **common)
    return make_request(turn[0], "completion", stop=turn[1], **common)


def user_turn_continuation(model: str, messages: list[dict[str, str]]) -> tuple[str, list[str]] | None:
    """-> (the conversation in `model`'s chat template up to where the next user message begins, the text that
    ends a user turn), or None when its tokenizer or chat template is not at hand. A BOS the tokenizer adds
    itself is left out of the text, as in Magpie's prefix (magpie.user_turn_prefix)."""
    tok = _chat_tokenizer(model)
    if tok is None:
        return None
    text = tok.apply_chat_template(messages + [{"role": "user", "content": _SENTINEL}], tokenize=False)
    prefix, _, after = text.partition(_SENTINEL)
    bos = tok.bos_token
    if bos and prefix.startswith(bos) and tok("x").input_ids[:1] == [tok.bos_token_id]:
        prefix = prefix[len(bos) :]
    end = after.split("\n")[0].strip()
    return prefix, [end] if end else []


@lru_cache(maxsize=4)
def _chat_tokenizer(model: str):
    from transformers import AutoTokenizer

    from ...models import ModelError, resolve_model

    try:  # never from a model hub: a name that is not here gets the transcript prompt
        tok = AutoTokenizer.from_pretrained(resolve_model(model), local_files_only=True)
    except (OSError, ValueError, ModelError) as e:
        console.print(
            f"[yellow]warning:[/] multi_turn: no local tokenizer for {escape(model)} ({escape(str(e)[:120])}); "
            "the user's follow-ups are asked for in a transcript prompt (prompts/follow_up_chat.jinja)"
        )
        return None
    return tok if tok.chat_template else None


def reply_request(ctx, task: Task, k: int) -> Request:
    """The teacher answers turn k's message with the conversation as its chat history; its first user
    message is the answer prompt of its first reply (steps.answer_request), so the history is its own."""
    g, t = ctx.cfg.generate, ctx.cfg.teacher
    messages = conversation(task)
    messages[0] = {
        "role": "user",
        "content": render(g.templates, "answer", "chat", instruction=task.instruction, input=task.instances[0].input),
    }
    temperature = t.temperature if g.answer_temperature is None else g.answer_temperature
    return Request(
        messages=messages,
        max_tokens=t.max_tokens,
        temperature=temperature,
        top_p=t.top_p if temperature > 0 else 1.0,
        stop=[],
        seed=seed_for(ctx.cfg.run.seed, ctx.round, "reply", task.id, k),
        meta={"reply": task.id, "turn": k, "strategy": STEP},
    )


def clean_follow_up(text: str) -> str:
    """The user's message without what small teachers wrap it in: an introduction line ("Sure! Here is the
    user's next message:"), a "USER:" label, quotes, and the assistant's answer written on after it."""
    text = _ASSISTANT.split(text.strip(), maxsplit=1)[0].strip()
    first, _, rest = text.partition("\n")
    if rest.strip() and first.rstrip().endswith(":") and _INTRO.match(first):
        text = rest.strip()
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def _add_turn(task: Task, comp: Completion | None, side: str, k: int) -> Reject | None:
    """Appends the answer as turn k's `side` message; -> why it could not be."""
    if comp is None or comp.finish_reason != "stop":
        why = "teacher_error" if comp is None or comp.finish_reason == "error" else "cut off"
        return Reject("turn_failed", f"turn {k} {side}, {why}")
    text = clean_follow_up(comp.text) if side == "user" else comp.text.strip()
    task.turns.append({"role": side, "content": text})
    return None


def _sort(task: Task, why: Reject | None, alive: list[Task], failed: list[Task]) -> None:
    task.reject = why
    (failed if why else alive).append(task)
