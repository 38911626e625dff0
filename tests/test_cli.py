"""The CLI: --help from docstrings, and user errors as one red line with exit code 2."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "selfinstruct.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "60"},
    )


def test_help_lists_every_subcommand():
    r = _cli("--help")
    assert r.returncode == 0
    for cmd in ("generate", "filter", "distill", "eval", "report", "export"):
        assert cmd in r.stdout


def test_bad_seed_file_is_one_line_naming_file_and_line(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"instruction": "Fine.", "instances": []}\n{"instruction": 3}\n')
    r = _cli("generate", "--seeds", str(seeds), "--set", f"run.root={tmp_path}")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{seeds}:2: 'instruction' must be a string" in lines[0], r.stderr
    assert not (tmp_path / "default").exists(), "nothing is created for input that cannot be read"


def test_config_typo_is_refused_with_its_key(tmp_path):
    r = _cli("generate", "--set", "teacher.temprature=1", "--set", f"run.root={tmp_path}")
    assert r.returncode == 2 and "teacher.temprature" in r.stderr and len(r.stderr.strip().splitlines()) == 1
