"""Durable, resumable JSONL: records are appended in chunks, each made durable before it counts.

A store is two files: `<name>.jsonl` holds the records and `<name>.jsonl.chunks` is the commit
log, one line per finished chunk: {"chunk": key, "end": byte offset, "n": records}. A chunk is
written to the data file, flushed and fsynced, and only then is its commit line appended and
fsynced. On open, anything past the last committed offset (a torn line, a half-written chunk
from a crash or a full disk) is cut off, and a torn commit line is dropped. So after a SIGKILL
at any point a relaunch sees exactly the committed chunks, and redoing an uncommitted chunk
cannot duplicate a record.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .records import InputError


class StoreError(RuntimeError):
    pass


# EFBIG too: a file size limit (RLIMIT_FSIZE, a quota) stops a write the way a full disk does.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_error(path: Path, e: OSError, after: str = "") -> StoreError:
    """The one-line error for a failed write: full disk or not, it names the file."""
    if e.errno in NO_SPACE:
        return StoreError(
            f"{path}: disk full while writing it ({os.strerror(e.errno)}){after}. Free space and relaunch."
        )
    return StoreError(f"{path}: write failed ({e.strerror or e}){after}")


def write_atomic(path: str | Path, data: str | bytes | Callable[[Path], None]) -> None:
    """Replaces `path` whole or not at all: written to `<path>.tmp` (by `data(tmp)` when data is a
    function, which may make a file or a folder), fsynced, then renamed over it. On a full disk, or
    any other OSError, the .tmp is removed (a full disk must not stay full of our leftovers) and a
    StoreError names the file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)  # a crashed attempt's leftover
        if callable(data):
            data(tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)  # a folder cannot be renamed over a full one
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as e:
        _remove(tmp)
        raise write_error(path, e) from None


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ChunkStore:
    def __init__(self, path: str | Path, readonly: bool = False):
        """readonly: look without repairing, for readers (report, export) of a run another process
        may be writing; cutting its uncommitted tail would corrupt the chunk it is appending."""
        self.path = Path(path)
        self.readonly = readonly
        self.log = self.path.with_name(self.path.name + ".chunks")
        self.done_marker = self.path.with_name(self.path.name + ".done")
        self.chunks: dict[str, int] = {}  # chunk key -> record count
        self.ends: list[tuple[int, int]] = []  # (end offset, records) of each commit, in log order
        self.end = 0
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._recover()

    def _recover(self) -> None:
        good_log_bytes = 0
        if self.log.exists():
            with open(self.log, "rb") as f:
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break  # torn commit line: the chunk before it never committed
                    try:
                        entry = json.loads(raw)
                        key, end, n = entry["chunk"], int(entry["end"]), int(entry["n"])
                    except (ValueError, KeyError, TypeError):
                        raise InputError(self.log, len(self.chunks) + 1, "corrupt commit log line") from None
                    self.chunks[key] = n
                    self.ends.append((end, n))
                    self.end = max(self.end, end)
                    good_log_bytes += len(raw)
            if good_log_bytes < self.log.stat().st_size and not self.readonly:
                os.truncate(self.log, good_log_bytes)
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self.end:
            raise StoreError(
                f"{self.path}: data file is shorter ({size} bytes) than its commit log says "
                f"({self.end}); it was changed by hand or truncated"
            )
        if size > self.end and not self.readonly:
            os.truncate(self.path, self.end)  # uncommitted tail from a crash

    def has(self, key: str) -> bool:
        return key in self.chunks

    def __len__(self) -> int:
        return sum(self.chunks.values())

    def write_chunk(self, key: str, records: Iterable[dict[str, Any]]) -> bool:
        """Appends one chunk durably; a chunk already committed is skipped (returns False)."""
        if key in self.chunks:
            return False
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        payload = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
        new_file = not self.path.exists()
        try:
            with open(self.path, "ab") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
                end = f.tell()
            line = json.dumps({"chunk": key, "end": end, "n": payload.count(b"\n")}) + "\n"
            with open(self.log, "ab") as f:
                f.write(line.encode())
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self._rollback()
            raise write_error(
                self.path, e, "; the chunk was rolled back and everything committed before it is intact"
            ) from None
        if new_file:
            fsync_dir(self.path.parent)
        self.chunks[key] = payload.count(b"\n")
        self.ends.append((end, self.chunks[key]))
        self.end = end
        return True

    def damage(self) -> str | None:
        """What does not match the commit log, or None. Opening a store already finds a data file
        cut short; this also finds one edited in its committed part: each chunk must end on a line
        end at its logged offset and hold its logged number of lines. Counting newlines is cheap
        enough to run over every store of a run on each open."""
        if not self.end:
            return None
        with open(self.path, "rb") as f:
            data = f.read(self.end)
        start = 0
        for i, (end, n) in enumerate(self.ends, 1):
            part = data[start:end]
            if end < start or (part and not part.endswith(b"\n")) or part.count(b"\n") != n:
                line = data[:start].count(b"\n") + 1
                return (
                    f"{self.path}:{line}: does not match its commit log (chunk {i} of {len(self.ends)} "
                    f"should be {n} records ending at byte {end}); it was changed after it was written"
                )
            start = end
        return None

    def _rollback(self) -> None:
        try:
            if self.path.exists() and self.path.stat().st_size > self.end:
                os.truncate(self.path, self.end)
        except OSError:
            pass  # the next open truncates it anyway

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            data = f.read(self.end)  # only what is committed
        for lineno, raw in enumerate(data.splitlines(), 1):
            try:
                yield json.loads(raw)
            except ValueError:
                raise InputError(self.path, lineno, "corrupt record in a committed chunk") from None

    def mark_done(self, info: dict[str, Any] | None = None) -> None:
        """Completion marker for the whole stage: a relaunch skips a stage that has one."""
        write_atomic(self.done_marker, json.dumps(info or {}, indent=1))

    @property
    def is_done(self) -> bool:
        return self.done_marker.exists()

    def done_info(self) -> dict[str, Any]:
        return json.loads(self.done_marker.read_text()) if self.is_done else {}


