"""Checks on a task's own text, one task at a time: Self-Instruct's heuristics (filter/quality.py), a
conversation's later turns (filter/turns.py), and whether a program could check the task at all."""

from __future__ import annotations

from collections import Counter

from ...records import Reject, Task
from .. import quality
from ..check import Batch, Check, TaskCheck, register
from ..turns import check_turns


@register
class Quality(TaskCheck):
    """The instruction rules (quality.INSTRUCTION_RULES): too short, blacklisted, unfinished, ..."""

    name = "quality"
    stages = ("instructions", "tasks")

    def reject(self, task: Task) -> Reject | None:
        return quality.check_instruction(task.instruction, self.cfg.quality)


@register
class Instances(Check):
    """The instance rules (quality.INSTANCE_RULES): a bad instance is dropped, and a task left with none
    is rejected with the first problem found. Counts the instances each rule failed."""

    name = "instances"

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        rules, out, dropped = batch.stats.setdefault("instance_rules", Counter()), [], 0
        for task in tasks:
            why, n = quality.check_instances(task, self.cfg.quality, rules)
            dropped += n
            out.append(why)
        batch.stats["instances_dropped"] = dropped
        return out


@register
class Turns(TaskCheck):
    """Each later turn of a conversation (multi_turn strategy), against the rules of turns.py."""

    name = "turns"

    def reject(self, task: Task) -> Reject | None:
        return check_turns(task, self.cfg.quality) if task.turns else None


@register
class Verifiable(TaskCheck):
    """Where unverified tasks are rejected anyway, one no program could check is rejected before the
    teacher writes its instance (verify/kinds.py may_verify)."""

    name = "verifiable"
    stages = ("instructions",)

    def on(self, batch: Batch) -> bool:
        return super().on(batch) and self.cfg.verify.enabled and self.cfg.verify.unverified == "reject"

    def reject(self, task: Task) -> Reject | None:
        from ...verify.kinds import may_verify

        attached = "specs" in task.checks  # a constraint the engine gave it: the verify step checks that
        return None if attached or may_verify(task.instruction) else Reject("unverified", "open")
