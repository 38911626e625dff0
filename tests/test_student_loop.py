"""The closed loop for real: round 1 is distilled into the student (LoRA, CPU), and the trained
student, its adapter loaded by the transformers backend, is round 2's teacher. A relaunch of the
finished run trains nothing and asks nothing."""

from __future__ import annotations

import json

import pytest

from selfinstruct.config import Config
from selfinstruct.generate.loop import run_generate
from selfinstruct.store import ChunkStore

from conftest import PUBLIC_SEEDS, THREADS

pytestmark = pytest.mark.slow


def _cfg(tmp_path) -> Config:
    return Config(
        **{
            "run": {"root": str(tmp_path), "name": "loop", "threads": THREADS},
            "seeds": str(PUBLIC_SEEDS),
            "teacher": {
                "backend": "transformers",
                "model": "embedded:smollm2-135m",
                "prompt_style": "completion",
                "temperature": 0.7,
                "max_tokens": 48,
                "chunk_size": 4,
                "transformers": {"batch_size": 4},
            },
            "generate": {"rounds": 2, "per_round": 2, "prompts_per_round": 4, "max_batches": 2, "min_acceptance": 0.0},
            "student": {"enabled": True, "loop": "student_teacher", "max_steps": 2, "batch_size": 2, "max_length": 256},
        }
    )


def _usage_teachers(run, n: int) -> set[str]:
    rows = [json.loads(x) for f in (run / f"round-{n}").glob("*.usage.jsonl") for x in f.read_text().splitlines()]
    return {r["teacher"] for r in rows}


def test_the_student_trained_on_round_1_teaches_round_2(tmp_path):
    result = run_generate(_cfg(tmp_path))
    run = tmp_path / "loop"
    assert len(result["rounds"]) == 2
    for n in (1, 2):
        assert (run / f"round-{n}" / "student" / ".done").exists()
        assert (run / f"round-{n}" / "student" / "adapter_config.json").exists()
    # Round 1 was answered by the base model, round 2 by base + round 1's adapter.
    assert _usage_teachers(run, 1) == {"transformers:smollm2-135m"}
    assert _usage_teachers(run, 2) == {"transformers:smollm2-135m+student"}
    round2 = list(ChunkStore(run / "round-2" / "accepted.jsonl", readonly=True))
    assert round2 and all(r["teacher"].endswith("+student") for r in round2)
    # A relaunch: both students are kept (no retraining), no teacher is asked anything.
    asked = sorted(p.read_text() for p in run.glob("round-*/*.asked.log"))
    again = run_generate(_cfg(tmp_path))
    assert again["accepted"] == result["accepted"]
    assert sorted(p.read_text() for p in run.glob("round-*/*.asked.log")) == asked
