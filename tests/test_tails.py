"""Bounded tails (generate/tails.py): from round 2 a step is asked for at most the quantile x margin of
its earlier answers' lengths, measured only on answers that ended by themselves and only in rounds
where the step ran unbounded; the round records and shows the limits it used."""

from __future__ import annotations

import json
import math

import numpy as np

from selfinstruct.config import TailOptions
from selfinstruct.generate.round import print_round, run_round
from selfinstruct.generate.tails import bounded, step_limits
from selfinstruct.round_dir import RoundStats
from selfinstruct.rundir import RunDir
from selfinstruct.store import usage_store, write_atomic
from selfinstruct.teachers.base import Completion, Request

from test_round_logic import ScriptedTeacher, _setup


def _cfg(tmp_path, **over):
    return _setup(tmp_path, **over)[0]  # test_round_logic's scripted-round config


def _answers(run, n, step, rows, limits=None):
    rnd = run.round(n)
    store = rnd.store(step)
    texts = [f"answer {n} {i}" for i in range(len(rows))]
    store.write_chunk("c", [Completion(f"{step}{n}-{i}", texts[i], f, 1, c).to_dict() for i, (c, f) in enumerate(rows)])
    usage_store(store).write_chunk("c", [{"requests": len(rows), "completion_tokens": sum(c for c, _ in rows)}])
    write_atomic(rnd.path / "stats.json", json.dumps(RoundStats(n, token_limits=limits or {}).to_dict()))


def test_a_limit_is_the_quantile_of_finished_answers_times_the_margin(tmp_path):
    opts = TailOptions(quantile=0.9, margin=1.25, min_answers=10)
    with RunDir(_cfg(tmp_path)) as run:
        lengths = list(range(10, 110, 5))  # 20 answers that ended by themselves
        _answers(run, 1, "respond", [(c, "stop") for c in lengths] + [(256, "length")] * 8)
        _answers(run, 1, "classify", [(2, "stop")] * 9)  # too few to measure
        assert step_limits(run, 1, opts) == {}  # round 1 runs as configured
        limits = step_limits(run, 2, opts)
        # The loops that ran to 256 do not count: the limit is the finished answers' 90th percentile x 1.25.
        assert limits == {"respond": math.ceil(float(np.quantile(lengths, 0.9)) * 1.25)} == {"respond": 120}
        assert step_limits(run, 2, TailOptions(quantile=None)) == {}
        # Round 2 ran bounded: its answers are cut at 120, so round 3's limit is still round 1's.
        _answers(run, 2, "respond", [(c, "stop") for c in range(5, 60)], limits=limits)
        assert step_limits(run, 3, opts) == limits


def test_only_requests_above_the_limit_change_and_each_keeps_its_id():
    asks = [Request(prompt="a", max_tokens=256), Request(prompt="b", max_tokens=3)]
    out = bounded(asks, 100)
    assert [r.max_tokens for r in out] == [100, 3]
    assert out[0].id == asks[0].id  # the step that built it finds its answer by it
    assert out[1] is asks[1] and bounded(asks, None) is asks


class LimitedTeacher(ScriptedTeacher):
    """The scripted teacher, cut at each request's max_tokens as a real one is."""

    def complete(self, requests):
        out = super().complete(requests)
        for r, o in zip(requests, out):
            if o.completion_tokens > r.max_tokens:
                o.text = " ".join(o.text.split()[: r.max_tokens * 3 // 4])
                o.finish_reason, o.completion_tokens = "length", r.max_tokens
        return out


def test_round_two_asks_within_the_limits_round_one_measured_and_says_so(tmp_path, capsys):
    tails = {"generate.tails.min_answers": 5, "generate.tails.quantile": 0.2, "generate.tails.margin": 1}
    cfg, seeds = _setup(tmp_path, per_round=6, **tails)
    with RunDir(cfg) as run:
        first = LimitedTeacher(cfg.teacher)
        stats1, acc1, carry = run_round(cfg, run, 1, seeds, [], first)
        assert stats1.token_limits == {} and all(r.max_tokens <= cfg.teacher.max_tokens for r in first.requests)
        limits = step_limits(run, 2, cfg.generate.tails)
        second = LimitedTeacher(cfg.teacher)
        stats2, _, _ = run_round(cfg, run, 2, seeds, acc1, second, carry_in=carry)
    assert limits and stats2.token_limits == limits
    assert json.loads((run.path / "round-2" / "stats.json").read_text())["token_limits"] == limits
    inputs = [r for r in second.requests if "k" in r.meta]  # the instances step: each task's input
    assert inputs and all(r.max_tokens == limits["instances"] < cfg.teacher.max_tokens for r in inputs)
    # At the 20th percentile, most inputs ran past the limit and were cut there.
    assert stats2.counts["instances_truncated"] > 0
    capsys.readouterr()
    print_round(stats2)
    shown = " ".join(capsys.readouterr().err.split())
    assert "token limits (bounded tails)" in shown and f"instances {limits['instances']} (" in shown


def test_the_bench_replays_a_run_with_its_limits(tmp_path):
    import importlib.util
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "bench"))  # the bench imports teacher_roofline beside it
    try:
        spec = importlib.util.spec_from_file_location("tails_bench", ROOT / "bench" / "tails.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with RunDir(_cfg(tmp_path)) as run:
        _answers(run, 1, "respond", [(c, "stop") for c in range(10, 110, 5)])
        # Round 2, one call: a loop to 256, a finished answer past the limit (120), one within it.
        _answers(run, 2, "respond", [(256, "length"), (150, "stop"), (40, "stop")])
        got = bench.replay(run, TailOptions(quantile=0.9, margin=1.25, min_answers=10), ({"answer 2 1"}, set()))
    assert got["steps"] == 256 and got["steps_bounded"] == 120  # the call lasts as long as its longest answer
    assert got["tokens"] == 446 and got["tokens_saved"] == (256 - 120) + (150 - 120)
    assert (got["finished"], got["lost"], got["lost_accepted"], got["lost_valid"]) == (2, 1, 1, 0)
