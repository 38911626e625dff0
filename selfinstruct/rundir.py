"""The run directory: runs/<name>/ with a manifest, the resolved config, and one folder per round.
This module is the one place that names the files of a run; every command goes through RunDir.

runs/<name>/
  manifest.json        name, config fingerprint, commands run, rounds finished
  config.yaml          the fully resolved config of this run
  .lock                held (flock) by the one process working on the run; readers take it shared
  heldout.jsonl        seeds held out of generation and training, for eval
  heldout-verifiable.jsonl  the held-out seeds with IFEval constraints attached (eval builds it)
  embeddings/          the embedding cache of the pool (filter/embed.py)
  round-1/ ...         one Round each (round_dir.py): step stores, stats, accepted set, student
  student/             `distill --data RUN`'s student (all rounds at once)
  eval/                `selfinstruct eval`: eval.json, eval.md, answers-/verifiable-/judge-<model>.jsonl (EvalDir)
  audit/               `selfinstruct audit`: requests.jsonl, verdicts.jsonl, audit.json (AuditDir)
  review/labels.jsonl  `selfinstruct review`'s hand labels, one task a line (review/.lock guards writes)
  report/index.html    `selfinstruct report`'s page, beside its plots
  export/<file>        `selfinstruct export`'s default output, one file (or folder) per format

A relaunch with the same config resumes; with a different one it is refused unless
force_new, which moves the old run aside (it is never deleted) and starts afresh.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .config import RESUME_SAFE, Config
from .records import InputError, Task
from .round_dir import STUDENT, Round, student_done
from .store import damaged_stores, write_atomic

VERIFIABLE = "heldout-verifiable.jsonl"
EXPORT_FILES = {
    "hf": "hf",
    "parquet": "data.parquet",
    "alpaca": "alpaca.json",
    "sharegpt": "sharegpt.json",
    "openai-chat": "openai-chat.jsonl",
}


class EvalDir:
    """`selfinstruct eval`'s outputs: RUN/eval/, or NAME.eval/ beside a held-out file given alone."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.table, self.page = self.path / "eval.json", self.path / "eval.md"  # the scores, and to read
        self.verifiable_set = self.path / VERIFIABLE  # of a held-out file given alone (a run keeps its own)

    @classmethod
    def beside(cls, heldout: str | Path) -> EvalDir:
        return cls(Path(heldout).with_name(Path(heldout).stem + ".eval"))

    def answers(self, model: str) -> Path:
        return self.path / f"answers-{model}.jsonl"

    def verifiable(self, model: str) -> Path:
        return self.path / f"verifiable-{model}.jsonl"

    def judge(self, model: str) -> Path:
        """The request store of the pairwise judge, `model` against the base."""
        return self.path / f"judge-{model}.jsonl"


