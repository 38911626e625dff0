"""The openai backend against a real local HTTP server that misbehaves on a script.

The server answers each prompt by its own script (a list of behaviours, one per attempt), so
concurrent requests stay deterministic: 500s, 429s, hangs past the timeout, dropped
connections, malformed JSON, missing fields, 400s. It counts the attempts it saw per prompt.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from selfinstruct.config import TeacherConfig
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import Request, make_teacher, run_step

TIMEOUT_S = 0.5
SECRET = "sk-test-7c1f9e0d2b"


class ScriptedServer:
    def __init__(self, scripts: dict[str, list[str]] | None = None, default: str = "ok"):
        self.scripts = {k: list(v) for k, v in (scripts or {}).items()}
        self.default = default
        self.seen: dict[str, int] = {}
        self.auth: set[str] = set()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next_behaviour(self, key: str) -> str:
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            script = self.scripts.get(key)
            return script.pop(0) if script else self.default

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.auth.add(self.headers.get("Authorization", ""))
                key = body.get("prompt") or body["messages"][-1]["content"]
                behaviour = server.next_behaviour(key)
                chat = "messages" in body
                if behaviour == "close":
                    self.close_connection = True
                    return  # no answer at all: the client sees the connection drop
                if behaviour == "hang":
                    time.sleep(TIMEOUT_S * 4)
                    return
                status, payload = _answer(behaviour, key, chat, self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if behaviour == "429":
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

        return Handler


def _answer(behaviour: str, key: str, chat: bool, auth: str) -> tuple[int, bytes]:
    if behaviour in ("ok", "length"):
        choice = {"index": 0, "finish_reason": "stop" if behaviour == "ok" else "length"}
        text = f"answer to {key}"
        choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        return 200, json.dumps({"choices": [choice], "usage": usage}).encode()
    if behaviour == "malformed":
        return 200, b'{"choices": [{"text": "cut off'
    if behaviour == "missing":
        return 200, json.dumps({"choices": [], "usage": {}}).encode()
    if behaviour == "400":  # an error page that echoes our headers: the key must not leak from it
        return 400, json.dumps({"error": f"bad request, you sent {auth}"}).encode()
    return int(behaviour), json.dumps({"error": f"status {behaviour}"}).encode()


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("SI_TEST_KEY", SECRET)


def _cfg(*urls: str, **openai) -> TeacherConfig:
    opts = {
        "base_urls": list(urls),
        "api_key_env": "SI_TEST_KEY",
        "timeout_s": TIMEOUT_S,
        "max_retries": 3,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "max_in_flight": 4,
        "served_model": "m",
        **openai,
    }
    return TeacherConfig(backend="openai", model="some/model", openai=opts)


SCRIPTS = {
    "p-500": ["500", "503", "ok"],
    "p-429": ["429", "ok"],
    "p-hang": ["hang", "ok"],
    "p-close": ["close", "ok"],
    "p-malformed": ["malformed", "ok"],
    "p-missing": ["missing", "ok"],
    "p-400": ["400", "ok"],
    "p-length": ["length"],
    "p-down": ["500"] * 10,
    "p-ok": ["ok"],
}


def test_retries_what_is_retryable_and_reports_the_rest(secret_env):
    server = ScriptedServer(SCRIPTS)
    try:
        teacher = make_teacher(_cfg(server.url))
        reqs = [Request(prompt=k, max_tokens=8) for k in SCRIPTS] + [
            Request(messages=[{"role": "user", "content": "chat-429"}])
        ]
        server.scripts["chat-429"] = ["429", "ok"]
        t0 = time.perf_counter()
        out = {r.prompt or "chat-429": c for r, c in zip(reqs, teacher.complete(reqs))}
        elapsed = time.perf_counter() - t0
    finally:
        server.close()
    # Retried until answered: each was seen once per scripted failure, plus the success.
    for key, attempts in [("p-500", 3), ("p-429", 2), ("p-hang", 2), ("p-close", 2), ("chat-429", 2)]:
        assert server.seen[key] == attempts, key
        assert out[key].finish_reason == "stop" and out[key].text == f"answer to {key}", key
        assert (out[key].prompt_tokens, out[key].completion_tokens) == (7, 3)
    # Not retried: reported as errors after one attempt, nothing kept as text.
    for key, why in [("p-400", "HTTP 400"), ("p-malformed", "malformed JSON"), ("p-missing", "unparsable")]:
        assert server.seen[key] == 1, key
        assert out[key].finish_reason == "error" and why in out[key].error and out[key].text == "", key
    assert SECRET not in out["p-400"].error and "***" in out["p-400"].error
    # Retries exhausted: max_retries + 1 attempts, then an error, not an exception.
    assert server.seen["p-down"] == 4 and out["p-down"].finish_reason == "error"
    assert "gave up after 4 attempts" in out["p-down"].error
    assert out["p-length"].finish_reason == "length" and out["p-length"].text
    assert server.auth == {f"Bearer {SECRET}"}
    assert elapsed < 10, "a hang or backoff was not bounded"


def test_spreads_requests_over_several_servers():
    a, b = ScriptedServer(), ScriptedServer()
    try:
        for balance in ("least_in_flight", "round_robin"):
            teacher = make_teacher(_cfg(a.url, b.url, balance=balance))
            out = teacher.complete([Request(prompt=f"{balance}-{i}") for i in range(12)])
            assert all(c.finish_reason == "stop" for c in out)
    finally:
        a.close()
        b.close()
    assert sum(a.seen.values()) + sum(b.seen.values()) == 24
    assert sum(a.seen.values()) >= 4 and sum(b.seen.values()) >= 4


def test_a_dead_server_is_reported_not_hung():
    server = ScriptedServer()
    url = server.url
    server.close()  # nothing listens there any more: connection refused on every attempt
    teacher = make_teacher(_cfg(url, max_retries=2))
    t0 = time.perf_counter()
    [out] = teacher.complete([Request(prompt="anyone?")])
    assert out.finish_reason == "error" and "gave up after 3 attempts" in out.error
    assert teacher.attempts == 3 and time.perf_counter() - t0 < 5


def test_run_step_stays_resumable_across_failures_and_a_crash(tmp_path, secret_env):
    reqs = [Request(prompt=f"q{i}", max_tokens=8) for i in range(10)]
    flaky = ScriptedServer({"q1": ["400"], "q2": ["500", "ok"], "q4": ["malformed"], "q5": ["hang", "ok"]})
    store = ChunkStore(tmp_path / "answers.jsonl")
    chunks_done = []

    def crash_after_two(outs, wall):
        chunks_done.append(len(outs))
        if len(chunks_done) == 2:
            raise KeyboardInterrupt  # the run is stopped mid-step, after two committed chunks

    try:
        with pytest.raises(KeyboardInterrupt):
            run_step(make_teacher(_cfg(flaky.url, max_retries=1)), reqs, store, chunk_size=3, on_chunk=crash_after_two)
    finally:
        flaky.close()
    assert chunks_done == [3, 3] and flaky.seen["q2"] == flaky.seen["q5"] == 2 and "q6" not in flaky.seen
    first = {row["request_id"]: row["finish_reason"] for row in ChunkStore(store.path)}
    assert len(first) == 6 and sum(f == "error" for f in first.values()) == 2  # q1 (400), q4 (malformed)

    healthy = ScriptedServer()
    try:
        out = run_step(make_teacher(_cfg(healthy.url)), reqs, ChunkStore(store.path), chunk_size=3)
    finally:
        healthy.close()
    # The relaunch asked only what was not answered: the errors and the chunks never run.
    assert healthy.seen == {k: 1 for k in ["q6", "q7", "q8", "q9", "q1", "q4"]}
    assert [c.request_id for c in out] == [r.id for r in reqs]
    assert all(c.finish_reason == "stop" and c.text == f"answer to q{i}" for i, c in enumerate(out))
    usage = (tmp_path / "answers.usage.jsonl").read_text()
    assert '"teacher": "openai:model"' in usage
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text(), path


def test_the_key_is_not_in_the_config_or_the_teacher(secret_env):
    cfg = _cfg("http://127.0.0.1:9/v1")
    teacher = make_teacher(cfg)
    assert SECRET not in json.dumps(cfg.model_dump()) and SECRET not in repr(teacher)
    assert SECRET not in teacher.name
