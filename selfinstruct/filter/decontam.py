"""Decontamination: no generated task may be a copy of a held-out task, or a student's gain on the
held-out set could come from leakage instead of learning.

Two signals, either one is enough (as NeMo Curator's task decontamination and the novelty filter):
- a shared long n-gram (13 words, lower-cased) between the task's text (instruction, inputs,
  outputs) and a held-out task's text;
- the instruction's embedding at or above the novelty threshold to a held-out instruction.

`Decontaminator(heldout, cfg).check(tasks)` -> one Reject `contaminated(..., of=<id>)` or None per task. The same check
tells `eval` how many held-out items overlap a run's training data (`overlaps`).
"""

from __future__ import annotations

import re

import numpy as np

from ..config import NoveltyConfig
from ..records import Reject, Task

NGRAM = 13
_WORD = re.compile(r"\w+")


def task_text(task: Task) -> str:
    return " ".join([task.instruction] + [f"{i.input} {i.output}" for i in task.instances])


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class Decontaminator:
    def __init__(self, heldout: list[Task], cfg: NoveltyConfig, n: int = NGRAM):
        self.heldout, self.cfg, self.n = heldout, cfg, n
        self._owner: dict[tuple[str, ...], str] = {}
        for t in heldout:
            for g in ngrams(task_text(t), n):
                self._owner.setdefault(g, t.id)
        self._vecs: np.ndarray | None = None

    def _heldout_vecs(self) -> np.ndarray:
        if self._vecs is None:
            from .embed import embed_tasks

            self._vecs = embed_tasks(self.heldout, self.cfg)
        return self._vecs

    def check(self, tasks: list[Task], embed=None) -> list[Reject | None]:
        """One Reject or None per task; sets scores["heldout_sim"] (nearest held-out cosine).
        embed: tasks -> vectors, when the caller has them cached (the filter's pool index)."""
        hits = self._hits(tasks, embed)
        return [hits[k][0] if k in hits else None for k in range(len(tasks))]

    def overlaps(self, training: list[Task]) -> list[str]:
        """Ids of held-out tasks that some training task overlaps (n-gram or embedding)."""
        hits = {of for _, of in self._hits(training).values()}
        return [t.id for t in self.heldout if t.id in hits]

    def _hits(self, tasks: list[Task], embed=None) -> dict[int, tuple[Reject, str]]:
        """position -> (reason, id of the held-out task it overlaps)."""
        if not self.heldout or not tasks:
            return {}
        hits: dict[int, tuple[Reject, str]] = {}
        for k, task in enumerate(tasks):
            of = next((self._owner[g] for g in ngrams(task_text(task), self.n) if g in self._owner), None)
            if of:
                hits[k] = Reject("contaminated", f"ngram{self.n}, of={of}"), of
        from .embed import embed_tasks

        sims = (embed or (lambda ts: embed_tasks(ts, self.cfg)))(tasks) @ self._heldout_vecs().T
        best, nearest = sims.max(axis=1), sims.argmax(axis=1)
        for k, task in enumerate(tasks):
            task.scores["heldout_sim"] = round(float(best[k]), 4)
            if k not in hits and best[k] >= self.cfg.threshold:
                of = self.heldout[nearest[k]].id
                hits[k] = Reject("contaminated", f"{best[k]:.2f}, of={of}"), of
        return hits
