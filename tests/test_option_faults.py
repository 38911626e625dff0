"""Faults from a second independent fault run (issue #27): options never range-checked, a strategy mix
that failed late, every seed held out, a lone surrogate in a seed, user text read as rich markup, and
a config file that did not say what it meant. Each ends in one line (exit 2) and leaves no run folder.

The run-identity faults of the same issue (seeds, held-out file, audit lock, read-only run, a student
on the wrong base) are in test_run_identity_faults.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.generate.student_loop import is_heldout
from selfinstruct.records import Task
from selfinstruct.testing import DEFAULT_SEEDS

ROOT = Path(__file__).resolve().parent.parent
SEEDS = DEFAULT_SEEDS


def instant(root: Path, *more: str) -> list[str]:
    """The issue's `I`: a fast generate on the instant teacher (no model, no student)."""
    return [
        "generate",
        "--set",
        f"run.root={root}",
        "--set",
        "teacher.backend=instant",
        "--set",
        "student.enabled=false",
        "--set",
        "generate.per_round=5",
        "--rounds",
        "1",
        # the Self-Instruct stack: the instant teacher writes no programs for the default's verify step
        "--set",
        "generate.strategy=self_instruct",
        "--set",
        "filter.verify.enabled=false",
        *more,
    ]


def seed_file(path: Path, n: int = 30) -> Path:
    path.write_text("".join(SEEDS.read_text().splitlines(keepends=True)[:n]))
    return path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def one_error(res) -> str:
    """The command's one `error:` line; no traceback."""
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


# 1. Options out of range ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, key, allowed",
    [
        (["--rounds", "0"], "generate.rounds", "rounds >= 1"),
        (["--rounds", "-1"], "generate.rounds", "rounds >= 1"),
        (["--per-round", "0"], "generate.per_round", "per_round >= 1"),
        (["--set", "generate.max_batches=0"], "generate.max_batches", "max_batches >= 1"),
        (["--set", "teacher.chunk_size=0"], "teacher.chunk_size", "chunk_size >= 1"),
        (["--set", "teacher.chunk_size=-1"], "teacher.chunk_size", "chunk_size >= 1"),
        (["--set", "filter.novelty.batch_size=0"], "filter.novelty.batch_size", "batch_size >= 1"),
        (["--set", "filter.novelty.threshold=-0.2"], "filter.novelty.threshold", "0 < threshold <= 1"),
        (["--set", "teacher.top_p=2"], "teacher.top_p", "0 < top_p <= 1"),
        (["--set", "teacher.temperature=-1"], "teacher.temperature", "temperature >= 0"),
        (["--set", "teacher.temperature=.nan"], "teacher.temperature", "temperature >= 0"),
        (["--set", "generate.min_acceptance=2"], "generate.min_acceptance", "0 <= min_acceptance <= 1"),
        (["--set", "generate.heldout_share=1.0"], "generate.heldout_share", "0 <= heldout_share < 1"),
        (["--set", "generate.in_context_seed=9"], "generate.in_context_seed", "0 <= in_context_seed <= in_context (8)"),
    ],
)
def test_an_option_out_of_range_is_refused_with_its_key_and_range(tmp_path, args, key, allowed):
    line = one_error(cli(*instant(tmp_path), *args))
    assert f"{key}:" in line and "out of range" in line and f"allowed: {allowed}" in line, line
    assert not list(tmp_path.iterdir()), "no run folder for a config that cannot run"


# 2. A strategy mix that cannot work --------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, says",
    [
        ("[]", "an empty list"),
        ("{self_instruct: 0}", "no strategy has a share above 0"),
        ("{self_instruct: .inf, evol: 1}", "share self_instruct: inf; allowed: a finite number >= 0"),
        ("{self_instruct: -1, evol: 1}", "share self_instruct: -1.0"),
        ("{self_instruct: .nan, evol: 1}", "share self_instruct: nan"),
        ("[self_instruct, {}]", "no strategy has a share above 0 in {} (entry 2 of the list)"),
    ],
)
def test_a_bad_strategy_mix_is_refused_before_round_one(tmp_path, spec, says):
    line = one_error(cli(*instant(tmp_path, "--set", f"generate.strategy={spec}", "--rounds", "2")))
    assert "generate.strategy:" in line and says in line, line
    assert not list(tmp_path.iterdir())


# 3. Every seed held out ---------------------------------------------------------------------------


def _held_out_id(share: float) -> str:
    return next(f"s{i}" for i in range(1000) if is_heldout(Task(instruction="x", id=f"s{i}"), share))


