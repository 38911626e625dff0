"""Fan-out of the openai backend over several endpoints, against real local HTTP servers.

A failing endpoint leaves the rotation for a cool-down, its requests are retried on another
one, and it comes back once it answers again. Every request gets exactly one completion.
The same with two real vLLM servers, one killed mid-run: tests/test_teachers_openai_server.py.
"""

from __future__ import annotations

import time

from selfinstruct.teachers import Request, make_teacher

from test_teachers_openai_faults import ScriptedServer, _cfg


def test_a_dead_endpoint_leaves_the_rotation_and_its_requests_go_elsewhere():
    dead, live = ScriptedServer(), ScriptedServer()
    dead.close()  # connection refused from here on
    try:
        teacher = make_teacher(_cfg(dead.url, live.url, cooldown_s=30, max_retries=1))
        t0 = time.perf_counter()
        reqs = [Request(prompt=f"q{i}") for i in range(12)]
        out = teacher.complete(reqs)
        elapsed = time.perf_counter() - t0
    finally:
        live.close()
    assert [c.request_id for c in out] == [r.id for r in reqs]
    assert all(c.finish_reason == "stop" and c.text == f"answer to q{i}" for i, c in enumerate(out))
    assert live.seen == {f"q{i}": 1 for i in range(12)}  # each answered once, all by the live one
    # Only the requests in flight when it first failed hit the dead one; then it was out.
    assert 1 <= teacher.failures[0] <= 4 and teacher.answered == [0, 12]
    assert elapsed < 5, "failover waited on a backoff"


def test_a_failing_endpoint_comes_back_after_its_cool_down():
    flaky, steady = ScriptedServer(default="503"), ScriptedServer()
    try:
        teacher = make_teacher(_cfg(flaky.url, steady.url, cooldown_s=0.3, cooldown_max_s=0.3, max_retries=2))
        first = teacher.complete([Request(prompt=f"a{i}") for i in range(8)])
        assert all(c.finish_reason == "stop" for c in first) and teacher.answered == [0, 8]
        assert sum(steady.seen.values()) == 8
        flaky.default = "ok"  # the endpoint recovers
        time.sleep(0.35)  # past its cool-down: on probation, one request at a time
        second = teacher.complete([Request(prompt=f"b{i}") for i in range(12)])
    finally:
        flaky.close()
        steady.close()
    assert all(c.finish_reason == "stop" and c.text == f"answer to b{i}" for i, c in enumerate(second))
    # Back in full rotation once its probe succeeded: it took a fair share, not just the probe.
    assert teacher.answered[0] >= 3 and teacher.answered[0] + teacher.answered[1] == 20
    answered_b = {k: n for k, n in {**flaky.seen}.items() if k.startswith("b")}
    assert all(answered_b.get(k, 0) + steady.seen.get(k, 0) == 1 for k in (f"b{i}" for i in range(12)))


def test_all_endpoints_down_is_an_error_per_request_not_a_hang():
    a, b = ScriptedServer(default="500"), ScriptedServer(default="500")
    try:
        teacher = make_teacher(_cfg(a.url, b.url, cooldown_s=5, max_retries=2))
        t0 = time.perf_counter()
        out = teacher.complete([Request(prompt=f"x{i}") for i in range(4)])
    finally:
        a.close()
        b.close()
    assert all(c.finish_reason == "error" and "gave up after 3 attempts" in c.error for c in out)
    assert teacher.attempts == 12 and time.perf_counter() - t0 < 5
