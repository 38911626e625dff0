"""The filter as one object of named checks (filter/check.py): a new check is one class and one entry in
filter.checks, and a round counts its rejects by their reason; the list's order and set are the
config's; the quality heuristics are named rules, each switchable and counted; the verifiers are a
check whose new records (a repaired output) take their task's place. Real MiniLM, faiss, sandbox."""

from __future__ import annotations

import re

import pytest
from pydantic import Field

from selfinstruct.config import DEFAULT_CONFIG, ConfigError, Section, load_config
from selfinstruct.filter.check import Batch, TaskCheck, register
from selfinstruct.filter.pipeline import Filter, filter_tasks
from selfinstruct.formats import read_tasks
from selfinstruct.generate.round import run_round
from selfinstruct.generate.steps import StepContext
from selfinstruct.records import Instance, Reject, Task
from selfinstruct.rundir import RunDir
from selfinstruct.store import ChunkStore
from selfinstruct.teachers.base import Completion
from selfinstruct.teachers.instant import InstantTeacher
from selfinstruct.testing import DEFAULT_SEEDS


@register
class OffTopic(TaskCheck):
    """Keeps a dataset to its subject: a task whose instruction names one of `words` is off topic.
    Asked of instructions, before the teacher writes an instance for them."""

    name = "off_topic"
    stages = ("instructions",)

    class Options(Section):
        words: list[str] = Field(default_factory=list)

    def reject(self, task: Task) -> Reject | None:
        said = set(re.findall(r"\w+", task.instruction.lower()))
        hit = next((w for w in self.options.words if w in said), None)
        return Reject("off_topic", hit) if hit else None


def test_a_new_check_is_one_class_and_one_config_line_and_the_round_counts_its_rejects(tmp_path):
    cfg = load_config(
        DEFAULT_CONFIG,
        [
            f"run.root={tmp_path}",
            "run.name=r",
            "teacher.backend=instant",
            "student.enabled=false",
            "generate.strategy=self_instruct",
            "filter.verify.enabled=false",
            "generate.per_round=6",
            "generate.prompts_per_round=8",
            "generate.max_batches=2",
            "generate.heldout_share=0",
            # the one config line: the default list with the new check after the heuristics
            "filter.checks=[quality, {off_topic: {words: [poem, limerick, story]}}, instances, turns, verifiable, "
            + "decontam, novelty, ifd, judge, verify]",
        ],
    )
    seeds = read_tasks(DEFAULT_SEEDS)
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], InstantTeacher(cfg.teacher, 0, 0.0, 0.0))
        rejected = [t for t in run.round(1).tasks("rejected") if t.reject.kind == "off_topic"]
    assert rejected and stats.rejected["off_topic"] == len(rejected)
    for t in rejected:  # its typed reason, stored with the task; no instance was written for it
        assert t.reject_reason in ("off_topic(poem)", "off_topic(limerick)", "off_topic(story)")
        assert t.reject.detail in t.instruction.lower() and not t.instances
    assert len(accepted) == 6 and not any(w in t.instruction.lower() for t in accepted for w in ("poem", "limerick"))


def test_checks_and_their_options_are_checked_when_the_config_loads():
    with pytest.raises(ConfigError, match="unknown check 'off_topics'; known: .*off_topic"):
        load_config(None, ["filter.checks=[quality, off_topics]"])
    with pytest.raises(ConfigError, match="check 'off_topic': words"):
        load_config(None, ["filter.checks=[{off_topic: {words: poem}}]"])
    with pytest.raises(ConfigError, match="check 'novelty' takes no options"):
        load_config(None, ["filter.checks=[{novelty: {threshold: 0.5}}]"])
    with pytest.raises(ConfigError, match="unknown rule 'answer_in_inputs'"):
        load_config(None, ["filter.quality.skip=[answer_in_inputs]"])


def test_the_default_list_runs_the_stack_each_stage_always_ran():
    cfg = load_config(None, ["filter.verify.unverified=reject", "filter.quality.judge=true"])
    filt = Filter(cfg.filter, heldout=[Task("Write a haiku about the sea.")])
    ctx = StepContext(cfg, None, 1, [], [])

    def running(batch: Batch) -> list[str]:
        return [c.name for c in filt.checks if c.on(batch)]

    assert running(Batch("instructions", [])) == ["quality", "verifiable", "decontam", "novelty"]
    assert running(Batch("tasks", [], ctx)) == [
        "quality",
        "instances",
        "turns",
        "decontam",
        "novelty",
        "judge",
        "verify",
    ]
    plain = Filter(load_config(None, ["filter.verify.enabled=false"]).filter)
    assert [c.name for c in plain.checks if c.on(Batch("tasks", [], ctx))] == [
        "quality",
        "instances",
        "turns",
        "novelty",
    ]


