"""The run directory: runs/<name>/ with a manifest, the resolved config, and one folder per round.

runs/<name>/
  manifest.json        name, config fingerprint, commands run, rounds finished
  config.yaml          the fully resolved config of this run
  .lock                held (flock) by the one process working on the run
  round-1/ ...         the stores of each step of round 1 (see store.py)

A relaunch with the same config resumes; with a different one it is refused unless
force_new, which moves the old run aside (it is never deleted) and starts afresh.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .config import RESUME_SAFE, Config
from .store import ChunkStore, damaged_stores, write_atomic


class RunError(RuntimeError):
    pass


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class RunDir:
    def __init__(self, config: Config, force_new: bool = False, command: str = ""):
        self.config = config
        self.path = Path(config.run.root) / config.run.name
        self.force_new = force_new
        self.command = command or " ".join(sys.argv)
        self._lock_fd: int | None = None

    def __enter__(self) -> "RunDir":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def open(self) -> None:
        if self.force_new and self.path.exists():
            aside = self.path.with_name(f"{self.path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.rename(aside)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._check_and_record()
        except BaseException:
            self.close()
            raise

    def _check_and_record(self) -> None:
        manifest = self.manifest()
        fp = self.config.fingerprint()
        if manifest and manifest.get("fingerprint") != fp:
            changed = self._changed_keys()
            if changed:
                raise RunError(
                    f"{self.path}: this run was started with a different config ({'; '.join(changed[:4])}"
                    f"{'; ...' if len(changed) > 4 else ''}). Use the same config to resume, another --name, "
                    "or --force-new to move the old run aside.")
            manifest["fingerprint"] = fp  # only keys a newer version added, or where the run lives
        manifest = manifest or {"name": self.config.run.name, "fingerprint": fp,
                                "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "rounds_done": 0}
        manifest["name"] = self.config.run.name  # a run may have been moved under another name
        manifest.setdefault("commands", []).append(self.command)
        self._write_json(self.path / "manifest.json", manifest)
        write_atomic(self.path / "config.yaml", self.config.to_yaml())

    def _changed_keys(self) -> list[str]:
        """'key: old -> new' for each setting that differs from the run's stored config. Keys the
        stored config lacks (added by a newer selfinstruct, at their defaults) do not count."""
        try:
            old = _flatten(yaml.safe_load((self.path / "config.yaml").read_text()) or {})
        except (OSError, yaml.YAMLError):
            return ["its config.yaml is missing or unreadable"]
        new = _flatten(self.config.model_dump())
        safe = set(RESUME_SAFE)
        return [f"{k}: {old[k]!r} -> {new.get(k, '(removed)')!r}" for k in sorted(old)
                if k not in safe and old[k] != new.get(k, object())]

    def _lock(self) -> None:
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunError(f"{self.path}: another process (pid {holder}) is working on this run; "
                           "wait for it or stop it first") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass  # a full disk: the pid only helps the message another process prints
        self._lock_fd = fd  # the kernel drops the lock when this process dies, even on SIGKILL

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def manifest(self) -> dict[str, Any]:
        p = self.path / "manifest.json"
        if not p.exists():
            return {}
        try:
            return json.loads(p.read_text())
        except ValueError:
            raise RunError(f"{p}: manifest is not valid JSON; the run directory was edited or damaged") from None

    def update_manifest(self, **fields: Any) -> None:
        m = self.manifest()
        m.update(fields)
        self._write_json(self.path / "manifest.json", m)

    def round_dir(self, n: int) -> Path:
        d = self.path / f"round-{n}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def store(self, round_n: int, name: str) -> ChunkStore:
        return ChunkStore(self.round_dir(round_n) / f"{name}.jsonl")

    @staticmethod
    def _write_json(path: Path, obj: Any) -> None:
        write_atomic(path, json.dumps(obj, indent=1))


def round_dirs(run: Path) -> list[Path]:
    return sorted((p for p in Path(run).glob("round-*") if p.is_dir() and p.name[6:].isdigit()),
                  key=lambda p: int(p.name[6:]))


def warn_damaged(run: Path) -> list[str]:
    """Prints one warning per store of the run that does not match its commit log, and returns them.
    A warning, not an error: a finished round's accepted set (checked whenever it is read) stands on
    its own, and the other stores keep the teacher's answers for audit and resume."""
    found = [line for d in round_dirs(run) for line in damaged_stores(d)]
    print_damaged(found)
    return found


def print_damaged(lines: list[str]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True)
    for line in lines:
        console.print(f"[yellow]warning:[/] damaged store: {escape(line)}", highlight=False)


def live_writer(run: Path) -> str | None:
    """The pid of the `generate` working on `run` right now (it holds the run's .lock), or None.
    Probed with a shared flock, as distill takes it, and let go at once."""
    lock = Path(run) / ".lock"
    if not lock.exists():
        return None
    with open(lock, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read(64).decode(errors="replace").strip() or "?"
    return None
