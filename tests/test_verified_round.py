"""A round of the default stack (the verified strategy, then the verify step) against a scripted teacher:
it proposes arithmetic questions, answers half of them wrong, and writes a program for each; the sandbox
runs the programs for real. Every accepted task is one whose answer its program confirmed, every wrong
answer is rejected as wrong_value, and a relaunch of the round asks the teacher nothing again."""

from __future__ import annotations

import re

from selfinstruct.config import DEFAULT_CONFIG, load_config
from selfinstruct.formats import read_tasks
from selfinstruct.generate.round import run_round
from selfinstruct.rundir import RunDir
from selfinstruct.teachers.base import Completion
from selfinstruct.testing import DEFAULT_SEEDS

QUESTION = re.compile(r"What is (\d+) times (\d+)\?")


class Arithmetic:
    name = "scripted:arithmetic"

    def __init__(self):
        self.requests = []

    def complete(self, requests):
        self.requests += requests
        return [Completion(r.id, self._reply(r), "stop", 10, 10) for r in requests]

    def _reply(self, r) -> str:
        text = r.prompt if r.prompt is not None else r.messages[-1]["content"]
        if "parents" in r.meta:  # a task list: three new questions per prompt
            n = len(re.findall(r"^Task \d+:", text, re.M))
            i = r.meta["prompt"] * 3
            return " " + "\n".join(
                f"{'' if k == 0 else f'Task {n + k}: '}What is {i + k + 2} times {i + k + 7}?" for k in range(3)
            )
        a, b = map(int, QUESTION.findall(text)[-1])
        if r.meta.get("kind") == "compute":  # the verify step: a program that computes it
            return f"```python\nprint({a} * {b})\n```"
        return str(a * b + (a % 2))  # the answer: wrong whenever a is odd


def test_a_verified_round_keeps_only_answers_its_programs_confirm(tmp_path):
    cfg = load_config(
        DEFAULT_CONFIG,
        [
            f"run.root={tmp_path}",
            "run.name=r",
            "student.enabled=false",
            "generate.per_round=6",
            "generate.prompts_per_round=4",
            "generate.heldout_share=0",
            "filter.novelty.threshold=0.999",
        ],
    )
    assert cfg.generate.strategy == "verified" and cfg.filter.verify.enabled  # the default stack
    seeds = read_tasks(DEFAULT_SEEDS)
    teacher = Arithmetic()
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], teacher)
    assert len(accepted) == 6 and all(t.strategy == "verified" for t in accepted)
    for t in accepted:
        a, b = map(int, QUESTION.search(t.instruction).groups())
        assert t.instances[0].output == str(a * b) and t.checks == {
            "kind": "compute",
            "computation": f"agrees: {a * b}",
        }
    rejected = run.round(1).tasks("rejected")
    wrong = [t for t in rejected if t.reject and t.reject.kind == "wrong_value"]
    assert wrong and stats.rejected["wrong_value"] == len(wrong)
    assert all(int(QUESTION.search(t.instruction).group(1)) % 2 for t in wrong)
    assert stats.counts["verify_compute"] >= len(accepted) + len(wrong)
    asked = len(teacher.requests)
    with RunDir(cfg) as again:  # the round relaunched over its own stores: every answer is read back
        run.round(1).path.joinpath("accepted.jsonl.done").unlink()
        run_round(cfg, again, 1, seeds, [], teacher)
    assert len(teacher.requests) == asked
