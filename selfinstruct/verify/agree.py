"""Agreement, for what no program can check: a second, independent answer compared with the first.

With `filter.verify.unverified: agree`, every task the verifiers could not prove (kind `open`, or a
check that could not run) is answered a second time, on the same input and in the same answer prompt,
by `filter.verify.agree_with` (default: `generate.audit_judge`, the other embedded model; its engine
is started once per process and kept), or, where that is the teacher, by the teacher sampled at its
temperature. The two answers agree when their MiniLM cosine reaches `agree_min`, or one short answer
(a label, a number, a name) is found inside the other; otherwise the task is `disagree(cos=...)`.
bench/agreement.py measures the signal against hand labels (docs/results.md "Verified data"). Requests are
built from (run seed, round, task id): a relaunch finds them answered in the store and asks nothing
twice.
"""

from __future__ import annotations

import atexit
import re
from typing import Any

import numpy as np

from ..generate.prompts import seed_for
from ..prompting import make_request, render
from ..records import Task
from ..store import ChunkStore

_SECOND: dict[str, Any] = {}  # model -> teacher, one engine per process however many rounds ask


def second_teacher(cfg, model: str | None):
    """The teacher that writes second answers: another model's engine, kept for the process, or the teacher."""
    if not model or model == cfg.teacher.model:
        return None
    if model not in _SECOND:
        from ..teachers import make_teacher

        _SECOND[model] = make_teacher(cfg.teacher.model_copy(update={"model": model}), seed=cfg.run.seed)
        atexit.register(_SECOND[model].close)
    return _SECOND[model]


def second_answers(ctx, tasks: list[Task], store: ChunkStore) -> dict[str, str]:
    """{task id: the second answer} for each task, in one teacher call."""
    vcfg, g, t = ctx.cfg.filter.verify, ctx.cfg.generate, ctx.cfg.teacher
    other = second_teacher(ctx.cfg, vcfg.agree_with or ctx.cfg.generate.audit_judge)
    temperature = (g.answer_temperature or 0.0) if other else max(t.temperature, 0.5)
    requests = [
        make_request(
            render(g.templates, "answer", "chat", instruction=task.instruction, input=task.instances[0].input),
            "chat",
            max_tokens=t.max_tokens,
            temperature=temperature,
            top_p=t.top_p,
            seed=seed_for(ctx.cfg.run.seed, ctx.round, "agree", task.id),
            meta={"task": task.id, "strategy": task.strategy},
        )
        for task in tasks
    ]
    if not requests:
        return {}
    comps = ctx.run("agree", requests, store, teacher=other)
    return {c.meta.get("task"): c.text.strip() for c in comps if c.finish_reason != "error"}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def contains(a: str, b: str) -> bool:
    """A short answer (at most 4 words) found inside the other: "Positive" in "The sentiment is positive."."""
    a, b = _norm(a), _norm(b)
    short, long_ = sorted((a, b), key=len)
    return bool(short) and len(short.split()) <= 4 and f" {short} " in f" {long_} "


def similarity(firsts: list[str], seconds: list[str], embedder) -> list[float]:
    """Per pair: 1.0 when a short answer is inside the other, else the MiniLM cosine of the two."""
    if not firsts:
        return []
    a, b = embedder.encode(firsts), embedder.encode(seconds)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)
    return [1.0 if contains(x, y) else float(c) for x, y, c in zip(firsts, seconds, cos)]


def agreement(ctx, tasks: list[Task], store: ChunkStore) -> dict[str, str]:
    """{task id: "agrees (cos=0.91)" | "disagrees (cos=0.42)" | "unverified: no second answer"}."""
    from ..filter.embed import embedder_for

    answers = second_answers(ctx, tasks, store)
    have = [t for t in tasks if answers.get(t.id)]
    sims = similarity(
        [t.instances[0].output for t in have], [answers[t.id] for t in have], embedder_for(ctx.cfg.filter.novelty)
    )
    out = {t.id: "unverified: no second answer" for t in tasks}
    for task, sim in zip(have, sims):
        word = "agrees" if sim >= ctx.cfg.filter.verify.agree_min else "disagrees"
        out[task.id] = f"{word} (cos={sim:.2f})"
    return out