@pytest.mark.parametrize("strategy", ["self_instruct", "{self_instruct: 1, evol: 1}"])
def test_a_seed_file_the_split_holds_out_whole_is_refused(tmp_path, strategy):
    """One seed, which the default split (35%) holds out: nothing left to generate from (evol's parents
    were an IndexError)."""
    seeds = tmp_path / "one.jsonl"
    seeds.write_text(
        json.dumps(
            {
                "id": _held_out_id(0.35),
                "instruction": "Name a prime number.",
                "instances": [{"input": "", "output": "7"}],
                "is_classification": False,
            }
        )
        + "\n"
    )
    root = tmp_path / "runs"
    line = one_error(
        cli(
            *instant(
                root,
                "--seeds",
                str(seeds),
                "--set",
                "generate.heldout_share=0.35",
                "--set",
                f"generate.strategy={strategy}",
            )
        )
    )
    assert f"{seeds}: all 1 seed(s) are held out" in line and "heldout_share" in line, line
    assert not root.exists()


# 4. A lone surrogate ------------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_seed_is_one_line_naming_the_line(tmp_path):
    seeds = seed_file(tmp_path / "seeds.jsonl", 5)
    with open(seeds, "a") as f:
        f.write('{"instruction": "Spell this: \\ud800", "instances": [{"input": "", "output": "x"}]}\n')
    root = tmp_path / "runs"
    for _ in range(2):  # and the relaunch says the same, instead of crashing again
        line = one_error(cli(*instant(root, "--seeds", str(seeds))))
        assert f"{seeds}:6: holds a lone surrogate (\\ud800" in line, line
    assert not root.exists()


# 5. User text is never rich markup ----------------------------------------------------------------


def test_markup_in_a_seed_path_or_a_seed_field_is_printed_as_it_is(tmp_path):
    root = tmp_path / "runs"
    line = one_error(cli(*instant(root, "--seeds", str(tmp_path / "missing[/].jsonl"))))
    assert "missing[/].jsonl: no such file" in line, line
    seeds = seed_file(tmp_path / "seeds.jsonl", 3)
    with open(seeds, "a") as f:
        f.write('{"instruction": "Do it.", "instances": [], "is_classification": "[/]"}\n')
    line = one_error(cli(*instant(root, "--seeds", str(seeds))))
    assert "'is_classification' must be true/false, got '[/]'" in line, line


def test_markup_in_a_run_root_and_name_survives_generate_and_report(tmp_path):
    """`[/]` (a closing tag with nothing to close) crashed the final summary and `report`; `[bold]`
    was silently eaten from the name."""
    root = tmp_path / "odd[/]root"
    res = cli(*instant(root, "--seeds", str(seed_file(tmp_path / "s.jsonl")), "--name", "mk[bold]x"))
    assert res.exit_code == 0, res.output
    assert "generate: " in res.output  # the summary, whose title holds the run's path
    res = cli("report", str(root / "mk[bold]x"))
    assert res.exit_code == 0, res.output
    assert "run mk[bold]x:" in res.output and f"report: {root}/mk[bold]x/report/index.html" in res.output


# 10. A config that does not say what it means ------------------------------------------------------


def test_a_folder_given_as_the_config_is_one_line(tmp_path):
    line = one_error(cli(*instant(tmp_path / "runs"), "-c", str(tmp_path)))
    assert f"{tmp_path}: is a folder, not a config file" in line, line


def test_an_empty_config_file_is_refused_not_read_as_every_default(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    line = one_error(cli(*instant(tmp_path / "runs"), "-c", str(empty)))
    assert f"{empty}: empty config file" in line, line
    assert not (tmp_path / "runs").exists()


def test_a_duplicate_yaml_key_is_refused_with_its_line(tmp_path):
    cfg = tmp_path / "dup.yaml"
    cfg.write_text("teacher:\n  temperature: 0.2\n  top_p: 0.9\n  temperature: 0.9\n")
    line = one_error(cli(*instant(tmp_path / "runs"), "-c", str(cfg)))
    assert f"{cfg}:4: invalid YAML: duplicate key 'temperature' (first on line 2" in line, line


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "mk[/]x"])
def test_a_run_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, name):
    root = tmp_path / "runs"
    root.mkdir()
    line = one_error(cli(*instant(root, "--name", name)))
    assert "run.name:" in line and "not a plain folder name" in line, line
    assert not list(tmp_path.rglob("manifest.json")) and sorted(tmp_path.iterdir()) == [root]


def test_duplicate_seeds_are_warned_about_and_held_out_once(tmp_path):
    rows = SEEDS.read_text().splitlines()[:40]
    twins = json.loads(rows[0]) | {"instruction": "Another task under the first seed's id."}
    seeds = tmp_path / "dups.jsonl"
    seeds.write_text("\n".join(rows + rows[:20] + [json.dumps(twins)]) + "\n")
    res = cli(*instant(tmp_path / "runs", "--seeds", str(seeds), "--set", "generate.heldout_share=0.5"))
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "warning: " in out and "20 seed row(s) repeat an earlier row exactly" in out
    assert "1 seed id(s) name more than one task (e.g. 'seed_task_0', 2 tasks)" in out
    held = (tmp_path / "runs" / "default" / "heldout.jsonl").read_text().splitlines()
    assert held and len(held) == len(set(held)), "a seed row held out twice would be scored twice"
