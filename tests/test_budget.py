"""generate.budget: a run stopped at its budget and resumed with a higher one (then none) ends with the
same accepted set as a run never stopped, asks the teacher nothing twice, and a relaunch that leaves
the budget as it was stops again without teacher work; bad budgets and prices are one line naming the
key, and neither is part of the run's identity. Instant teacher, the Self-Instruct stack (it writes no
programs for the verify step), so rounds take several batches in seconds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.config import load_config
from selfinstruct.generate.budget import BUDGET_EXIT
from selfinstruct.rundir import RunDir, RunError
from selfinstruct.store import ChunkStore


def _generate(root: Path, name: str, *more: str):
    args = [
        "generate",
        "--set",
        f"run.root={root}",
        "--name",
        name,
        "--set",
        "teacher.backend=instant",
        "--set",
        "student.enabled=false",
        "--set",
        "generate.strategy=self_instruct",
        "--set",
        "filter.verify.enabled=false",
        "--rounds",
        "3",
        "--per-round",
        "8",
        # two prompts a batch: a round needs more than one batch, so a budget can stop one midway
        "--set",
        "generate.prompts_per_round=2",
        "--set",
        "generate.max_batches=4",
        *more,
    ]
    return CliRunner().invoke(app, args)


def _accepted(run: Path) -> dict[int, list[str]]:
    return {
        int(rd.name.split("-")[1]): [r["id"] for r in ChunkStore(rd / "accepted.jsonl")]
        for rd in sorted(run.glob("round-*"))
        if (rd / "accepted.jsonl.done").exists()
    }


def _asked(run: Path) -> list[str]:
    return [line.split()[1] for log in sorted(run.glob("round-*/*.asked.log")) for line in log.read_text().splitlines()]


def _round_tokens(run: Path, n: int) -> int:
    t = json.loads((run / f"round-{n}" / "stats.json").read_text())["teacher"]
    return int(t["prompt_tokens"] + t["completion_tokens"])


def test_a_budget_stop_and_resume_ends_with_the_unbudgeted_accepted_set(tmp_path):
    plain = _generate(tmp_path, "plain")
    assert plain.exit_code == 0, plain.output
    want = _accepted(tmp_path / "plain")
    assert sorted(want) == [1, 2, 3] and all(len(ids) == 8 for ids in want.values())
    run = tmp_path / "run"

    # 1 token: the first batch boundary stops it, round 1 left uncommitted.
    first = _generate(tmp_path, "run", "--set", "generate.budget.tokens=1")
    assert first.exit_code == BUDGET_EXIT, first.output
    assert "budget reached in round 1 after batch 1" in first.output and "generate.budget.tokens=N" in first.output
    assert _accepted(run) == {}
    asked = _asked(run)

    # The same budget again: stopped before the engine would start, nothing asked.
    again = _generate(tmp_path, "run", "--set", "generate.budget.tokens=1")
    assert again.exit_code == BUDGET_EXIT and "at the start of round 1" in again.output, again.output
    assert _asked(run) == asked

    # Raised past rounds 1 and 2 (as the unstopped run spent them): round 3 stops after its first batch.
    budget = _round_tokens(tmp_path / "plain", 1) + _round_tokens(tmp_path / "plain", 2) + 1
    second = _generate(tmp_path, "run", "--set", f"generate.budget.tokens={budget}")
    assert second.exit_code == BUDGET_EXIT, second.output
    assert "in round 3 after batch 1" in second.output, second.output
    assert _accepted(run) == {1: want[1], 2: want[2]}

    # No budget: the run finishes where it stopped, as if it never had.
    last = _generate(tmp_path, "run", "--set", "generate.budget.tokens=0")
    assert last.exit_code == 0 and "budget reached" not in last.output, last.output
    assert _accepted(run) == want
    twice = [rid for rid, n in Counter(_asked(run)).items() if n > 1]
    assert not twice, f"the teacher was asked again for {len(twice)} answered requests"
    assert len(json.loads((run / "manifest.json").read_text())["commands"]) == 4  # one run, resumed each time


def test_a_money_budget_stops_at_the_price_it_is_given(tmp_path):
    # 1,000 per million tokens: the first batch's few hundred tokens cost well over 0.01.
    res = _generate(tmp_path, "money", "--set", "teacher.price=1000", "--set", "generate.budget.cost=0.01")
    assert res.exit_code == BUDGET_EXIT, res.output
    line = next(line for line in res.output.splitlines() if line.startswith("budget reached"))
    assert "at teacher.price) of a budget of 0.01 (cost) (generate.budget.cost)" in line, line
    assert "--set generate.budget.cost=N" in line and line.endswith("without asking the teacher again.")


@pytest.mark.parametrize(
    "setting, says",
    [
        ("generate.budget.tokens=-1", "generate.budget.tokens: -1 is out of range; allowed: tokens >= 0"),
        ("generate.budget=-5", "generate.budget.tokens: -5 is out of range; allowed: tokens >= 0"),
        ("generate.budget.tokens=2.5", "generate.budget.tokens: Input should be a valid integer"),
        ("generate.budget.cost=-0.5", "generate.budget.cost: -0.5 is out of range; allowed: cost >= 0, finite"),
        ("generate.budget.cost=.inf", "generate.budget.cost: inf is out of range; allowed: cost >= 0, finite"),
        ("generate.budget.cost=2", "generate.budget.cost: 2.0 needs teacher.price"),
        ("generate.budget.dollars=2", "generate.budget.dollars: Extra inputs are not permitted"),
        ("teacher.price=-1", "teacher.price: -1 is out of range; allowed: price >= 0 per million tokens, finite"),
        ("teacher.price=.nan", "teacher.price: nan is out of range"),
        (
            "teacher.price={prompt_per_m: -1}",
            "teacher.price.prompt_per_m: -1 is out of range; allowed: prompt_per_m >= 0",
        ),
        ("teacher.price={prompt: 1}", "teacher.price.prompt: Extra inputs are not permitted"),
    ],
)
def test_a_bad_budget_or_price_is_one_line_naming_the_key(tmp_path, setting, says):
    res = _generate(tmp_path, "bad", "--set", setting)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], res.output
    assert not list(tmp_path.iterdir()), "no run folder for a config that cannot run"


def test_budget_and_price_are_not_part_of_the_runs_identity():
    base = load_config().fingerprint()
    assert base == load_config(None, ["generate.budget.tokens=5", "teacher.price=3"]).fingerprint()
    assert base == load_config(None, ["generate.budget=5"]).fingerprint()
    assert base != load_config(None, ["generate.max_teacher_tokens=5"]).fingerprint()  # a round's cap changes the run


def test_a_refused_resume_names_the_changed_setting_not_the_budget(tmp_path):
    def cfg(*more):
        return load_config(None, [f"run.root={tmp_path}", "run.name=r", *more])

    with RunDir(cfg("generate.budget.tokens=5", "teacher.price={prompt_per_m: 1}")):
        pass
    with RunDir(cfg("generate.budget.tokens=9", "teacher.price=2")):
        pass  # only what it may spend changed: the same run
    with pytest.raises(RunError) as e:
        RunDir(cfg("generate.budget.tokens=0", "teacher.temperature=0.1")).open()
    assert "teacher.temperature: 0.8 -> 0.1" in str(e.value) and "budget" not in str(e.value)
    assert "price" not in str(e.value)
