"""The sandbox holds what the verifiers need it to: code the teacher wrote cannot write outside its
folder, reach the network, run past its time or memory limit, see the engine's environment, or leave
a process behind. Each test also shows the same act succeeding outside the sandbox, so it can fail."""

import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from selfinstruct.sandbox import Limits, probe, run_python


def test_it_runs_code_and_returns_what_it_printed():
    r = run_python("import sys\nprint(sum(range(10)), sys.stdin.read().upper())", stdin="abc")
    assert r.ok and r.stdout.split() == ["45", "ABC"]


def test_it_writes_inside_its_folder_but_not_outside(tmp_path):
    target = tmp_path / "outside.txt"
    target.write_text("engine data")  # the engine can
    r = run_python(
        f"open('inside.txt', 'w').write('x'); print(open('inside.txt').read())\n"
        f"open({str(target)!r}, 'w').write('overwritten')"
    )
    assert r.stdout.strip() == "x"
    assert not r.ok and "Permission" in r.why()
    assert target.read_text() == "engine data"


def test_it_cannot_reach_the_network():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the engine can
    r = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('connected')")
    server.close()
    assert not r.ok and "connected" not in r.stdout


def test_a_busy_loop_stops_at_the_cpu_limit_and_a_sleep_at_the_wall_clock():
    busy = run_python("while True: pass", limits=Limits(cpu_s=1, wall_s=20))
    assert not busy.ok and busy.wall_s < 10
    asleep = run_python("import time; time.sleep(60)", limits=Limits(wall_s=1.5))
    assert asleep.timed_out and asleep.why() == "timed out" and asleep.wall_s < 10


def test_memory_past_the_limit_fails():
    r = run_python("x = bytearray(2 * 1024 ** 3); print('allocated')", limits=Limits(memory_mb=512))
    assert not r.ok and "allocated" not in r.stdout and "MemoryError" in r.why()
    assert run_python("x = bytearray(64 * 1024 ** 2); print('allocated')").stdout.strip() == "allocated"


def _processes_with(marker: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                out.append(int(pid))
        except OSError:
            pass
    return out


@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_it_leaves_no_process_behind(ending):
    marker = str(10_000 + uuid.uuid4().int % 80_000)
    code = (
        f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        "time.sleep(0.3)\nprint('spawned')\n" + ("time.sleep(60)\n" if ending == "times out" else "")
    )
    r = run_python(code, limits=Limits(wall_s=3))
    assert "spawned" in r.stdout
    assert _processes_with(f"sleep\x00{marker}") == []


def test_it_does_not_see_the_engine_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    r = run_python("import os; print(os.environ.get('OPENAI_API_KEY'))")
    assert r.stdout.strip() == "None"


def test_the_host_gives_every_layer():
    # The machine this project tests on allows all of them; a host that does not runs with fewer,
    # and this says which are missing.
    assert set(probe()) >= {"namespaces", "landlock"}, probe()
