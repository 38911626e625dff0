"""Fan-out over two real vLLM CPU servers on 127.0.0.1; one is killed mid-step.

Each server is pinned to its own core with one OpenMP thread (VLLM_CPU_OMP_THREADS_BIND), so
the two do not fight over the machine's 2 cores. Requests are tiny: this checks failover and
exactly-once answers, not speed.
"""

from __future__ import annotations

import re
import threading

import pytest

from selfinstruct.config import TeacherConfig
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import Request, make_teacher, run_step
from selfinstruct.testing import kill_group, start_pinned_server, wait_ready

pytestmark = pytest.mark.slow
N_REQUESTS, CHUNK = 24, 4


@pytest.fixture
def two_servers(tmp_path):
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    servers = [start_pinned_server(log, core) for core, log in enumerate(logs)]
    try:
        for (proc, url), log in zip(servers, logs):
            wait_ready(proc, url, log)
        yield servers, logs
    finally:
        for proc, _ in servers:
            kill_group(proc)


def answered_in_log(log) -> int:
    return len(re.findall(r'"POST /v1/completions HTTP/1.1" 200', log.read_text(errors="replace")))


def test_a_step_finishes_on_the_other_server_when_one_dies(two_servers, tmp_path):
    (victim, url_a), (_, url_b) = two_servers[0]
    log_a, log_b = two_servers[1]
    cfg = TeacherConfig(
        backend="openai",
        model="embedded:smollm2-135m",
        openai={"base_urls": [url_a, url_b], "max_in_flight": 4, "timeout_s": 120, "max_retries": 2, "cooldown_s": 600},
    )
    teacher = make_teacher(cfg, seed=3)
    reqs = [Request(prompt=f"Fact {i}: the number {i} is", max_tokens=12, temperature=0.0) for i in range(N_REQUESTS)]
    store = ChunkStore(tmp_path / "answers.jsonl")
    done, killed_at = [], {}

    def kill_mid_chunk(outs, wall):
        done.append(len(outs))
        if len(done) == 2:  # the next chunk is sent right after this returns: kill while it runs
            killed_at["answered"] = list(teacher.answered)
            threading.Timer(0.3, kill_group, [victim]).start()

    out = run_step(teacher, reqs, store, chunk_size=CHUNK, on_chunk=kill_mid_chunk)

    assert victim.poll() is not None, "the server was not killed"
    assert [c.request_id for c in out] == [r.id for r in reqs]
    assert all(c.finish_reason in ("stop", "length") and c.text.strip() for c in out), out
    rows = list(ChunkStore(store.path))
    assert sorted(r["request_id"] for r in rows) == sorted(r.id for r in reqs)  # each stored exactly once
    # Both served before the kill; afterwards the dead one answered nothing more.
    assert killed_at["answered"][0] > 0 and killed_at["answered"][1] > 0
    assert teacher.failures[0] >= 1 and teacher.failures[1] == 0
    assert sum(teacher.answered) == N_REQUESTS
    assert teacher.answered[0] <= killed_at["answered"][0] + CHUNK  # at most the chunk in flight at the kill
    # The surviving server's own log agrees: it sent exactly the answers we counted from it.
    assert answered_in_log(log_b) == teacher.answered[1]
    assert answered_in_log(log_a) >= killed_at["answered"][0]
