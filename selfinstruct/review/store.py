"""The review's labels file: one record per task, merged per field and written whole, atomically.

Every change is one read-merge-write under an exclusive flock (review/.lock): the file is read as it
is on disk now, only the fields the change names are set, and the result replaces the file through
write_atomic (temp, fsync, rename). So two tabs, or two `selfinstruct review` processes on the same
run, never write stale state over each other's labels, and a crash leaves the old file or the new.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..labels import FIELDS, load_labels
from ..store import write_atomic


class LabelStore:
    def __init__(self, path: Path, lock_path: Path):
        self.path, self.lock_path = Path(path), Path(lock_path)

    def read(self) -> dict[str, dict[str, Any]]:
        """id -> record; a damaged file raises InputError naming its line."""
        return {r["id"]: r for r in load_labels(self.path)}

    def set(self, task: dict[str, Any], fields: dict[str, bool | None], annotator: str) -> dict[str, Any]:
        """Sets `fields` (a subset of FIELDS) of `task`'s record and returns the merged record.
        task: the record's text fields (id, round, instruction, input, output, ...)."""
        bad = [f for f, v in fields.items() if f not in FIELDS or v not in (True, False, None)]
        if bad or not fields:
            raise ValueError(f"fields must map {', '.join(FIELDS)} to true, false or null; got {fields!r}")
        with self._locked():
            rows = self.read()
            row = {**dict.fromkeys(FIELDS), **rows.get(task["id"], {}), **task, **fields}
            row.update(annotator=annotator, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
            rows[task["id"]] = row
            write_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows.values()))
        return row

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as f:  # one open file per call: threads exclude each other too
            fcntl.flock(f, fcntl.LOCK_EX)
            yield
