"""The run-folder/round/filter redesign changed no behaviour: a fixed-seed `generate` on the real
transformers backend gives the same accepted sets, rejects (with their reasons) and stats as the
code before it did. The snapshot in fixtures/golden_run.json was written by that earlier code
(commit 7f6c3c2, run twice: the same both times) with this same test; one key was renamed in it
since (stats "generated" is "proposed" now, the name the round table always showed). Rewritten once
on purpose since, when the quality heuristics gained `answer_in_input` and `unfinished` and the list
parser learned markdown "**Task N**:" markers, and again when a self-contained question stopped
getting an input request (generate.input_for_questions), and again when the instance rules gained
`chatter` and `echoes_instruction` and an input in a code fence kept its content whole.
SELFINSTRUCT_WRITE_GOLDEN=1 rewrites it, for a change that means to alter behaviour (say so in
its commit).

The default config's prompt choices (3 instructions a prompt, classify by neighbours, held-out
seeds with decontamination), with SmolLM2 on transformers for speed; two rounds of 4."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct.config import DEFAULT_CONFIG
from selfinstruct.records import Task
from selfinstruct.round_dir import RoundStats
from selfinstruct.store import ChunkStore

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden_run.json"
# Timings differ run to run; everything else in stats.json must not.
VOLATILE = {"wall_s", "step_s", "commit_s"}


def _generate(tmp_path: Path) -> Path:
    args = [
        "--config",
        str(DEFAULT_CONFIG),
        "--set",
        f"run.root={tmp_path}",
        "--name",
        "golden",
        "--rounds",
        "2",
        "--per-round",
        "4",
        "--set",
        "teacher.backend=transformers",
        "--set",
        "teacher.model=embedded:smollm2-135m",
        "--set",
        "teacher.prompt_style=completion",
        "--set",
        "generate.prompts_per_round=4",
        "--set",
        "generate.max_batches=2",
        "--set",
        "teacher.max_tokens=64",
        "--set",
        "teacher.chunk_size=4",
        "--set",
        "run.threads=2",
        "--set",
        "student.enabled=false",
        # Self-Instruct as it was: the default's verified strategy and verify step came after the snapshot
        "--set",
        "generate.strategy=self_instruct",
        "--set",
        "filter.verify.enabled=false",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "selfinstruct.cli", "generate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp_path / "golden"


def _task(t: Task) -> dict:
    return {
        "id": t.id,
        "instruction": t.instruction,
        "instances": [[i.input, i.output] for i in t.instances],
        "is_classification": t.is_classification,
        "round": t.round,
        "parents": t.parents,
        "reason": t.reject_reason,
        "scores": {k: round(v, 3) for k, v in sorted(t.scores.items())},
    }


def _stats(d: dict) -> dict:
    """stats.json as RoundStats reads it (the snapshot's "generated" is today's "proposed"), timings out."""
    out = {k: v for k, v in RoundStats.from_dict(d).to_dict().items() if k not in VOLATILE}
    out["teacher"] = {k: v for k, v in d.get("teacher", {}).items() if k != "wall_s"}
    return out


def snapshot(run: Path) -> dict:
    rounds = {}
    for n in (1, 2):
        d = run / f"round-{n}"
        rounds[str(n)] = {
            "accepted": [_task(Task.from_dict(r)) for r in ChunkStore(d / "accepted.jsonl")],
            "rejected": sorted(
                (_task(Task.from_dict(r)) for r in ChunkStore(d / "rejected.jsonl")),
                key=lambda t: (t["id"], t["reason"] or ""),
            ),
            "carry": [_task(Task.from_dict(r)) for r in ChunkStore(d / "carry.jsonl")],
            "stats": _stats(json.loads((d / "stats.json").read_text())),
        }
    return rounds


@pytest.mark.slow
def test_same_accepted_rejects_and_stats_as_before(tmp_path):
    got = snapshot(_generate(tmp_path))
    if os.environ.get("SELFINSTRUCT_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert sum(len(r["accepted"]) for r in want.values()) >= 4, "the snapshot must hold accepted tasks"
    assert sum(len(r["rejected"]) for r in want.values()) >= 1, "... and rejects, to compare their reasons"
    for n in want:
        for part in ("accepted", "rejected", "carry", "stats"):
            assert got[n][part] == want[n][part], f"round {n}: {part} differs from the snapshot"
