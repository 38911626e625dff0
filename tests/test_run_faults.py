"""Faults from an independent torture run (issue #16): a full disk, a moved run, a damaged store,
teacher errors the screen did not show, an export of a run still being generated.

A full disk is made with a file size limit in a child process (RLIMIT_FSIZE: writes past it fail
with EFBIG, as in test_store.py): a small tmpfs needs privileges a test cannot count on.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.config import load_config
from selfinstruct.distill.data import load_training_tasks
from selfinstruct.generate.round import _round_stats, print_round
from selfinstruct.records import Instance, Task
from selfinstruct.report import build_report
from selfinstruct.rundir import RunDir, RunError
from selfinstruct.store import ChunkStore
from selfinstruct.testing import DEFAULT_SEEDS

from runfixture import cached_run

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _python(code: str) -> subprocess.CompletedProcess:
    """`code` in a child; it calls limit_disk() where the disk should become full."""
    head = (
        "import resource, signal\n"
        "def limit_disk(n):\n"
        "    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "    resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))\n"
    )
    return subprocess.run([sys.executable, "-c", head + code], env=ENV, capture_output=True, text=True, timeout=600)


def _store_errors(code: str) -> list[str]:
    """`code` in a child that prints "ERR <message>" per StoreError: no traceback, the messages."""
    r = _python(code)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    return [line for line in r.stdout.splitlines() if line.startswith("ERR")]


def _cli(*args: str, limit: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "selfinstruct.cli", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_file_size(limit) if limit else None,
    )


def _leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*.tmp")]


@pytest.fixture
def run(tmp_path, public_seeds) -> Path:
    return cached_run(tmp_path / "root", public_seeds)


# 1. A full disk -------------------------------------------------------------------------------


def test_full_disk_while_saving_the_embedding_cache_warns_once_and_goes_on(tmp_path):
    """The cache is only a cache: no traceback, no .tmp left on the full disk, vectors still right."""
    code = f"""
import numpy as np
from selfinstruct.config import NoveltyConfig
from selfinstruct.filter.embed import EmbeddingCache, embed_tasks
from selfinstruct.formats import read_tasks
tasks, cfg = read_tasks({str(DEFAULT_SEEDS)!r})[:60], NoveltyConfig()
want = embed_tasks(tasks, cfg)  # the model is loaded (and any export of it cached) before the disk fills
limit_disk(20_000)  # 60 vectors of 384 floats are ~92 KB
first = embed_tasks(tasks[:40], cfg, EmbeddingCache({str(tmp_path)!r}, cfg))
again = embed_tasks(tasks, cfg, EmbeddingCache({str(tmp_path)!r}, cfg))  # a later batch, same cache file
assert np.allclose(first, want[:40], atol=1e-5) and np.allclose(again, want, atol=1e-5)
print("OK")
"""
    r = _python(code)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, r.stderr
    assert "embeddings-" in warnings[0] and "disk full" in warnings[0]
    assert not _leftovers(tmp_path) and not list(tmp_path.rglob("*.npz"))


def test_full_disk_on_the_runs_own_writes_is_a_store_error_naming_the_file(tmp_path):
    """Manifest, completion marker, task files: one line naming the file, the old file intact."""
    code = f"""
from selfinstruct.config import load_config
from selfinstruct.formats import write_tasks
from selfinstruct.records import Task
from selfinstruct.rundir import RunDir
from selfinstruct.store import ChunkStore, StoreError
run = RunDir(load_config(None, ["run.root={tmp_path}", "run.name=r"]))
run.open()
store = run.round(1).store("accepted")
store.write_chunk("round", [{{"id": 1}}])
limit_disk(2_000)
writes = [lambda: run.update_manifest(note="x" * 5000),
          lambda: store.mark_done({{"note": "x" * 5000}}),
          lambda: write_tasks(run.heldout_path, [Task(instruction="x" * 5000)])]
for write in writes:
    try:
        write()
    except StoreError as e:
        print("ERR", e)
"""
    errors = _store_errors(code)
    assert len(errors) == 3, errors
    for err, name in zip(errors, ("manifest.json", "accepted.jsonl.done", "heldout.jsonl")):
        assert f"/r/{name}: disk full" in err or f"/r/round-1/{name}: disk full" in err, err
    run = tmp_path / "r"
    assert json.loads((run / "manifest.json").read_text())["name"] == "r"  # the old one, whole
    assert not (run / "round-1" / "accepted.jsonl.done").exists() and not (run / "heldout.jsonl").exists()
    assert not _leftovers(tmp_path)


def test_full_disk_while_saving_a_student_or_an_audit_is_one_line_and_leaves_nothing_half(tmp_path):
    """The student's adapter (written by safetensors, which reports the OS error in its own type)
    and the audit's verdicts (the path every audit and eval file takes): one line naming the file,
    no half folder."""
    code = f"""
