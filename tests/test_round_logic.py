"""run_round's own logic in seconds, against a scripted teacher (no model: the instant teacher with
its slips switched off, or made to fail on purpose), with the real parsers, MiniLM novelty, faiss
index and stores: the 1.3x instance margin, carry-over instead of surplus, the acceptance rate and
the round's stats. The end-to-end tests (test_round_golden.py, test_run_faults.py) run real models."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from selfinstruct.config import DEFAULT_CONFIG, load_config
from selfinstruct.formats import read_tasks
from selfinstruct.generate.round import run_round
from selfinstruct.rundir import RunDir
from selfinstruct.teachers.base import Completion
from selfinstruct.teachers.instant import InstantTeacher
from selfinstruct.testing import DEFAULT_SEEDS


class ScriptedTeacher(InstantTeacher):
    """Meets the Teacher protocol; answers each step as its request's meta says, never slips unless
    told to: `fail_instances` makes every instance (and answer) come back empty. Keeps every request it saw."""

    def __init__(self, cfg, fail_instances: bool = False):
        super().__init__(cfg, restate_share=0.0, malformed_share=0.0)
        self.fail_instances, self.requests = fail_instances, []

    def complete(self, requests):
        self.requests += requests
        out = super().complete(requests)
        if self.fail_instances:
            out = [
                Completion(o.request_id, "", "stop", o.prompt_tokens, 0) if {"k", "input_request"} & set(r.meta) else o
                for r, o in zip(requests, out)
            ]
        return out

    def asked(self, step: str) -> list:
        key = {"propose": "parents", "instances": "k"}[step]
        return [r for r in self.requests if key in r.meta]


def _setup(tmp_path, per_round=6, **over):
    sets = [
        f"run.root={tmp_path}",
        "run.name=r",
        "teacher.backend=instant",
        "student.enabled=false",
        "generate.strategy=self_instruct",
        "filter.verify.enabled=false",  # the instant teacher writes no programs
        f"generate.per_round={per_round}",
        "generate.prompts_per_round=8",
        "generate.max_batches=3",
        "generate.heldout_share=0",
        *[f"{k}={v}" for k, v in over.items()],
    ]
    cfg = load_config(DEFAULT_CONFIG, sets)
    seeds = read_tasks(DEFAULT_SEEDS)
    for s in seeds:
        s.round = 0
    return cfg, seeds


def test_instances_are_asked_for_the_need_plus_the_margin_and_the_rest_is_carried(tmp_path):
    cfg, seeds = _setup(tmp_path)
    teacher = ScriptedTeacher(cfg.teacher)
    with RunDir(cfg) as run:
        stats, accepted, carry = run_round(cfg, run, 1, seeds, [], teacher)
        rnd = run.round(1)
        # Batch 1 writes instances for ceil(6 * 1.3) = 8 novel instructions, and no more.
        first_batch = {r.meta["task"] for r in teacher.asked("instances")}
        assert len(first_batch) == math.ceil(6 * 1.3) == 8
        assert len(accepted) == stats.accepted == 6
        # Nothing the teacher wrote is rejected for want of room: the extra ones are carried.
        assert "surplus" not in stats.rejected and stats.carried == len(carry) > 0
        assert {t.id for t in carry}.isdisjoint(t.id for t in accepted)
        assert len(rnd.tasks("carry")) == len(carry) and rnd.done
        assert rnd.committed()[0] == stats  # what a relaunch reads back is what the round returned


def test_the_next_round_takes_the_carried_tasks_first_and_asks_less(tmp_path):
    cfg, seeds = _setup(tmp_path)
    with RunDir(cfg) as run:
        teacher = ScriptedTeacher(cfg.teacher)
        stats1, acc1, carry = run_round(cfg, run, 1, seeds, [], teacher)
        again = ScriptedTeacher(cfg.teacher)
        stats2, acc2, _ = run_round(
            cfg, run, 2, seeds, acc1, again, carry_in=carry, novel_per_prompt=stats1.novel_per_prompt
        )
    assert stats2.counts["carried_in"] == len(carry) == stats1.carried
    assert len(again.asked("propose")) < len(teacher.asked("propose"))
    assert all(t.round == 2 for t in acc2)  # a carried task belongs to the round that accepts it
    assert {t.id for t in acc2}.isdisjoint(t.id for t in acc1)


def test_acceptance_rate_and_stats_count_what_the_stores_hold(tmp_path):
    cfg, seeds = _setup(tmp_path, per_round=4)
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], ScriptedTeacher(cfg.teacher, fail_instances=True))
        rejected = run.round(1).tasks("rejected")
        usage = run.round(1).usage()
    # Every instance comes back empty: all three batches try, nothing is accepted, each reject says why.
    assert accepted == [] and stats.accepted == 0 and stats.acceptance_rate == 0.0
    assert stats.rejected == dict(Counter(t.reject.kind for t in rejected)) and len(rejected) > 0
    assert stats.rejected.get("no_valid_instance", 0) + stats.rejected.get("empty_output", 0) >= len(rejected) - 2
    assert stats.prompts == stats.counts["prompts"] > 0
    assert stats.proposed >= stats.candidates > 0
    assert stats.tokens_per_accepted is None  # nothing accepted: no division by zero
    assert stats.teacher["prompt_tokens"] == sum(u["prompt_tokens"] for u in usage.values())
    assert set(stats.step_s) >= {"propose", "filter", "instances", "commit"}


@pytest.mark.parametrize("need", [1, 5, 10])
def test_the_margin_is_thirty_percent_rounded_up(tmp_path, need):
    cfg, seeds = _setup(tmp_path, per_round=need, **{"generate.prompts_per_round": 16})
    teacher = ScriptedTeacher(cfg.teacher)
    with RunDir(cfg) as run:
        run_round(cfg, run, 1, seeds, [], teacher)
    first = sorted({r.meta["task"] for r in teacher.asked("instances")}, key=str)
    assert len(first) == math.ceil(need * 1.3)
