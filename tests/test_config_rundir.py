"""Config loading/overrides/fingerprint, and the run directory's manifest, lock and resume rules."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfinstruct.config import PACKAGE_DIR, ConfigError, load_config
from selfinstruct.rundir import RunDir, RunError

ROOT = Path(__file__).resolve().parent.parent


def test_default_and_paper_configs_load():
    cfg = load_config()
    assert cfg.teacher.backend == "vllm" and cfg.teacher.model.startswith("embedded:")
    for p in (PACKAGE_DIR / "configs").glob("*.yaml"):
        load_config(p)


def test_overrides_are_typed_and_unknown_keys_refused():
    cfg = load_config(None, ["teacher.temperature=0.9", "generate.rounds=5", "filter.novelty.method=rouge"])
    assert cfg.teacher.temperature == 0.9 and cfg.generate.rounds == 5
    with pytest.raises(ConfigError, match="teacher.temprature"):
        load_config(None, ["teacher.temprature=0.9"])
    with pytest.raises(ConfigError, match="generate.rounds"):
        load_config(None, ["generate.rounds=many"])


def test_bad_yaml_names_file_and_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("run:\n  name: x\n  seed: [1, 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: invalid YAML"):
        load_config(p)


def test_fingerprint_ignores_resume_safe_fields_only():
    a = load_config()
    assert a.fingerprint() == load_config(None, ["generate.rounds=9", "run.threads=1"]).fingerprint()
    assert a.fingerprint() == load_config(None, ["filter.novelty.batch_size=7"]).fingerprint()  # nested
    assert a.fingerprint() != load_config(None, ["filter.novelty.threshold=0.5"]).fingerprint()
    assert a.fingerprint() != load_config(None, ["teacher.temperature=0.1"]).fingerprint()


def _cfg(tmp_path, *extra):
    return load_config(None, [f"run.root={tmp_path}", "run.name=r", *extra])


def test_run_dir_writes_resolved_config_and_refuses_a_different_one(tmp_path):
    with RunDir(_cfg(tmp_path)) as run:
        assert (run.path / "manifest.json").exists()
        assert yaml.safe_load((run.path / "config.yaml").read_text())["run"]["name"] == "r"
    with RunDir(_cfg(tmp_path, "generate.rounds=7", "filter.novelty.embed_workers=1")):
        pass  # more rounds, another speed setting: the same run, resumed
    with pytest.raises(RunError, match=r"different config \(teacher.temperature: 0.8 -> 0.1\)"):
        RunDir(_cfg(tmp_path, "teacher.temperature=0.1")).open()
    with RunDir(_cfg(tmp_path, "teacher.temperature=0.1"), force_new=True) as run:
        assert run.manifest()["fingerprint"] == _cfg(tmp_path, "teacher.temperature=0.1").fingerprint()
    assert any(p.name.startswith("r.old-") for p in tmp_path.iterdir()), "the old run must be kept aside"


def test_keys_added_by_a_newer_version_do_not_block_resume(tmp_path):
    with RunDir(_cfg(tmp_path)) as run:
        path = run.path
    stored = yaml.safe_load((path / "config.yaml").read_text())
    del stored["generate"]["max_batches"]  # as written by a version without that setting
    (path / "config.yaml").write_text(yaml.safe_dump(stored))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["fingerprint"] = "older"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with RunDir(_cfg(tmp_path)) as run:
        assert run.manifest()["fingerprint"] == _cfg(tmp_path).fingerprint()


def test_second_process_is_refused_and_lock_dies_with_its_holder(tmp_path):
    code = (
        "import time, sys; from selfinstruct.config import load_config; from selfinstruct.rundir import RunDir;"
        f"r = RunDir(load_config(None, ['run.root={tmp_path}', 'run.name=r'])); r.open();"
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"pid {holder.pid}"):
            RunDir(_cfg(tmp_path)).open()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunDir(_cfg(tmp_path)):  # SIGKILL released the lock: no stale lock file to clean by hand
        pass


def test_damaged_manifest_is_a_clear_error(tmp_path):
    with RunDir(_cfg(tmp_path)) as run:
        path = run.path
    (path / "manifest.json").write_text("{half")
    with pytest.raises(RunError, match="manifest.json: manifest is not valid JSON"):
        RunDir(_cfg(tmp_path)).open()
