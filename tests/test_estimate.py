"""generate --estimate's arithmetic, against the instant teacher: the batching simulation by hand, a
calibration batch that projects what the full run then spends, the cost from the token split, and
the scratch folder left nowhere. The Self-Instruct stack (the instant teacher writes no programs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.generate.estimate import measure_run, simulate


def _args(root: Path, *more: str) -> list[str]:
    return [
        "generate",
        "--set",
        f"run.root={root}",
        "--set",
        "teacher.backend=instant",
        "--set",
        "generate.strategy=self_instruct",
        "--set",
        "filter.verify.enabled=false",
        "--rounds",
        "3",
        "--per-round",
        "10",
        *more,
    ]


def _figures(output: str) -> dict[str, float]:
    """The estimate's last line, name=value pairs."""
    last = output.strip().splitlines()[-1]
    return {k: float(v) for k, v in (pair.split("=") for pair in last.split())}


def _measured_tokens(run: Path) -> float:
    return sum(
        json.loads(p.read_text())["teacher"]["prompt_tokens"]
        + json.loads(p.read_text())["teacher"]["completion_tokens"]
        for p in run.glob("round-*/stats.json")
    )


@pytest.mark.parametrize(
    "acceptance, want",
    [
        (1.0, (20, 18)),  # ceil(6 x 1.3) = 8 tried, 6 taken, 2 carried: the next rounds try 6 each
        (0.0, (72, 0)),  # nothing passes: every batch of every round tries its 8
    ],
)
def test_simulate_follows_the_rounds_batching(acceptance, want):
    assert simulate(3, 6, 3, acceptance) == want


def test_simulate_counts_what_a_batch_takes_not_what_passes():
    # One batch of need 2: ceil(2 x 1.3) = 3 tried; of Binomial(3, 0.5) passes at most 2 are taken:
    # 1 x P(1) + 2 x P(>= 2) = 3/8 + 2 x 4/8 = 1.375, the rest carried.
    tried, accepted = simulate(1, 2, 1, 0.5)
    assert tried == 3 and accepted == pytest.approx(1.375, abs=0.05)
    assert simulate(3, 20, 8, 1.0) == (26 + 20 + 20, 60)


def test_a_calibration_batch_projects_what_the_run_spends(tmp_path):
    est = CliRunner().invoke(app, _args(tmp_path, "--estimate"))
    assert est.exit_code == 0, est.output
    assert not list(tmp_path.iterdir()), "the estimate must not write the run it estimates"
    f = _figures(est.output)
    assert "calibrating: one batch of 10 tasks" in est.output
    assert "95% Wilson interval of the acceptance rate" in est.output
    assert "student training after each round: excluded" in est.output  # the default config's student is on
    assert "cost" not in f  # no teacher.price, no cost

    run = CliRunner().invoke(app, _args(tmp_path, "--set", "student.enabled=false"))
    assert run.exit_code == 0, run.output
    measured = _measured_tokens(tmp_path / "default")
    assert abs(f["tokens"] - measured) <= 0.25 * measured, (f["tokens"], measured)
    assert f["tokens_lo"] <= f["tokens"] <= f["tokens_hi"] and f["accepted"] == 30
    assert f["prompt_tokens"] + f["completion_tokens"] == f["tokens"]
    assert abs(f["seconds"] - f["rounds_s"] - f["startup_s"]) <= 1  # each rounded to the second

    # From the finished run instead: its own tokens, and no start-up it did not record.
    again = _figures(CliRunner().invoke(app, _args(tmp_path, "--estimate-from", str(tmp_path / "default"))).output)
    assert abs(again["tokens"] - measured) <= 0.1 * measured and "startup_s" not in again
    m = measure_run(tmp_path / "default")
    assert m.prompt_tokens + m.completion_tokens == measured and m.passed >= 30 and m.tried >= m.passed


def test_the_cost_is_the_projected_tokens_at_their_prices(tmp_path):
    run = CliRunner().invoke(app, _args(tmp_path, "--set", "student.enabled=false"))
    assert run.exit_code == 0, run.output
    price = "teacher.price={prompt_per_m: 2.5, completion_per_m: 10}"
    res = CliRunner().invoke(app, _args(tmp_path, "--estimate-from", str(tmp_path / "default"), "--set", price))
    assert res.exit_code == 0, res.output
    f = _figures(res.output)
    want = (f["prompt_tokens"] * 2.5 + f["completion_tokens"] * 10) / 1e6
    assert f["cost"] == pytest.approx(want, rel=1e-3) and f["cost_lo"] <= f["cost"] <= f["cost_hi"]
    assert "2.5 / 10 per million prompt / completion tokens" in res.output


def test_an_estimate_from_a_run_that_is_not_there_is_one_line(tmp_path):
    res = CliRunner().invoke(app, _args(tmp_path, "--estimate-from", str(tmp_path / "nothing")))
    assert res.exit_code == 2 and res.output.startswith("error: ") and "no such run directory" in res.output
