"""Backpressure and loud failures of the openai backend (issue #28), against real local HTTP servers.

A server that takes only CAPACITY requests at once (429 beyond that, as a hosted API or a proxy in
front of vLLM does): the teacher's AIMD limit settles near it, and every request is answered once.
A server that fails everything ends `selfinstruct generate` with its error in one line, exit 2,
and a round committed before stays as it was.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.config import PACKAGE_DIR, TeacherConfig
from selfinstruct.generate.progress import StepProgress
from selfinstruct.teachers import Request, make_teacher
from selfinstruct.teachers.instant import InstantTeacher
from selfinstruct.testing import DEFAULT_SEEDS

from test_teachers_openai_faults import ScriptedServer, _answer, _cfg

ROOT = Path(__file__).resolve().parent.parent
CAPACITY = 4


class BusyServer:
    """Answers after `delay` s while at most `capacity` requests are open, 429 beyond. `limit_of` is read
    at each arrival (the teacher's current limit), to see where it settled."""

    def __init__(self, capacity: int, delay: float = 0.15, limit_of=lambda: 0):
        self.capacity, self.delay, self.limit_of = capacity, delay, limit_of
        self.open = 0  # requests taken and not yet answered
        self.open_s = [0.0, 0.0, time.monotonic()]  # the integral of `open` over time, its span, the last change
        self.arrivals: list[tuple[int, int]] = []  # (requests open with this one, the teacher's limit)
        self.answered: dict[str, int] = {}
        self.rejected = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _tick(self) -> None:
        now = time.monotonic()
        if self.arrivals:
            self.open_s[0] += self.open * (now - self.open_s[2])
            self.open_s[1] += now - self.open_s[2]
        self.open_s[2] = now

    def mean_open(self) -> float:
        return self.open_s[0] / self.open_s[1] if self.open_s[1] else 0.0

    def serve(self, key: str) -> tuple[int, bytes]:
        with self.lock:
            self._tick()
            self.open += 1
            self.arrivals.append((self.open, self.limit_of()))
            busy = self.open > self.capacity
            if busy:
                self.open -= 1
                self.rejected += 1
        if busy:
            return 429, b'{"error": "too many requests in flight"}'
        time.sleep(self.delay)
        with self.lock:  # closed before the answer leaves: the client's next request never overlaps it
            self._tick()
            self.open -= 1
            self.answered[key] = self.answered.get(key, 0) + 1
        return _answer("ok", key, False, "")

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept-alive connections: what is open is what the client sent, not
            # what the accept loop got round to

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = server.serve(body["prompt"])
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _busy_run(n: int, **openai):
    """n requests through a teacher with max_in_flight 16 against a server that takes CAPACITY."""
    server = BusyServer(CAPACITY)
    teacher = make_teacher(_cfg(server.url, max_in_flight=16, max_retries=30, timeout_s=30, **openai))
    server.limit_of = lambda: teacher.limiter.limit
    try:
        reqs = [Request(prompt=f"q{i}", max_tokens=8) for i in range(n)]
        out = []
        for k in range(0, n, 50):  # chunks, as run_step sends them: the limit carries over between calls
            out += teacher.complete(reqs[k : k + 50])
    finally:
        server.close()
    return teacher, server, reqs, out


def test_requests_in_flight_settle_near_what_the_server_takes(capsys):
    teacher, server, reqs, out = _busy_run(100)
    # Nothing lost, nothing asked twice: every request answered once, in order.
    assert [c.request_id for c in out] == [r.id for r in reqs]
    assert all(c.finish_reason == "stop" and c.text == f"answer to q{i}" for i, c in enumerate(out))
    assert server.answered == {f"q{i}": 1 for i in range(100)}
    # Settled near CAPACITY, far below the ceiling of 16: the teacher's limit as each request of the second
    # half arrived, and at the end. (The server's own count of open requests cannot exceed CAPACITY + 1: the
    # share of 429s is what shows how hard the teacher pushed.)
    late = server.arrivals[len(server.arrivals) // 2 :]
    mean_limit = statistics.mean(limit for _, limit in late)
    with capsys.disabled():
        print(
            f"\nlimit: mean {mean_limit:.2f} in the second half, final {teacher.limiter.limit}; server: "
            f"{server.mean_open():.2f} open on average; 429s {server.rejected} of {len(server.arrivals)} attempts"
        )
    assert CAPACITY / 2 <= mean_limit <= 2 * CAPACITY
    assert CAPACITY / 2 <= teacher.limiter.limit <= 2 * CAPACITY
    assert server.rejected / len(server.arrivals) < 0.3
    # The round's progress line shows the limit the teacher is at.
    with StepProgress("round 1", status=teacher.status) as progress:
        progress.start("propose", 1)
        progress.update("propose", out[:1], 0.1)
    assert f"in_flight={teacher.limiter.limit}" in capsys.readouterr().err


def test_without_adaptation_it_keeps_max_in_flight_and_the_server_rejects_most():
    teacher, server, _, out = _busy_run(60, adaptive=False)
    assert all(c.finish_reason == "stop" for c in out)
    print(f"\nnot adaptive: 429s {server.rejected} of {len(server.arrivals)} attempts")
    assert teacher.limiter.limit == teacher.limiter.peak == 16
    assert server.rejected / len(server.arrivals) > 0.3


def test_the_limit_stays_within_min_and_max_in_flight():
    server = ScriptedServer(default="429")
    try:
        teacher = make_teacher(_cfg(server.url, max_in_flight=8, min_in_flight=3, max_retries=2))
        out = teacher.complete([Request(prompt=f"x{i}") for i in range(12)])
    finally:
        server.close()
    assert all(c.finish_reason == "error" and "HTTP 429" in c.error for c in out)
    assert teacher.limiter.limit == 3 and teacher.limiter.peak <= 8


# Loud failures: through the CLI ---------------------------------------------------------------------


def _generate(root: Path, url: str, *more: str):
    return CliRunner().invoke(
        app,
        [
            "generate",
            "--config",
            str(PACKAGE_DIR / "configs" / "openai-server.yaml"),
            "--seeds",
            str(DEFAULT_SEEDS),
            "--set",
            f"run.root={root}",
            "--set",
            f"teacher.openai.base_urls=[{url}]",
            "--set",
            "teacher.openai.max_retries=2",
            "--set",
            "teacher.openai.backoff_s=0.01",
            "--set",
            "teacher.openai.backoff_max_s=0.05",
            "--per-round",
            "3",
            "--set",
            "generate.prompts_per_round=4",
            "--set",
            "generate.max_batches=1",
            *more,
        ],
    )


def _error_line(res) -> str:
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.output
    return errors[0]


@pytest.mark.parametrize("status", ["500", "429"])
def test_a_server_that_fails_everything_stops_generate_with_its_error(tmp_path, status):
    server = ScriptedServer(default=status)  # 429s carry Retry-After: 0
    try:
        res = _generate(tmp_path, server.url, "--rounds", "1")
    finally:
        server.close()
    line = _error_line(res)
    assert "every request of step 'propose' failed" in line and f"HTTP {status}: " in line, line
    assert f"status {status}" in line, line  # the server's own words
    assert not (tmp_path / "openai" / "round-1" / "accepted.jsonl.done").exists()  # no empty round committed


class InstantServer(ScriptedServer):
    """An OpenAI server that answers as the instant teacher does (synthetic but parseable text), the
    step told from the end of its completion-style prompt; `default` other than "ok" fails everything."""

    teacher = InstantTeacher(TeacherConfig(backend="instant"), restate_share=0, malformed_share=0)

    def _handler(self):
        base, server = super()._handler(), self

        class Handler(base):
            def do_POST(self):
                if server.default != "ok":
                    return super().do_POST()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["prompt"].rstrip()
                meta = (
                    {"task": 1}
                    if prompt.endswith("classification?")
                    else {"k": 0}
                    if prompt.endswith(("Input:", "Class label:"))
                    else {"parents": []}
                )
                [c] = server.teacher.complete([Request(prompt=body["prompt"], stop=body.get("stop", []), meta=meta)])
                payload = json.dumps(
                    {
                        "choices": [{"text": c.text, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 5},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def test_a_failing_round_keeps_the_rounds_before_it(tmp_path):
    server = InstantServer()
    try:
        first = _generate(tmp_path, server.url, "--rounds", "1")
        assert first.exit_code == 0, first.output
        accepted = tmp_path / "openai" / "round-1" / "accepted.jsonl"
        kept = accepted.read_text()
        assert kept.count("\n") >= 1
        server.default = "500"
        second = _generate(tmp_path, server.url, "--rounds", "2")
    finally:
        server.close()
    assert "every request of step 'propose' failed" in _error_line(second)
    assert accepted.read_text() == kept and not (tmp_path / "openai" / "round-2" / "accepted.jsonl.done").exists()


def test_a_step_whose_only_prompt_is_too_long_goes_on_without_it(tmp_path):
    """A prompt too long fails alone (a 100 KB seed): that is not a teacher that is down."""
    from selfinstruct.store import ChunkStore
    from selfinstruct.teachers.base import Completion, Request, TeacherError, run_step

    class Refuses:
        name = "refuses"

        def __init__(self, error):
            self.error = error

        def complete(self, requests):
            return [Completion(r.id, "", "error", error=self.error) for r in requests]

    req = [Request(prompt="x" * 100)]
    too_long = "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens."
    outs = run_step(Refuses(too_long), req, ChunkStore(tmp_path / "a.jsonl"), 8)
    assert [o.finish_reason for o in outs] == ["error"]
    with pytest.raises(TeacherError, match="HTTP 500"):
        run_step(Refuses("HTTP 500: boom"), req, ChunkStore(tmp_path / "b.jsonl"), 8)
