"""The store must never lose or duplicate a record, whatever kills the writer and whenever."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from selfinstruct.records import InputError
from selfinstruct.store import ChunkStore, StoreError

WRITER = Path(__file__).parent / "helpers" / "store_writer.py"
ROOT = Path(__file__).resolve().parent.parent


def _launch(store: Path, n_chunks: int, per_chunk: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WRITER), str(store), str(n_chunks), str(per_chunk)], env=env)


def _committed_chunks(store: Path) -> int:
    log = store.with_name(store.name + ".chunks")
    return log.read_bytes().count(b"\n") if log.exists() else 0


def test_sigkill_at_random_points_never_loses_or_duplicates(tmp_path):
    """Kills are placed by the writer's progress, not by the clock: a random number of committed
    chunks, then a random few milliseconds, so they land before, between and inside chunk writes
    however fast or loaded the machine is."""
    rng = random.Random(1234)
    n_chunks, per_chunk = 80, 20
    kills = 0
    for trial in range(20):
        store_path = tmp_path / f"t{trial}" / "data.jsonl"
        for _ in range(rng.randint(1, 3)):
            done = _committed_chunks(store_path)
            if done >= n_chunks - 10:
                break
            target = rng.randint(done, n_chunks - 10)
            proc = _launch(store_path, n_chunks, per_chunk)
            while proc.poll() is None and _committed_chunks(store_path) < target:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.003))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        assert _launch(store_path, n_chunks, per_chunk).wait() == 0
        ids = Counter(r["id"] for r in ChunkStore(store_path))
        assert len(ids) == n_chunks * per_chunk, f"trial {trial}: lost records"
        assert max(ids.values()) == 1, f"trial {trial}: duplicated {ids.most_common(1)}"
        assert ChunkStore(store_path).is_done
    assert kills >= 20, f"only {kills} kills landed: the test did not test crashes"


def test_torn_last_line_is_dropped_and_chunk_redone(tmp_path):
    p = tmp_path / "s.jsonl"
    s = ChunkStore(p)
    s.write_chunk("a", [{"id": 1}, {"id": 2}])
    with open(p, "ab") as f:  # a crash in the middle of the next chunk
        f.write(b'{"id": 3}\n{"id": 4, "hal')
    s2 = ChunkStore(p)
    assert [r["id"] for r in s2] == [1, 2]
    assert not s2.has("b")
    s2.write_chunk("b", [{"id": 3}, {"id": 4}])
    assert [r["id"] for r in ChunkStore(p)] == [1, 2, 3, 4]


def test_torn_commit_line_means_chunk_not_committed(tmp_path):
    p = tmp_path / "s.jsonl"
    s = ChunkStore(p)
    s.write_chunk("a", [{"id": 1}])
    s.write_chunk("b", [{"id": 2}])
    log = p.with_name(p.name + ".chunks")
    log.write_bytes(log.read_bytes()[:-5])  # the commit line of "b" was cut off
    s2 = ChunkStore(p)
    assert s2.has("a") and not s2.has("b")
    assert [r["id"] for r in s2] == [1]


def test_committed_chunk_is_not_written_twice(tmp_path):
    s = ChunkStore(tmp_path / "s.jsonl")
    assert s.write_chunk("a", [{"id": 1}])
    assert not s.write_chunk("a", [{"id": 1}])
    assert len(list(ChunkStore(tmp_path / "s.jsonl"))) == 1


def test_data_file_shorter_than_log_is_an_error(tmp_path):
    p = tmp_path / "s.jsonl"
    ChunkStore(p).write_chunk("a", [{"id": 1, "x": "y" * 100}])
    os.truncate(p, 10)
    with pytest.raises(StoreError, match="shorter"):
        ChunkStore(p)


def test_corrupt_committed_record_names_file_and_line(tmp_path):
    p = tmp_path / "s.jsonl"
    ChunkStore(p).write_chunk("a", [{"id": 1}, {"id": 2}])
    data = p.read_bytes().replace(b'{"id": 2}', b'{"id": X}')
    p.write_bytes(data)
    with pytest.raises(InputError, match=r"s\.jsonl:2: corrupt"):
        list(ChunkStore(p))


def test_full_disk_rolls_back_and_keeps_committed(tmp_path):
    """A real ENOSPC: a tiny tmpfs is not available unprivileged everywhere, so use /dev/full's
    errno through a file size limit (RLIMIT_FSIZE raises EFBIG in a child process)."""
    p = tmp_path / "s.jsonl"
    ChunkStore(p).write_chunk("a", [{"id": 1}])
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "from selfinstruct.store import ChunkStore, StoreError;"
        f"s = ChunkStore({str(p)!r});"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (s.end + 100, s.end + 100));"
        "\ntry:\n    s.write_chunk('b', [{'id': 2, 'pad': 'x' * 5000}])\n"
        "except StoreError as e:\n    print('ERR', e); sys.exit(3)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert r.returncode == 3, r.stderr
    assert "rolled back" in r.stdout
    s = ChunkStore(p)
    assert [r["id"] for r in s] == [1] and not s.has("b")
    s.write_chunk("b", [{"id": 2}])
    assert [r["id"] for r in ChunkStore(p)] == [1, 2]


def test_readonly_reader_leaves_a_writers_uncommitted_tail_alone(tmp_path):
    p = tmp_path / "s.jsonl"
    writer = ChunkStore(p)
    writer.write_chunk("a", [{"id": 1}])
    with open(p, "ab") as f:  # the writer is in the middle of its next chunk
        f.write(b'{"id": 2}\n')
    reader = ChunkStore(p, readonly=True)
    assert [r["id"] for r in reader] == [1]
    assert p.read_bytes().endswith(b'{"id": 2}\n'), "a reader must not cut a chunk being written"
    with pytest.raises(StoreError, match="read-only"):
        reader.write_chunk("b", [{"id": 3}])
