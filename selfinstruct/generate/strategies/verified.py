"""Tasks a program can check (issue #23): Self-Instruct's numbered list under a header that asks for
computations, text operations and Python functions (prompts/instructions_verified*.jinja), shown the
seeds a program could check first and the generated tasks a verifier passed (steps._checkable_first).
The verify check (filter/checks/model.py, verify/) then keeps what its tests or programs confirm."""

from __future__ import annotations

from ...records import Task
from ...store import ChunkStore
from .. import steps
from ..strategy import Strategy, register


@register
class Verified(Strategy):
    name = "verified"
    steps = ("verified",)
    listed = True

    def propose(self, ctx, store: ChunkStore, first: int, count: int) -> tuple[list[Task], list[Task]]:
        return steps.propose(ctx, store, first, count, strategy=self.name), []
