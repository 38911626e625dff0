"""Checks that ask a model, the costly ones: they see only what every cheaper check kept. IFD (a small
model's losses, filter/ifd.py), the LLM judge (the teacher rates each task, filter/quality.py) and the
verifiers (verify/step.py: the teacher writes tests and programs, the sandbox runs them)."""

from __future__ import annotations

from ...records import Reject, Task
from ..check import Batch, Check, register


@register
class IFD(Check):
    """Instruction-following difficulty: `misaligned(ifd=...)` at or above filter.quality.ifd_max; on
    where filter.quality.ifd_model names a model."""

    name = "ifd"

    def on(self, batch: Batch) -> bool:
        return super().on(batch) and bool(self.cfg.quality.ifd_model)

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        from ..ifd import check_ifd

        assert self.cfg.quality.ifd_model  # on() runs this check only where a model is named
        return check_ifd(tasks, self.cfg.quality.ifd_model, self.cfg.quality.ifd_max)


@register
class Judge(Check):
    """The teacher rates each task 1-5 (AlpaGasus); on with filter.quality.judge. Its answers go to the
    batch's "judge" store, so a relaunch asks nothing twice."""

    name = "judge"

    def on(self, batch: Batch) -> bool:
        return super().on(batch) and self.cfg.quality.judge

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        from ..quality import judge

        ctx = batch.ctx
        if ctx is None or batch.store is None:
            raise ValueError(
                "filter.quality.judge is on: the filter needs a teacher to judge with (a round's, "
                "or the filter command's)"
            )
        return judge(
            tasks,
            ctx.teacher,
            batch.store("judge"),
            ctx.cfg.teacher.chunk_size,
            self.cfg.quality,
            ctx.cfg.teacher.style("judge"),
        )


@register
class Verify(Check):
    """verify/step.py's verifiers, on with filter.verify.enabled, inside a round (its teacher writes the
    tests and programs): last, so only what would be kept costs tests and programs. Where it repairs an
    output, the new record takes the task's place."""

    name = "verify"

    def on(self, batch: Batch) -> bool:
        return super().on(batch) and self.cfg.verify.enabled and batch.ctx is not None

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        from ...verify.step import verify_tasks

        # on() needs a round's ctx, and whoever passes one passes its stores
        assert batch.ctx is not None and batch.store is not None
        batch.start("verify", len(tasks))
        with batch.ctx.timed("verify"):
            kept, rejected = verify_tasks(batch.ctx, tasks, batch.store("verify"), batch.store("agree"))
        tasks[:] = _in_order(tasks, kept, rejected)
        return [t.reject for t in tasks]


def _in_order(tasks: list[Task], kept: list[Task], rejected: list[Task]) -> list[Task]:
    """verify_tasks' records (the kept ones, then the rejected ones, each in order) in the order of
    `tasks`: a record has its task's instruction, and its id or, repaired, its output as teacher_output."""
    out, k, r = [], 0, 0
    for task in tasks:
        if k < len(kept) and _made_from(kept[k], task):
            out.append(kept[k])
            k += 1
        else:
            out.append(rejected[r])
            r += 1
    return out


def _made_from(record: Task, task: Task) -> bool:
    if record is task or record.id == task.id:
        return True
    return (
        record.instruction == task.instruction
        and bool(task.instances)
        and record.checks.get("teacher_output") == task.instances[0].output
    )
