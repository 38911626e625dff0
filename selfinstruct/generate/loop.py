"""`selfinstruct generate`: the Self-Instruct bootstrapping loop, round after round.

A round: propose instructions -> filter them (novelty against the whole pool, quality) ->
classify -> write instances -> filter instances -> accept. The pool grows, and the next round
samples its in-context tasks from it. A round's accepted set is committed with a completion
marker; a relaunch skips finished rounds and, inside an unfinished one, every teacher chunk
already answered (see teachers/base.py run_step). With a student enabled, each accepted round
is distilled before the next one, and the loop can close through the student.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..config import PROJECT_ROOT, Config
from ..formats import read_tasks, write_tasks
from ..records import Task
from ..rundir import RunDir
from ..store import ChunkStore
from .progress import StepProgress
from .steps import StepContext, classify, propose, write_instances
from .student_loop import StudentLoop, is_heldout

console = Console(stderr=True)


def resolve_path(p: str | Path) -> Path:
    """Relative paths are tried from the working directory, then from the project root."""
    p = Path(p)
    return p if p.is_absolute() or p.exists() else PROJECT_ROOT / p


class LazyTeacher:
    """Starts the engine only when a round needs it: a finished run relaunches in seconds."""

    def __init__(self, cfg: Config):
        self.cfg, self.teacher_cfg, self._t = cfg, cfg.teacher, None

    def get(self):
        if self._t is None:
            from ..teachers import make_teacher

            console.print(f"starting teacher: {self.teacher_cfg.backend} {self.teacher_cfg.model}")
            self._t = make_teacher(self.teacher_cfg, seed=self.cfg.run.seed)
        return self._t

    def replace(self, teacher_cfg) -> None:
        self.close()
        self.teacher_cfg = teacher_cfg

    def close(self) -> None:
        if self._t is not None:
            self._t.close()
            self._t = None


def run_generate(cfg: Config, force_new: bool = False) -> dict:
    _set_threads(cfg.run.threads)
    seeds = read_tasks(resolve_path(cfg.seeds))
    for s in seeds:
        s.round = 0
    summary = []
    with RunDir(cfg, force_new=force_new, command="generate") as run:
        seeds = _hold_out(cfg, run, seeds)
        teacher = LazyTeacher(cfg)
        student = StudentLoop(cfg, run, teacher)
        generated: list[Task] = []
        try:
            for n in range(1, cfg.generate.rounds + 1):
                stats = _finished_round(run, n, generated)
                if stats is None:
                    stats = run_round(cfg, run, n, seeds, generated, teacher.get(), student.weights)
                    _print_round(stats)
                summary.append(stats)
                student.after_round(n, seeds, generated)
                run.update_manifest(rounds_done=max(run.manifest().get("rounds_done", 0), n))
                if stats["acceptance_rate"] < cfg.generate.min_acceptance:
                    console.print(f"round {n} accepted {stats['acceptance_rate']:.1%} < "
                                  f"{cfg.generate.min_acceptance:.1%}: the pool is saturated, stopping.")
                    break
        finally:
            teacher.close()
    _print_summary(summary, run.path)
    return {"run": str(run.path), "rounds": summary, "accepted": len(generated)}


def _hold_out(cfg: Config, run: RunDir, seeds: list[Task]) -> list[Task]:
    """Keeps a fixed share of the seeds out of generation, for `selfinstruct eval` to test on."""
    share = cfg.generate.heldout_share
    if share <= 0:
        return seeds
    heldout = [t for t in seeds if is_heldout(t, share)]
    write_tasks(run.path / "heldout.jsonl", heldout)
    return [t for t in seeds if not is_heldout(t, share)]


def _finished_round(run: RunDir, n: int, generated: list[Task]) -> dict | None:
    accepted = run.store(n, "accepted")
    if not accepted.is_done:
        return None
    generated.extend(Task.from_dict(r) for r in accepted)
    return json.loads((run.round_dir(n) / "stats.json").read_text())


def run_round(cfg: Config, run: RunDir, n: int, seeds: list[Task], generated: list[Task], teacher,
              weights: dict[str, float] | None = None) -> dict:
    from ..filter.pipeline import filter_tasks

    t0 = time.time()
    pool = seeds + generated
    with StepProgress(f"round {n}") as progress:
        ctx = StepContext(cfg, teacher, n, seeds, generated, on_chunk=progress.update, weights=weights)
        progress.start("propose", cfg.generate.prompts_per_round)
        candidates = propose(ctx, run.store(n, "propose"))
        cache = run.path / "embeddings"
        novel, rejected, fstats1 = filter_tasks(candidates, pool, cfg.filter, cache_dir=cache, check_instances=False)
        # Only as many as the round needs get instances: teacher time is the cost.
        quota = math.ceil(cfg.generate.per_round * 1.3)
        novel, surplus = novel[:quota], novel[quota:]
        progress.start("classify", len(novel))
        classify(ctx, novel, run.store(n, "classify"))
        progress.start("instances", len(novel) * cfg.generate.instances_per_task)
        failed = write_instances(ctx, novel, run.store(n, "instances"))
        with_instances = [t for t in novel if t.instances]
        judge_store = run.store(n, "judge") if cfg.filter.quality.judge else None
        accepted, rejected2, fstats2 = filter_tasks(with_instances, pool, cfg.filter, cache_dir=cache,
                                                    teacher=teacher, judge_store=judge_store,
                                                    chunk_size=cfg.teacher.chunk_size,
                                                    prompt_style=cfg.teacher.prompt_style)
    surplus += accepted[cfg.generate.per_round:]
    accepted = accepted[: cfg.generate.per_round]
    for t in surplus:
        t.reject_reason = f"surplus(target={cfg.generate.per_round})"
    rejected = rejected + failed + rejected2 + surplus
    stats = _round_stats(n, ctx.counts, candidates, accepted, rejected, run, time.time() - t0)
    _commit_round(run, n, accepted, rejected, stats)
    generated.extend(accepted)
    return stats


def _commit_round(run: RunDir, n: int, accepted: list[Task], rejected: list[Task], stats: dict) -> None:
    """Rejected and stats first, then the accepted set and its marker: a crash in between redoes
    only this bookkeeping (chunk keys make it idempotent), never the teacher work."""
    run.store(n, "rejected").write_chunk("round", [t.to_dict() for t in rejected])
    path = run.round_dir(n) / "stats.json"
    path.with_suffix(".tmp").write_text(json.dumps(stats, indent=1))
    os.replace(path.with_suffix(".tmp"), path)
    accepted_store = run.store(n, "accepted")
    accepted_store.write_chunk("round", [t.to_dict() for t in accepted])
    accepted_store.mark_done({"accepted": len(accepted)})


def _round_stats(n, counts: Counter, candidates, accepted, rejected, run: RunDir, wall: float) -> dict:
    reasons = Counter(t.reject_reason.split("(")[0] for t in rejected if t.reject_reason)
    usage = Counter()
    for f in run.round_dir(n).glob("*.usage.jsonl"):
        for row in ChunkStore(f):
            for k in ("prompt_tokens", "completion_tokens", "wall_s"):
                usage[k] += row[k]
    proposed = max(counts["proposed"], 1)
    return {
        "round": n, "prompts": run.config.generate.prompts_per_round, "generated": counts["proposed"],
        "candidates": len(candidates), "accepted": len(accepted),
        "acceptance_rate": round(len(accepted) / proposed, 4), "rejected": dict(reasons),
        "classification": sum(bool(t.is_classification) for t in accepted),
        "counts": dict(counts), "wall_s": round(wall, 2),
        "teacher": {k: round(v, 2) for k, v in usage.items()},
    }


def _print_round(stats: dict) -> None:
    table = Table(title=f"round {stats['round']}", show_header=False)
    table.add_row("proposed", str(stats["generated"]))
    table.add_row("unique candidates", str(stats["candidates"]))
    for reason, count in sorted(stats["rejected"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    table.add_row("accepted", f"{stats['accepted']} ({stats['acceptance_rate']:.0%} of proposed)")
    tok = stats["teacher"]
    if tok.get("wall_s"):
        table.add_row("teacher", f"{tok.get('completion_tokens', 0):.0f} tokens out, "
                      f"{tok.get('completion_tokens', 0) / tok['wall_s']:.0f} tok/s")
    table.add_row("wall time", f"{stats['wall_s']:.0f} s")
    console.print(table)


def _print_summary(summary: list[dict], path: Path) -> None:
    table = Table(title=f"generate: {path}")
    for col in ("round", "proposed", "accepted", "rate", "classification", "wall s"):
        table.add_column(col, justify="right")
    for s in summary:
        table.add_row(str(s["round"]), str(s["generated"]), str(s["accepted"]), f"{s['acceptance_rate']:.0%}",
                      str(s.get("classification", 0)), f"{s['wall_s']:.0f}")
    table.add_row("all", str(sum(s["generated"] for s in summary)), str(sum(s["accepted"] for s in summary)),
                  "", "", f"{sum(s['wall_s'] for s in summary):.0f}")
    Console().print(table)


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))
