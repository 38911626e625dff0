"""bench/teacher_roofline.py reads a round's teacher calls from its stores and bounds them by the machine."""

from __future__ import annotations

import importlib.util

import pytest

from selfinstruct.store import ChunkStore

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("teacher_roofline", ROOT / "bench" / "teacher_roofline.py")
roofline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roofline)


def _round(tmp_path):
    rd = tmp_path / "run" / "round-1"
    rd.mkdir(parents=True)
    store, usage = ChunkStore(rd / "answers.jsonl"), ChunkStore(rd / "answers.usage.jsonl")
    calls = [[(100, 10), (120, 30)], [(50, 5)], [(80, 40), (90, 20), (70, 1)], [(60, 7)]]
    for i, call in enumerate(calls):
        store.write_chunk(
            f"c{i}",
            [{"request_id": f"{i}-{j}", "prompt_tokens": p, "completion_tokens": c} for j, (p, c) in enumerate(call)],
        )
        wall = 0.01 * sum(p for p, _ in call) + 0.2 * max(c for _, c in call) + 0.5
        usage.write_chunk(f"u{i}", [{"wall_s": wall, "requests": len(call)}])
    return rd


def test_each_call_is_one_usage_row_and_its_decode_steps_are_its_longest_answer(tmp_path):
    cs = roofline.calls(_round(tmp_path))
    assert [(c["n"], c["prompt"], c["completion"], c["steps"]) for c in cs] == [
        (2, 220, 40, 30),
        (1, 50, 5, 5),
        (3, 240, 61, 40),
        (1, 60, 7, 7),
    ]
    a, b, c = roofline.fit(cs)  # the walls were made as 0.01 s a prompt token + 0.2 s a step + 0.5 s
    assert a == pytest.approx(0.01) and b == pytest.approx(0.2) and c == pytest.approx(0.5)