USAGE = ".usage.jsonl"  # a step store's sidecar: tokens and wall time of each chunk (teachers/base.py)
ASKED = ".asked.log"  # another: each request id sent to the teacher, by which process (teachers/base.py)


def asked_log(store: ChunkStore) -> Path:
    """<step>.asked.log beside <step>.jsonl."""
    return store.path.with_name(store.path.stem + ASKED)


def usage_store(store: ChunkStore) -> ChunkStore:
    """The usage sidecar of a step store: <step>.usage.jsonl beside <step>.jsonl."""
    return ChunkStore(store.path.with_name(store.path.stem + USAGE), readonly=store.readonly)


def usage_stores(directory: Path, readonly: bool = False) -> list[tuple[str, ChunkStore]]:
    """(step, usage store) of every step under `directory` that has one, by step name."""
    return [
        (p.name[: -len(USAGE)], ChunkStore(p, readonly=readonly)) for p in sorted(Path(directory).glob("*" + USAGE))
    ]


def damaged_stores(directory: Path) -> list[str]:
    """One line per store under `directory` (a round folder) whose data does not match its commit
    log: cut short, edited, or a log line corrupt. Read-only: a writer may be appending."""
    found = []
    for log in sorted(Path(directory).glob("*.jsonl.chunks")):
        try:
            problem = ChunkStore(log.with_name(log.name[: -len(".chunks")]), readonly=True).damage()
        except (StoreError, InputError) as e:
            problem = str(e)
        except OSError as e:
            problem = f"{log.with_suffix('')}: unreadable ({e.strerror or e})"
        if problem:
            found.append(problem)
    return found
