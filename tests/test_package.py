"""The package stands on its own: the wheel `pip install .` builds holds the configs, prompt templates and
default seeds, and, installed outside the checkout, `selfinstruct generate --rounds 1` runs from any
folder (here a temporary one) with the instant teacher, reading all three from the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from selfinstruct.config import PACKAGE_DIR, PROJECT_ROOT


def _wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(PROJECT_ROOT), "--no-deps", "--no-build-isolation", "-w", str(out)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    return next(out.glob("selfinstruct-*.whl"))


def test_the_wheel_holds_the_configs_prompts_and_seeds_and_generate_runs_from_anywhere(tmp_path):
    wheel = _wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, pattern in (("configs", "*.yaml"), ("prompts", "*.jinja"), ("seeds", "*.jsonl")):
        ours = {f"selfinstruct/{folder}/{p.name}" for p in (PACKAGE_DIR / folder).glob(pattern)}
        assert ours and ours <= names, sorted(ours - names)
    assert any(n.endswith("licenses/LICENSE") for n in names)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    # The installed copy, not the checkout: PYTHONPATH comes before the editable install's finder.
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import selfinstruct; print(selfinstruct.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site)), where
    sets = ["teacher.backend=instant", "student.enabled=false", "generate.strategy=self_instruct"]
    sets += ["filter.verify.enabled=false", "generate.per_round=5", "generate.heldout_share=0"]
    proc = subprocess.run(
        [sys.executable, "-m", "selfinstruct.cli", "generate", "--rounds", "1", "--name", "r"]
        + [arg for s in sets for arg in ("--set", s)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads((work / "runs" / "r" / "round-1" / "stats.json").read_text())
    assert stats["accepted"] == 5
    config = (work / "runs" / "r" / "config.yaml").read_text()
    assert "seeds: seeds/seed_tasks.jsonl" in config  # the package's default seeds, found from elsewhere
