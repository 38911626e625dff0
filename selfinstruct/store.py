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
from pathlib import Path
from typing import Any, Iterable, Iterator

from .records import InputError


class StoreError(RuntimeError):
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
                    self.end = max(self.end, end)
                    good_log_bytes += len(raw)
            if good_log_bytes < self.log.stat().st_size and not self.readonly:
                os.truncate(self.log, good_log_bytes)
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self.end:
            raise StoreError(f"{self.path}: data file is shorter ({size} bytes) than its commit log says "
                             f"({self.end}); it was changed by hand or truncated")
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
            if e.errno == errno.ENOSPC:
                raise StoreError(f"{self.path}: disk full while writing a chunk; it was rolled back and "
                                 "everything committed before it is intact. Free space and relaunch.") from e
            raise StoreError(f"{self.path}: write failed ({e}); the chunk was rolled back") from e
        if new_file:
            fsync_dir(self.path.parent)
        self.chunks[key] = payload.count(b"\n")
        self.end = end
        return True

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
        tmp = self.done_marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(info or {}, indent=1))
        os.replace(tmp, self.done_marker)
        fsync_dir(self.done_marker.parent)

    @property
    def is_done(self) -> bool:
        return self.done_marker.exists()

    def done_info(self) -> dict[str, Any]:
        return json.loads(self.done_marker.read_text()) if self.is_done else {}