class AuditDir:
    """`selfinstruct audit`'s outputs: the judge's request store, a verdict row per task, the shares."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.requests, self.verdicts = self.path / "requests.jsonl", self.path / "verdicts.jsonl"
        self.summary = self.path / "audit.json"


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
    """A run folder. RunDir(config) is the writer (generate): it takes the lock and records the
    command; RunDir.reader(path) only reads (report, export, eval, distill, audit)."""

    def __init__(
        self, config: Config, force_new: bool = False, command: str = "", seeds: tuple[Path, str] | None = None
    ):
        """seeds: (the seed file, the sha256 of its bytes), part of the run's identity beside the config."""
        self.config: Config | None = config  # None in a reader
        self.path = Path(config.run.root) / config.run.name
        self.force_new = force_new
        self.command = command or " ".join(sys.argv)
        self.seeds = seeds
        self.readonly = False
        self._lock_fd: int | None = None

    @classmethod
    def reader(cls, path: str | Path) -> RunDir:
        run = cls.__new__(cls)
        run.config, run.path, run.force_new, run.command, run.seeds = None, Path(path), False, "", None
        run.readonly, run._lock_fd = True, None
        return run

    # --- the layout -------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def heldout_path(self) -> Path:
        return self.path / "heldout.jsonl"

    @property
    def verifiable_path(self) -> Path:
        """evaluate/verifiable.py's set, built from the held-out seeds; generation keeps its phrasings out."""
        return self.path / VERIFIABLE

    @property
    def embeddings(self) -> Path:
        return self.path / "embeddings"

    @property
    def eval(self) -> EvalDir:
        return EvalDir(self.path / "eval")

    @property
    def audit(self) -> AuditDir:
        return AuditDir(self.path / "audit")

    @property
    def report_page(self) -> Path:
        """The report's page; its plots are files beside it (report/__init__.py)."""
        return self.path / "report" / "index.html"

    def export_path(self, fmt: str) -> Path:
        return self.path / "export" / EXPORT_FILES[fmt]

    @property
    def review_labels(self) -> Path:
        """`selfinstruct review`'s hand labels (labels.py reads them); review/.lock serialises writers."""
        return self.path / "review" / "labels.jsonl"

    @property
    def review_lock(self) -> Path:
        return self.path / "review" / ".lock"

    @property
    def student(self) -> Path:
        """`distill --data RUN`'s student: every round's accepted tasks at once."""
        return self.path / STUDENT

    def round(self, n: int) -> Round:
        return Round(self.path / f"round-{n}", n, readonly=self.readonly)

    def rounds(self) -> list[Round]:
        """The rounds that have a folder, in order."""
        found = [
            (int(m.group(1)), p)
            for p in self.path.glob("round-*")
            if (m := re.fullmatch(r"round-(\d+)", p.name)) and p.is_dir()
        ]
        return [Round(p, n, readonly=self.readonly) for n, p in sorted(found)]

    def accepted_tasks(self, rounds: list[int] | None = None) -> list[Task]:
        """Accepted tasks of the rounds (all, or the ones listed), deduplicated by id, in round order."""
        seen: dict[str, Task] = {}
        for r in self.rounds():
            if rounds is None or r.n in rounds:
                for task in r.tasks("accepted"):
                    seen.setdefault(task.id, task)
        return list(seen.values())

    def students(self) -> dict[str, Path]:
        """label -> folder of every finished student: round-N's in round order, then the run's own."""
        found = {f"round-{r.n}": r.student for r in self.rounds() if r.student_done()}
        if student_done(self.student):
            found["student"] = self.student
        return found

    def damaged(self) -> list[str]:
        """Every store of the run that does not match its commit log: rounds, then audit and eval."""
        return [line for r in self.rounds() for line in r.damaged()] + self.other_damaged()

    def other_damaged(self) -> list[str]:
        return damaged_stores(self.audit.path) + damaged_stores(self.eval.path)

    def __enter__(self) -> RunDir:
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
        assert self.config is not None  # the writer's: RunDir(config) opens it, a reader never does
        manifest = self.manifest()
        fp = self.config.fingerprint()
        if manifest and manifest.get("fingerprint") != fp:
            changed = self._changed_keys()
            if changed:
                raise RunError(
                    f"{self.path}: this run was started with a different config ({'; '.join(changed[:4])}"
                    f"{'; ...' if len(changed) > 4 else ''}). Use the same config to resume, another --name, "
                    "or --force-new to move the old run aside."
                )
            manifest["fingerprint"] = fp  # only keys a newer version added, or where the run lives
        self._check_seeds(manifest)
        manifest = manifest or {
            "name": self.config.run.name,
            "fingerprint": fp,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "rounds_done": 0,
        }
        manifest["name"] = self.config.run.name  # a run may have been moved under another name
        if self.seeds:
            manifest["seeds_sha256"] = self.seeds[1]
        if self.heldout_path.exists():
            manifest["heldout_sha256"] = self.check_heldout(manifest)
        manifest.setdefault("commands", []).append(self.command)
        self._write_json(self.path / "manifest.json", manifest)
        write_atomic(self.config_path, self.config.to_yaml())

    def _check_seeds(self, manifest: dict[str, Any]) -> None:
        """The same seeds path may hold other seeds (another folder, an edited file): that is another run.
        A run recorded before seeds were hashed takes the hash it is given now."""
        old = manifest.get("seeds_sha256")
        if self.seeds and old and old != self.seeds[1]:
            raise RunError(
                f"{self.seeds[0]}: the seed file is not the one this run was started with (sha256 "
                f"{old[:12]}... then, {self.seeds[1][:12]}... now); use the same seeds to resume, "
                f"another --name, or --force-new to move the old run aside"
            )

    def check_heldout(self, manifest: dict[str, Any] | None = None) -> str | None:
        """The held-out file's hash, checked against the one recorded when it was written: the run's
        tasks were decontaminated against exactly that set, so it must never change."""
        if not self.heldout_path.exists():
            return None
        got = sha256_file(self.heldout_path)
        want = (self.manifest() if manifest is None else manifest).get("heldout_sha256")
        if want and want != got:
            raise RunError(
                f"{self.heldout_path}: changed since the run wrote it (sha256 {want[:12]}... then, "
                f"{got[:12]}... now); the run was decontaminated against the original: restore "
                "it, or start a new run"
            )
        return got

    def _changed_keys(self) -> list[str]:
        """'key: old -> new' for each setting that differs from the run's stored config. Keys the
        stored config lacks (added by a newer selfinstruct, at their defaults) do not count, nor do
        keys it holds at null that a newer one dropped (teacher.vllm.lora_adapter: now teacher.adapter)."""
        try:
            old = _flatten(yaml.safe_load(self.config_path.read_text()) or {})
        except (OSError, yaml.YAMLError):
            return ["its config.yaml is missing or unreadable"]
        assert self.config is not None  # a reader's is set by its caller first (estimate.py)
        new = _flatten(self.config.model_dump())
        safe = tuple(RESUME_SAFE)  # a section among them (generate.budget) covers every key under it
        return [
            f"{k}: {old[k]!r} -> {new.get(k, '(removed)')!r}"
            for k in sorted(old)
            if not any(k == s or k.startswith(s + ".") for s in safe)
            and old[k] != new.get(k, object())
            and not (old[k] is None and k not in new)
        ]

    def _lock(self, what: str = "") -> None:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(
                f"{self.lock_path}: cannot take the run's lock ({e.strerror or e}); is the run "
                "folder read-only? Copy it somewhere writable to work on it"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunError(
                f"{self.path}: another process (pid {holder}) is working on this run (a generate "
                f"or an audit); wait for it or stop it first{f', then {what} it' if what else ''}"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass  # a full disk: the pid only helps the message another process prints
        self._lock_fd = fd  # the kernel drops the lock when this process dies, even on SIGKILL

    @contextmanager
    def exclusive(self, what: str) -> Iterator[RunDir]:
        """Holds the run's lock as generate does, for a command that writes into the run (audit): two
        at once asked every request twice and left both request stores out of step with their logs."""
        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run directory")
        self._lock(what)
        try:
            yield self
        finally:
            self.close()

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

    def raw_config(self) -> dict[str, Any]:
        """The run's config.yaml as stored (readers show it without validating it); {} if missing."""
        if not self.config_path.exists():
            return {}
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except yaml.YAMLError as e:
            raise InputError(self.config_path, None, f"invalid YAML: {e}") from None
        return data if isinstance(data, dict) else {}

    def live_writer(self) -> str | None:
        """The pid of the `generate` working on the run right now (it holds .lock), or None.
        Probed with a shared flock and let go at once."""
        with self._shared() as holder:
            return holder

    @contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """Holds the lock shared while `what` reads the run: refused while generate works on it, so
        a student is never trained on a run that is still growing."""
        with self._shared() as holder:
            if holder:
                raise RunError(
                    f"{self.path}: generate (or an audit) is working on this run (pid {holder}); "
                    f"{what} it when it finishes"
                )
            yield

    @contextmanager
    def _shared(self) -> Iterator[str | None]:
        """Takes the run's lock shared for the block; yields the writer's pid instead if one holds it."""
        if not self.lock_path.exists():
            yield None
            return
        with open(self.lock_path, "rb") as f:  # the lock goes with the file
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                yield f.read(64).decode(errors="replace").strip() or "?"
                return
            yield None

    def update_manifest(self, **fields: Any) -> None:
        m = self.manifest()
        m.update(fields)
        self._write_json(self.path / "manifest.json", m)

    @staticmethod
    def _write_json(path: Path, obj: Any) -> None:
        write_atomic(path, json.dumps(obj, indent=1))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def warn_damaged(run: RunDir) -> list[str]:
    """Prints one warning per store of the run that does not match its commit log, and returns them.
    A warning, not an error: a finished round's accepted set (checked whenever it is read) stands on
    its own, and the other stores keep the teacher's answers for audit and resume."""
    found = run.damaged()
    print_damaged(found)
    return found


def print_damaged(lines: list[str]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True)
    for line in lines:
        console.print(f"[yellow]warning:[/] damaged store: {escape(line)}", highlight=False)