def test_the_order_and_the_set_of_checks_are_the_configs(tmp_path):
    pool = [Task("Describe the picture of a cat in one sentence.", [Instance("", "A cat.")])]
    dup = Task("Describe the picture of the cat in a sentence.", [Instance("", "A cat.")])

    def reason(*sets: str) -> str | None:
        cfg = load_config(None, ["filter.verify.enabled=false", *sets]).filter
        _, rejected, _ = filter_tasks([Task(dup.instruction, list(dup.instances))], pool, cfg, cache_dir=tmp_path)
        return rejected[0].reject.kind if rejected else None

    assert reason() == "blacklist"  # the heuristics first: "picture" is blacklisted
    assert reason("filter.checks=[novelty, quality, instances]") == "near_duplicate"
    assert reason("filter.checks=[instances, novelty]") == "near_duplicate"
    assert reason("filter.checks=[quality, instances]") == "blacklist"
    assert reason("filter.checks=[instances]") is None


def test_a_rule_is_switched_off_by_name_and_each_rule_counts_what_it_failed(tmp_path):
    octopus = Task("How many legs does an octopus have?", [Instance("An octopus has 8 legs.", "8")])
    mixed = Task("Add the two numbers.", [Instance("2, 3", "5"), Instance("1, 1", ""), Instance("4, 4", "...")])

    def run(*sets: str):
        cfg = load_config(None, ["filter.verify.enabled=false", "filter.checks=[quality, instances]", *sets]).filter
        return filter_tasks([Task(t.instruction, list(t.instances)) for t in (octopus, mixed)], [], cfg)

    accepted, rejected, stats = run()
    assert [t.reject_reason for t in rejected] == ["answer_in_input"]
    assert accepted[0].instances == [Instance("2, 3", "5")] and stats["instances_dropped"] == 2
    assert stats["instance_rules"] == {"answer_in_input": 1, "empty_output": 1, "placeholder": 1}
    accepted, rejected, stats = run("filter.quality.skip=[answer_in_input, placeholder]")
    assert not rejected and len(accepted[1].instances) == 2
    assert stats["instance_rules"] == {"empty_output": 1}


class Programs:
    """The verify step's teacher: a program per question, by the question's words."""

    name = "scripted"

    def __init__(self, programs: dict[str, str]):
        self.programs = programs

    def complete(self, requests):
        return [
            Completion(r.id, next(p for k, p in self.programs.items() if k in r.messages[0]["content"]), "stop", 10, 10)
            for r in requests
        ]

    def close(self):
        pass


def test_verify_is_the_last_check_and_a_repaired_record_takes_its_tasks_place(tmp_path):
    cfg = load_config(
        None, ["filter.verify.repair=true", "filter.verify.unverified=keep", "filter.novelty.threshold=0.999"]
    )
    wrong = Task("What is the sum of the even numbers from 1 to 100?", [Instance("", "The sum is 5050.")])
    long = Task("Describe the sea in no more than 3 words.", [Instance("", "The sea is vast and deep.")])
    right = Task("How many words are in the sentence?", [Instance("The quick brown fox.", "4")])
    short = Task("Hi", [Instance("", "Hello.")])  # rejected by the heuristics: never verified
    ctx = StepContext(
        cfg,
        Programs(
            {
                "even numbers": "```python\nprint(sum(range(2, 101, 2)))\n```",
                "How many words": "```python\nprint(len(data.split()))\n```",
            }
        ),
        1,
        [],
        [],
    )
    started = []
    accepted, rejected, stats = Filter(cfg.filter).tasks(
        [wrong, long, short, right],
        [],
        ctx,
        lambda step: ChunkStore(tmp_path / f"{step}.jsonl"),
        lambda step, n: started.append((step, n)),
    )
    assert started == [("verify", 3)]
    assert [t.instruction for t in accepted] == [wrong.instruction, right.instruction]
    assert accepted[0].instances[0].output == "The sum is 2550." and accepted[0].id != wrong.id
    assert accepted[1] is not right and accepted[1].checks["computation"] == "agrees: 4"
    assert [str(t.reject) for t in rejected] == ["constraint_unmet(in no more than 3 words)", "too_short(1 word)"]
    assert stats["rejected"] == {"constraint_unmet": 1, "too_short": 1} and "verify_s" in stats
