"""The seeds a run generates from, and the ones it holds out for eval.

The seed file's bytes are hashed into the run's identity (rundir.py refuses a relaunch whose seeds
differ: the same relative path from another folder, or an edited file, once mixed two seed sets in
one run). The held-out file is written once, its hash recorded, and never rewritten: the run's tasks
were decontaminated against exactly that set.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..config import Config, packaged
from ..formats import read_tasks, write_tasks
from ..records import InputError, Task
from ..rundir import RunDir, sha256_file
from .student_loop import is_heldout


def resolve_path(p: str | Path) -> Path:
    """Relative paths are tried from the working directory, then in the package (its seeds/)."""
    return packaged(p)


def load_seeds(cfg: Config) -> tuple[Path, str, list[Task]]:
    """-> (the seed file, the sha256 of its bytes, its tasks as round 0, each distinct row once)."""
    path = resolve_path(cfg.seeds)
    tasks = read_tasks(path)
    digest = sha256_file(path)
    seeds, seen = [], set()
    for t in tasks:
        t.round = 0
        row = repr(t.to_dict())
        if row not in seen:  # the same row twice was held out (and scored by eval) twice
            seen.add(row)
            seeds.append(t)
    _warn_duplicates(path, len(tasks) - len(seeds), seeds)
    return path, digest, seeds


def _warn_duplicates(path: Path, dropped: int, seeds: list[Task]) -> None:
    console = Console(stderr=True, soft_wrap=True)
    if dropped:
        console.print(
            f"[yellow]warning:[/] {escape(str(path))}: {dropped} seed row(s) repeat an earlier row "
            "exactly; each is used once",
            highlight=False,
        )
    shared = [(i, n) for i, n in Counter(t.id for t in seeds).items() if n > 1]
    if shared:
        i, n = shared[0]
        console.print(
            f"[yellow]warning:[/] {escape(str(path))}: {len(shared)} seed id(s) name more than one task "
            f"(e.g. {escape(repr(i))}, {n} tasks); tasks sharing an id are held out, or not, together",
            highlight=False,
        )


def split_heldout(cfg: Config, path: Path, seeds: list[Task]) -> tuple[list[Task], list[Task]]:
    """-> (seeds to generate from, held-out seeds): a fixed, content-based share of the seeds stays
    out of generation for `selfinstruct eval`. Refused when it would leave nothing to generate from."""
    share = cfg.generate.heldout_share
    if share <= 0:
        return seeds, []
    heldout = [t for t in seeds if is_heldout(t, share)]
    pool = [t for t in seeds if not is_heldout(t, share)]
    if not pool:
        raise InputError(
            path,
            None,
            f"all {len(seeds)} seed(s) are held out for eval (generate.heldout_share="
            f"{share}), none is left to generate from: add seeds or lower the share",
        )
    return pool, heldout


def write_heldout(run: RunDir, heldout: list[Task]) -> None:
    """Written once, with its hash in the manifest; a relaunch (same seeds, same config: RunDir checked
    both, and the file against its hash) keeps the file as it is."""
    if heldout and not run.heldout_path.exists():
        write_tasks(run.heldout_path, heldout)
        run.update_manifest(heldout_sha256=sha256_file(run.heldout_path))