import os
from pathlib import Path
import torch
from safetensors.torch import save_file
from selfinstruct.distill import train
from selfinstruct.config import StudentConfig
from selfinstruct.store import StoreError, write_atomic
class Model:
    def save_pretrained(self, d):
        save_file({{"w": torch.zeros(64_000)}}, os.path.join(d, "adapter_model.safetensors"))
class Trainer:
    model, processing_class = Model(), None
out = Path("{tmp_path}") / "round-1" / "student"
limit_disk(20_000)
try:
    train._save(Trainer(), out.with_name("student.tmp"), out, StudentConfig(), None, {{}}, 0.0)
except StoreError as e:
    print("ERR", e)
try:
    write_atomic(Path("{tmp_path}") / "audit" / "verdicts.jsonl", "x" * 50_000)
except StoreError as e:
    print("ERR", e)
"""
    errors = _store_errors(code)
    assert len(errors) == 2, errors
    assert "round-1/student: disk full" in errors[0] and "audit/verdicts.jsonl: disk full" in errors[1], errors
    assert not (tmp_path / "round-1" / "student").exists() and not (tmp_path / "round-1" / "student.tmp").exists()
    assert not _leftovers(tmp_path)


def test_report_and_export_on_a_full_disk_are_one_line_errors(run):
    for args, name in (
        (["export", str(run), "--format", "alpaca"], "alpaca.json"),
        (["export", str(run), "--format", "parquet"], "data.parquet"),
        (["report", str(run)], ".png"),
    ):
        r = _cli(*args, limit=4_000)
        assert r.returncode == 2, (args, r.stderr[-3000:])
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and name in errors[0] and "disk full" in errors[0], r.stderr[-3000:]
        assert "Traceback" not in r.stderr
        assert not _leftovers(run), args


# 2. A moved run ---------------------------------------------------------------------------------


def test_a_moved_run_resumes_and_real_drift_is_still_refused(tmp_path):
    with RunDir(load_config(None, [f"run.root={tmp_path / 'disk-a'}", "run.name=r"])) as run:
        run.round(1).store("propose").write_chunk("k", [{"request_id": "q1"}])
    shutil.copytree(tmp_path / "disk-a" / "r", tmp_path / "disk-b" / "moved")
    moved = [f"run.root={tmp_path / 'disk-b'}", "run.name=moved"]
    with RunDir(load_config(None, moved)) as run:
        assert run.round(1).store("propose").has("k")  # what was answered stays answered
        assert run.manifest()["name"] == "moved"
    with pytest.raises(RunError, match=r"teacher.temperature: 0.8 -> 0.1"):
        RunDir(load_config(None, [*moved, "teacher.temperature=0.1"])).open()


# 3. A damaged store ------------------------------------------------------------------------------


def _propose_store(round_dir: Path) -> Path:
    store = ChunkStore(round_dir / "propose.jsonl")
    for c in range(2):
        store.write_chunk(
            str(c),
            [
                {
                    "request_id": f"{c}-{i}",
                    "text": "Task 9: Write a poem.",
                    "finish_reason": "stop",
                    "error": None,
                    "meta": {"prompt": i},
                }
                for i in range(3)
            ],
        )
    return store.path


def test_damage_that_keeps_the_size_is_found(tmp_path):
    from selfinstruct.store import damaged_stores

    path = _propose_store(tmp_path)
    data = path.read_bytes()
    first_newline = data.index(b"\n")
    path.write_bytes(data[:first_newline] + b" " + data[first_newline + 1 :])  # two records on one line
    assert len(path.read_bytes()) == len(data)
    [line] = damaged_stores(tmp_path)
    assert line.startswith(f"{path}:1: does not match its commit log")


def test_a_truncated_propose_store_is_reported_by_report_export_and_distill(run, capsys):
    from selfinstruct.store import damaged_stores

    path = _propose_store(run / "round-1")
    os.truncate(path, path.stat().st_size - 20)  # mid-line, after the run finished
    [line] = damaged_stores(run / "round-1")
    assert str(path) in line and "shorter" in line

    res = CliRunner().invoke(app, ["export", str(run), "--format", "alpaca"])
    assert res.exit_code == 0, res.output
    assert "damaged store" in res.output and "round-1/propose.jsonl" in res.output

    page = build_report(run).read_text()
    assert "damaged stores" in page and "round-1/propose.jsonl" in page and str(run) not in page
    assert "damaged store" in capsys.readouterr().err

    tasks, _ = load_training_tasks(run)
    assert tasks and "round-1/propose.jsonl" in capsys.readouterr().err


# 4. Teacher errors on the screen ------------------------------------------------------------------

VLLM_TOO_LONG = (
    "rejected by vLLM: The decoder prompt (length 30112) is longer than the maximum model length "
    "of 2048. Make sure that `max_model_len` is no smaller than the number of text tokens."
)


def test_round_table_shows_teacher_errors_and_names_the_seed_too_long(tmp_path, capsys):
    from selfinstruct.generate.round import _long_seeds

    long_seed = Task(instruction="Summarize this.", instances=[Instance("x" * 100_000, "A summary.")])
    pool = [long_seed] + [Task(instruction=f"Write a haiku about {w}.") for w in ("rain", "tea", "snow", "moss")]
    rows = []
    for i in range(64):
        failed = i < 28  # vLLM's own message for a prompt over max_model_len (see _vllm_host.py)
        parents = [long_seed.id, pool[1 + i % 4].id] if failed else [pool[1 + i % 4].id, pool[1 + (i + 1) % 4].id]
        rows.append(
            {
                "request_id": f"r{i}",
                "text": "" if failed else "Task 9: Name a color.",
                "finish_reason": "error" if failed else "stop",
                "prompt_tokens": 0,
                "completion_tokens": 5,
                "error": VLLM_TOO_LONG if failed else None,
                "meta": {"prompt": i, "parents": parents},
            }
        )
    with RunDir(load_config(None, [f"run.root={tmp_path}", "run.name=r"])) as run:
        for c in range(0, 64, 16):
            run.round(1).store("propose").write_chunk(str(c), rows[c : c + 16])
        counts = Counter(prompts=64, proposed=36, candidates=36, propose_errors=28)
        stats = _round_stats(1, counts, [], [], run.round(1), 1.0)
        stats.long_seeds = _long_seeds(run.round(1), pool)
    assert stats.teacher_errors["propose"] == {"requests": 64, "errors": 28, "kinds": {"prompt too long": 28}}
    print_round(stats)
    err = " ".join(capsys.readouterr().err.split())
    assert "teacher errors: propose" in err and "28 of 64 requests (prompt too long 28)" in err
    assert f"warning: round 1: prompts too long for the teacher all show {long_seed.id} (100,025 characters)" in err


def test_error_kinds_of_each_backend():
    from selfinstruct.teachers.base import error_kind

    assert error_kind(VLLM_TOO_LONG) == "prompt too long"
    assert error_kind("HTTP 400: This model's maximum context length is 2048 tokens. However, ...") == "prompt too long"
    assert error_kind("gave up after 6 attempts: ReadTimeout") == "timeout"
    assert error_kind("gave up after 6 attempts: ConnectError: refused") == "connection"
    assert error_kind("vLLM finished the request with 'abort'") == "other"


# 5. Export of a live run --------------------------------------------------------------------------


def test_export_of_a_run_generate_is_working_on(run):
    """The holder takes the run's lock the way generate does: by opening its RunDir."""
    code = (
        f"import time; from selfinstruct.config import load_config; from selfinstruct.rundir import RunDir\n"
        f"r = RunDir(load_config({str(run / 'config.yaml')!r})); r.open()\n"
        "print('locked', flush=True); time.sleep(120)"
    )
    # From where run.root ('runs', as the fixture was made) leads to this run.
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=run.parent.parent,
    )
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        res = CliRunner().invoke(app, ["export", str(run), "--format", "alpaca"])
        assert res.exit_code == 2 and f"generate is still working on this run (pid {holder.pid})" in res.output
        assert "--partial" in res.output and not (run / "export").exists()
        res = CliRunner().invoke(app, ["export", str(run), "--format", "alpaca", "--partial"])
        assert res.exit_code == 0, res.output
        assert "partial export" in res.output and (run / "export" / "alpaca.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    res = CliRunner().invoke(app, ["export", str(run), "--format", "alpaca"])  # finished: no word about it
    assert res.exit_code == 0 and "partial" not in res.output


# The killed run moved to a full disk, on a real teacher: test_round_golden.py (it must also end as the snapshot).
