"""backend: instant -- a teacher that answers every request at once, for benchmarks and tests of the
engine at scale (bench/engine_scale.py, tests/test_engine_scale.py). Not a model: its text is made
from selfinstruct/synth.py, so the real parsers, filters, stores and resume run unchanged against it.

Each answer is fixed by its request (a relaunch gets the same text) and shaped for the step that
asked, which the request's meta names: propose (a task list continued, or a chat list), evol (a
rewritten task, a share of them copies), magpie (a query), respond, a conversation's follow-up and
reply, classify (yes/no), instances (an input, or output-first a label and an input; completion
style also the output), answers, judge, eval's pairwise judge (A or B) and audit. Like a real
teacher it slips: a share of proposals restate a task shown in the prompt (the novelty filter's
work), and a share of answers are malformed.
"""

from __future__ import annotations

import random
import re
from typing import cast

from ..config import TeacherConfig
from ..synth import new_item, render_item, restate
from .base import Completion, Request
from .registry import register

RESTATE_SHARE = 0.1  # proposals that paraphrase a task of the prompt
MALFORMED_SHARE = 0.03  # answers that parse to nothing
_TASK_LINE = re.compile(r"^Task (\d+): (.*)$", re.M)
_WORDS = "the a of and to in is that it was for on are as with his they at be this from".split()


@register("instant")
class InstantTeacher:
    """restate_share, malformed_share: how often it slips (a test's scripted teacher sets them to 0)."""

    adapters = True  # no weights: a request's adapter changes its text as a student's would

    def __init__(
        self,
        cfg: TeacherConfig,
        seed: int = 0,
        restate_share: float = RESTATE_SHARE,
        malformed_share: float = MALFORMED_SHARE,
    ):
        self.name = f"instant:{cfg.model}"
        self.restate_share, self.malformed_share = restate_share, malformed_share

    def complete(self, requests: list[Request]) -> list[Completion]:
        return [self._answer(r) for r in requests]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _answer(self, req: Request) -> Completion:
        rng = random.Random(req.id + (f"+{req.adapter}" if req.adapter else ""))
        # cast: a Request has either a prompt or messages (it checks when made)
        text = req.prompt if req.prompt is not None else cast(list[dict[str, str]], req.messages)[-1]["content"]
        if rng.random() < self.malformed_share:
            reply = rng.choice(["", "???", "Task:"])
        else:
            reply = self._reply(req, text, rng)
        words = len(reply.split())
        return Completion(
            request_id=req.id,
            text=reply,
            finish_reason="stop",
            prompt_tokens=len(text.split()) * 4 // 3,
            completion_tokens=words * 4 // 3,
        )

    def _reply(self, req: Request, text: str, rng: random.Random) -> str:
        meta = req.meta
        if "parents" in meta:
            return self._propose(req, text, rng)
        if "evol" in meta:  # a rewrite of the given task; sometimes a mere copy of it
            given = text.split('"""')[1].strip() if text.count('"""') >= 2 else text
            return given if rng.random() < self.restate_share else render_item(new_item(rng))
        if "magpie" in meta or "query" in meta:  # a user's query, written by the teacher (a strategy's own step)
            return render_item(new_item(rng))
        if "follow_up" in meta:  # multi_turn: the user's next message, a new request of its own
            return render_item(new_item(rng))
        if "respond" in meta or "reply" in meta:
            return _sentence(rng, 14)
        if "input_request" in meta:
            return _sentence(rng, 12)
        if meta.get("step") == "judge":
            return str(rng.choice([3, 4, 4, 5]))
        if "student_is" in meta:  # eval's pairwise judge: a letter, by request, so orders may disagree
            return rng.choice(["A", "B"])
        if "question" in meta:  # the audit
            return rng.choice(["Yes", "Yes", "Yes", "No"]) + ". " + _sentence(rng, 8)
        instruction = _last_task(text)
        if "k" in meta:
            return _instance(instruction, text, req.prompt is not None, rng)
        if "task" in meta:  # classify
            return "Yes" if instruction.startswith(("Classify", "Is the given")) else "No"
        return _sentence(rng, 10)

    def _propose(self, req: Request, text: str, rng: random.Random) -> str:
        shown = [m.group(2) for m in _TASK_LINE.finditer(text)]
        n_new = 1 if "\n" in req.stop else 4
        items = []
        for _ in range(n_new):
            if shown and rng.random() < self.restate_share:
                items.append(rng.choice(shown).rstrip(".") + ", briefly.")
            else:
                item = new_item(rng)
                items.append(render_item(restate(item, rng) if rng.random() < 0.05 else item))
        if req.prompt is None:  # chat: a numbered list
            return "\n".join(f"{i + 1}. {x}" for i, x in enumerate(items))
        first = len(shown) + 1
        return " " + "\n".join([items[0]] + [f"Task {first + i}: {x}" for i, x in enumerate(items[1:], 1)])


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize() + "."


def _last_task(text: str) -> str:
    found = re.findall(r"Task: (.*)", text)
    return found[-1].strip() if found else ""


def _instance(instruction: str, prompt: str, completion_style: bool, rng: random.Random) -> str:
    if (
        "Class label" in prompt
        and "Choose one of its possible class labels" in prompt
        or (completion_style and prompt.rstrip().endswith("Class label:"))
    ):
        label = rng.choice(["positive", "negative", "spam", "not spam", "formal", "informal"])
        return f"{'' if completion_style else 'Class label: '}{label}\nInput: {_sentence(rng, 10)}"
    given = rng.random() < 0.7
    inp = _sentence(rng, 10) if given else "<noinput>"
    if completion_style:
        return f" {inp}\nOutput: {_sentence(rng, 14)}"
    if "You write test inputs" in prompt:  # two-step instances: the answer is a second request
        return f"Input: {inp}"
    return f"Input: {inp}\nOutput: {_sentence(rng, 14)}"
