"""The engine against the instant teacher (teacher.backend=instant: no model, answers at once), with the
real parsers, MiniLM novelty filter, faiss index and stores: no teacher work thrown away, and a
SIGKILL at a random point of a bigger run loses and duplicates nothing. bench/engine_scale.py runs
the same at 52,000 tasks."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from selfinstruct.config import DEFAULT_CONFIG, load_config
from selfinstruct.generate.loop import run_generate
from selfinstruct.testing import accepted_ids, instant_overrides


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_rounds_carry_what_they_do_not_need_and_reject_nothing_as_surplus(tmp_path):
    cfg = load_config(DEFAULT_CONFIG, instant_overrides(tmp_path, 150, 3, 64))
    out = run_generate(cfg)
    rounds = out["rounds"]
    assert [r["accepted"] for r in rounds] == [150, 150, 150]
    run = tmp_path / "scale"
    for r in rounds:
        rejected = _rows(run / f"round-{r['round']}" / "rejected.jsonl")
        assert not [t for t in rejected if t["reject_reason"].startswith("surplus")]
        assert r["tokens_per_accepted"] > 0 and set(r["step_s"]) >= {"propose", "filter", "instances", "commit"}
    # What a round did not need is the next round's first candidates: none lost on the way.
    for before, after in zip(rounds, rounds[1:]):
        assert after["counts"]["carried_in"] == before["carried"]
    carried = _rows(run / "round-3" / "carry.jsonl")
    assert len(carried) == rounds[-1]["carried"]
    ids = accepted_ids(run)
    assert len(ids) == len(set(ids)) == 450
    assert not {t["id"] for t in carried} & set(ids)


def test_sigkill_at_a_random_point_and_a_relaunch_keep_each_task_once(tmp_path):
    per_round, rounds = 400, 4
    cmd = [sys.executable, "-m", "selfinstruct.cli", "generate"]
    for o in instant_overrides(tmp_path, per_round, rounds, 64):
        cmd += ["--set", o]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    run = tmp_path / "scale"
    deadline = time.time() + 600
    seen = {}  # rounds committed -> when it was first seen
    while len(accepted_ids(run)) < 2 * per_round and proc.poll() is None and time.time() < deadline:
        seen.setdefault(len(accepted_ids(run)) // per_round, time.time())
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    one_round = time.time() - seen.get(1, seen.get(0, time.time() - 3))
    time.sleep(random.uniform(0, 0.8 * one_round))  # somewhere in round 3 (or its commit)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_with = len(accepted_ids(run))
    assert killed_with < per_round * rounds

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    ids = accepted_ids(run)
    assert len(ids) == len(set(ids)) == per_round * rounds
    texts = [
        json.loads(line)["instruction"]
        for f in sorted(run.glob("round-*/accepted.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert len(set(texts)) == len(texts)  # no task twice, even under another id
