"""Closing the loop: distill each accepted round into the student, then use what it learned.

Two ways, chosen by `student.loop`:
- student_teacher: the student trained on round N becomes the teacher of round N+1 (its LoRA
  adapter on every request: teacher.adapter), as Self-Instruct bootstrapped a
  model with its own data.
- hard_examples: the teacher stays; a held-out slice of the accepted tasks is scored by the
  student's loss, and the next round over-samples the ones it still fails as in-context examples.
"""

from __future__ import annotations

import hashlib

from ..config import Config
from ..records import Task
from ..rundir import RunDir


def is_heldout(task: Task, share: float = 0.2) -> bool:
    """A fixed, content-based split: the same task is held out in every round and every relaunch."""
    return int(hashlib.sha256(task.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


class StudentLoop:
    def __init__(self, cfg: Config, run: RunDir, teacher):
        self.cfg, self.run, self.teacher = cfg, run, teacher
        self.weights: dict[str, float] | None = None

    def after_round(self, n: int, seeds: list[Task], generated: list[Task]) -> None:
        s = self.cfg.student
        if not s.enabled:
            return
        from ..distill.train import train_student

        tasks = generated if s.data == "all" else [t for t in generated if t.round == n]
        last = self.run.round(n - 1) if n > 1 else None
        init = last.student if s.data == "continue" and last is not None and last.student_done() else None
        heldout = []
        if s.loop == "hard_examples":
            heldout = [t for t in tasks if is_heldout(t)]
            tasks = [t for t in tasks if not is_heldout(t)]
        out = self.run.round(n).student
        train_student(
            tasks,
            out,
            s,
            seed=self.cfg.run.seed,
            threads=self.cfg.run.threads,
            resolved_config=self.cfg,
            init_adapter=init,
        )
        if s.loop == "student_teacher":
            self.teacher.replace(self._student_as_teacher(str(out)))
        elif s.loop == "hard_examples" and heldout:
            self.weights = self._hard_weights(out, heldout)

    def _student_as_teacher(self, adapter: str):
        from ..teachers.registry import takes_adapters

        if not takes_adapters(self.cfg.teacher.backend):
            raise ValueError(
                f"student_teacher needs a teacher backend that answers with a LoRA adapter, not "
                f"{self.cfg.teacher.backend!r} (vllm and transformers load the student locally)"
            )
        return self.cfg.teacher.model_copy(update={"model": self.cfg.student.model, "adapter": adapter}, deep=True)

    def _hard_weights(self, adapter, heldout: list[Task]) -> dict[str, float]:
        from ..distill.hard_examples import task_losses

        losses = task_losses(adapter, heldout, self.cfg.student)
        ranked = sorted(losses, key=losses.__getitem__)
        # Rank-based: the hardest held-out task is drawn 4x as often as the easiest.
        return {tid: 1.0 + 3.0 * i / max(len(ranked) - 1, 1) for i, tid in enumerate(ranked)}
