"""Magpie (Xu et al. 2024): the teacher gets only its chat template's user-turn prefix and writes the
user's query itself; nothing else is in its prompt. Its queries are self-contained prompts: the
round answers them directly (strategy.respond).
"""

from __future__ import annotations

from functools import lru_cache

from ...prompting import make_request
from ...records import Reject, Task
from ...store import ChunkStore
from ..prompts import seed_for
from ..strategy import Strategy, keep_new, register

_SENTINEL = "MAGPIEUSERQUERY"  # what the user would have said: the prefix ends right before it


@register
class Magpie(Strategy):
    name = "magpie"
    steps = ("magpie",)

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        return magpie(ctx, store, first, count)


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
    made: list[Task] = []
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
        made.append(task)
    return keep_new(ctx, made)


@lru_cache(maxsize=4)
def user_turn_prefix(model: str) -> tuple[str, str]:
    """-> (the chat template's text up to where the user's message begins, the text that ends the
    user's turn). As a prompt it tokenizes to exactly the template's ids: a BOS the tokenizer adds
    itself is left out of the text (else a teacher would see it twice)."""
    from transformers import AutoTokenizer

    from ...models import ModelError, resolve_model

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
