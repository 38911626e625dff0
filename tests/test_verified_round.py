"""Rounds of the verify stack against a scripted teacher. The verified strategy: it proposes arithmetic
questions, answers half of them wrong, and writes a program for each; the sandbox runs the programs for
real. Every accepted task is one whose answer its program confirmed, every wrong answer is rejected as
wrong_value, and a relaunch of the round asks the teacher nothing again. configs/constrained.yaml adds
the constrained strategy: writing tasks, each given a constraint, kept where if-verifiable finds it kept."""

from __future__ import annotations

import re

from selfinstruct.config import DEFAULT_CONFIG, load_config
from selfinstruct.formats import read_tasks
from selfinstruct.generate.round import run_round
from selfinstruct.rundir import RunDir
from selfinstruct.teachers.base import Completion
from selfinstruct.testing import DEFAULT_SEEDS

QUESTION = re.compile(r"What is (\d+) times (\d+)\?")


def _round_config(tmp_path, path, *more: str):
    """`path` for one scripted round in tmp_path: no student, no held-out seeds, novelty only for copies."""
    common = ["run.name=r", "student.enabled=false", "generate.prompts_per_round=4", "generate.heldout_share=0"]
    return load_config(path, [f"run.root={tmp_path}", *common, "filter.novelty.threshold=0.999", *more])


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
    cfg = _round_config(tmp_path, DEFAULT_CONFIG, "generate.per_round=6")
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


TOPICS = ["the sea", "a garden", "winter", "a city", "a river", "the moon", "a forest", "a market", "a bridge"]
# Two sentences, 14 words, "example" and "simple" in them: it keeps some constraints and breaks others.
REPLY = "The sea is a simple example of calm. Waves come and go all day."


class Writer(Arithmetic):
    """The verified strategy's questions as above; for the constrained strategy's list, writing tasks (and
    one question, which is not one), each answered with REPLY."""

    def _reply(self, r) -> str:
        text = r.prompt if r.prompt is not None else r.messages[-1]["content"]
        if "parents" in r.meta and "writing tasks" in text:
            n, i = len(re.findall(r"^Task \d+:", text, re.M)), r.meta["prompt"] * 2
            first, second = (f"Write a short note about {TOPICS[(i + k) % len(TOPICS)]}." for k in range(2))
            return f" {first}\nTask {n + 1}: {second}\nTask {n + 2}: Who are you?"
        if "parents" in r.meta or QUESTION.search(text):
            return super()._reply(r)
        return REPLY


def test_the_constrained_mix_keeps_writing_tasks_whose_answers_keep_their_constraint(tmp_path):
    import json

    from selfinstruct import constraints

    cfg = _round_config(tmp_path, DEFAULT_CONFIG.with_name("constrained.yaml"), "generate.per_round=8")
    assert cfg.generate.strategy == {"verified": 1, "constrained": 1}
    teacher = Writer()
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, read_tasks(DEFAULT_SEEDS), [], teacher)
    written = [t for t in accepted if t.strategy == "constrained"]
    assert written and any(t.strategy == "verified" for t in accepted)
    for t in written:
        specs = json.loads(t.checks["specs"])
        assert t.instruction.endswith(specs[0]["text"]) and t.checks["kind"] == "open"
        assert t.checks["constraints"].startswith("met") and constraints.check(REPLY, specs) == [True]
    rejected = [t for t in run.round(1).tasks("rejected") if t.strategy == "constrained"]
    kinds = {t.reject.kind for t in rejected if t.reject}
    assert {"constraint_unmet", "not_writing"} <= kinds
    assert not [r for r in teacher.requests if r.meta.get("kind") and "note about" in str(r.messages)]


# The text the rewrite strategy's input step writes, and the answer on it (two sentences: it keeps "less
# than 3 sentences" and breaks "at least 3").
TEXT = "Hi team, the meeting moved to Friday at noon, please bring your notes and your ideas for the launch."
SUMMARY = "The meeting is now on Friday at noon. Bring notes and launch ideas."


class Rewriter(Arithmetic):
    """The verified strategy's questions as above; for the rewrite strategy's list, tasks on a given email (and
    one request to write from nothing, which is not one); TEXT as the input and SUMMARY as the answer."""

    def _reply(self, r) -> str:
        text = r.prompt if r.prompt is not None else r.messages[-1]["content"]
        if "parents" in r.meta and "rewrite, summarize" in text:
            n, i = len(re.findall(r"^Task \d+:", text, re.M)), r.meta["prompt"] * 2
            first = f"Summarize the following email about {TOPICS[i % len(TOPICS)]}."
            # the seeds nearest this one are mostly classifications: still a rewrite, not one
            second = f"Rewrite the following email about {TOPICS[(i + 1) % len(TOPICS)]} and tell whether it is spam."
            return f" {first}\nTask {n + 1}: {second}\nTask {n + 2}: Write a poem about spring."
        if "parents" in r.meta or QUESTION.search(text):
            return super()._reply(r)
        return TEXT if "Summarize" in text and "Input:" not in text and TEXT not in text else SUMMARY


def test_the_rewrite_strategy_writes_a_text_answers_on_it_and_checks_the_attached_constraint(tmp_path):
    import json

    from selfinstruct import constraints

    cfg = _round_config(tmp_path, DEFAULT_CONFIG, "generate.strategy={verified: 1, rewrite: 1}", "generate.per_round=8")
    teacher = Rewriter()
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, read_tasks(DEFAULT_SEEDS), [], teacher)
    rewritten = [t for t in accepted if t.strategy == "rewrite"]
    assert rewritten and any(t.strategy == "verified" for t in accepted)
    for t in rewritten:
        specs = json.loads(t.checks["specs"])
        assert t.instruction.endswith(specs[0]["text"]) and t.checks["constraints"].startswith("met")
        assert t.instances[0].input == TEXT and t.instances[0].output == SUMMARY and t.is_classification is False
        assert constraints.check(SUMMARY, specs) == [True]
    rejected = [t for t in run.round(1).tasks("rejected") if t.strategy == "rewrite"]
    assert {"constraint_unmet", "not_rewriting"} <= {t.reject.kind for t in rejected if t.reject}
    assert not any(t.is_classification for t in rejected)  # no rewrite is written output-first
    # the input was asked for the task in its own words, the answer with its constraint
    inputs = [r for r in teacher.requests if r.meta.get("k") == 0 and "Summarize" in str(r.messages)]
    assert inputs and not any(spec_text in str(r.messages) for r in inputs for spec_text in _attached(rewritten))


def _attached(tasks) -> list[str]:
    import json

    return [json.loads(t.checks["specs"])[0]["text"] for t in tasks]
