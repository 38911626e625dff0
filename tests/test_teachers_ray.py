"""The `ray` backend: one generate step on a local Ray instance (2 replicas) against the
single-process transformers teacher, greedy decoding: the same completions and candidates.

ray is the `ray` extra, which scripts/install.sh installs: a missing ray fails here rather than skip.
"""

from __future__ import annotations

import pytest

from selfinstruct.config import Config
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.formats import read_tasks
from selfinstruct.generate.steps import StepContext, propose
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import make_teacher

from conftest import PUBLIC_SEEDS

pytestmark = pytest.mark.slow


def _cfg(backend: str) -> Config:
    return Config(
        **{
            "teacher": {
                "backend": backend,
                "model": "embedded:smollm2-135m",
                "temperature": 0.0,
                "max_tokens": 16,
                "chunk_size": 64,
                "transformers": {"batch_size": 2},
                "ray": {"inner": "transformers", "replicas": 2, "batch_size": 2, "threads_per_replica": 1},
            },
            "generate": {"prompts_per_round": 4, "max_new_per_prompt": 1, "in_context": 4, "in_context_seed": 4},
        }
    )


def _propose(backend: str, tmp_path) -> tuple[list, list]:
    cfg = _cfg(backend)
    seeds = read_tasks(PUBLIC_SEEDS)[:20]
    store = ChunkStore(tmp_path / f"{backend}-propose.jsonl")
    with make_teacher(cfg.teacher, seed=cfg.run.seed) as teacher:
        tasks = propose(StepContext(cfg=cfg, teacher=teacher, round=1, seeds=seeds, generated=[]), store)
    return tasks, list(ChunkStore(store.path))


def test_a_step_on_local_ray_matches_the_single_process_step(tmp_path):
    ray_tasks, ray_rows = _propose("ray", tmp_path)
    one_tasks, one_rows = _propose("transformers", tmp_path)
    # Same requests (same content hashes), same answers, in the same order.
    assert [r["request_id"] for r in ray_rows] == [r["request_id"] for r in one_rows] and len(ray_rows) == 4
    assert [r["text"] for r in ray_rows] == [r["text"] for r in one_rows]
    assert all(r["finish_reason"] in ("stop", "length") for r in ray_rows)
    assert [t.instruction for t in ray_tasks] == [t.instruction for t in one_tasks] and ray_tasks
    assert ray_tasks[0].teacher == "ray:transformers:smollm2-135m"
    # ... so the filter accepts the same set (ids are content hashes, the teacher name aside).
    seeds = read_tasks(PUBLIC_SEEDS)
    accepted = [filter_tasks(t, seeds, _cfg("ray").filter, check_instances=False)[0] for t in (ray_tasks, one_tasks)]
    assert [t.instruction for t in accepted[0]] == [t.instruction for t in accepted[1]] and accepted[0]
    # A relaunch into the same store asks Ray for nothing: every chunk is committed.
    again, rows_again = _propose("ray", tmp_path)
    assert rows_again == ray_rows and [t.id for t in again] == [t.id for t in ray_tasks]
    assert len((tmp_path / "ray-propose.asked.log").read_text().splitlines()) == 4
