"""Self-Instruct (Wang et al. 2023): the teacher continues a numbered list of in-context tasks (seed and
generated); its new instructions then get classify and written instances (steps.py)."""

from __future__ import annotations

from ...records import Task
from ...store import ChunkStore
from .. import steps
from ..strategy import Strategy, register


@register
class SelfInstruct(Strategy):
    name = "self_instruct"
    steps = ("propose", "classify", "instances", "answers")
    listed = True

    def requests(self, ctx, need: int) -> int:
        return ctx.prompts_for(need)  # several instructions a prompt, in whole in-context samples

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        return steps.propose(ctx, store, first, count, strategy=self.name), []
