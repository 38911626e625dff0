"""generate end to end on a real embedded teacher: rounds, resume after SIGKILL, no duplicates."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfinstruct.config import PACKAGE_DIR
from selfinstruct.records import Task
from selfinstruct.store import ChunkStore

ROOT = Path(__file__).resolve().parent.parent
THREADS = int(os.environ.get("SELFINSTRUCT_TEST_THREADS", "2"))
STEPS = ("propose", "classify", "instances")


def _args(tmp_path, name, backend="transformers", model="embedded:smollm2-135m"):
    # The SmolLM2 config: the round logic is what is tested here, and its teacher is the fastest.
    return [
        "--config",
        str(PACKAGE_DIR / "configs" / "smollm2.yaml"),
        "--set",
        f"run.root={tmp_path}",
        "--name",
        name,
        "--rounds",
        "2",
        "--per-round",
        "4",
        "--set",
        f"teacher.backend={backend}",
        "--set",
        f"teacher.model={model}",
        "--set",
        "generate.prompts_per_round=4",
        "--set",
        "generate.max_batches=2",
        "--set",
        "teacher.max_tokens=64",
        "--set",
        "teacher.chunk_size=2",
        "--set",
        f"run.threads={THREADS}",
    ]


def _launch(args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "selfinstruct.cli", "generate", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _committed(run: Path) -> set[str]:
    ids = set()
    for rd in run.glob("round-*"):
        for step in STEPS:
            ids |= {r["request_id"] for r in ChunkStore(rd / f"{step}.jsonl")}
    return ids


def _asked(run: Path) -> list[tuple[int, str]]:
    rows = []
    for log in run.glob("round-*/*.asked.log"):
        rows += [(int(p), rid) for p, rid in (line.split() for line in log.read_text().splitlines())]
    return rows


def _accepted(run: Path) -> list[Task]:
    return [Task.from_dict(r) for rd in sorted(run.glob("round-*")) for r in ChunkStore(rd / "accepted.jsonl")]


@pytest.mark.slow
def test_sigkill_mid_round_then_relaunch(tmp_path):
    args = _args(tmp_path, "kill")
    run = tmp_path / "kill"
    proc = _launch(args)
    # Kill once round 1 has committed some teacher chunks but is not finished.
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if len(_committed(run)) >= 3 and not (run / "round-1" / "accepted.jsonl.done").exists():
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _committed(run)
    assert before, "nothing was committed before the kill"

    proc2 = _launch(args)
    out = proc2.communicate(timeout=900)[0]
    assert proc2.returncode == 0, out
    second_pid = proc2.pid
    asked_again = {rid for pid, rid in _asked(run) if pid == second_pid} & before
    assert not asked_again, f"the teacher was asked again for {len(asked_again)} answered prompts"
    # Every request of every step answered exactly once in the stores.
    for rd in run.glob("round-*"):
        for step in STEPS:
            ids = [r["request_id"] for r in ChunkStore(rd / f"{step}.jsonl")]
            assert len(ids) == len(set(ids)), f"{rd.name}/{step} holds duplicates"
    accepted = _accepted(run)
    assert accepted, out
    assert len({t.id for t in accepted}) == len(accepted)
    assert len({" ".join(t.instruction.lower().split()) for t in accepted}) == len(accepted)
    assert all(t.instances and t.reject_reason is None for t in accepted)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["rounds_done"] == 2 and len(manifest["commands"]) == 2

    # A third launch of the finished run does no teacher work at all.
    n_asked = len(_asked(run))
    proc3 = _launch(args)
    out3 = proc3.communicate(timeout=300)[0]
    assert proc3.returncode == 0, out3
    assert len(_asked(run)) == n_asked
