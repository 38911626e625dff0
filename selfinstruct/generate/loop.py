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

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import Config
from ..filter.pipeline import Filter
from ..records import Task
from ..round_dir import RoundStats
from ..rundir import RunDir, warn_damaged
from .budget import Budget, BudgetSpent
from .round import print_round, run_round
from .seeds import load_seeds, split_heldout, write_heldout
from .student_loop import StudentLoop

console = Console(stderr=True)


class LazyTeacher:
    """Starts the engine only when a round needs it: a finished run relaunches in seconds."""

    def __init__(self, cfg: Config):
        self.cfg, self.teacher_cfg, self._t = cfg, cfg.teacher, None

    def get(self):
        if self._t is None:
            from ..teachers import make_teacher

            console.print(f"starting teacher: {self.teacher_cfg.backend} {self.teacher_cfg.model}", markup=False)
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
    # Everything about the seeds is checked before the run folder exists.
    path, digest, seeds = load_seeds(cfg)
    seeds, heldout = split_heldout(cfg, path, seeds)
    summary: list[RoundStats] = []
    with RunDir(cfg, force_new=force_new, command="generate", seeds=(path, digest)) as run:
        warn_damaged(run)
        write_heldout(run, heldout)
        # One filter for the run: its pool index embeds only what the pool gained since the last batch.
        filt = Filter(cfg.filter, cache_dir=run.embeddings, heldout=heldout)
        teacher = LazyTeacher(cfg)
        student = StudentLoop(cfg, run, teacher)
        generated: list[Task] = []
        carry: list[Task] = []
        budget, stopped = Budget(cfg, run), None
        try:
            for n in range(1, cfg.generate.rounds + 1):
                done = run.round(n).committed()
                if done is None:
                    budget.check(n, 0)  # before the engine starts: a spent run stops in seconds
                    rate = summary[-1].novel_per_prompt if summary else None
                    stats, accepted, carry = run_round(
                        cfg,
                        run,
                        n,
                        seeds,
                        generated,
                        teacher.get(),
                        filt,
                        weights=student.weights,
                        carry_in=carry,
                        novel_per_prompt=rate,
                        budget=budget,
                    )
                    print_round(stats)
                else:
                    stats, accepted, carry = done
                generated += accepted
                summary.append(stats)
                student.after_round(n, seeds, generated)
                run.update_manifest(rounds_done=max(run.manifest().get("rounds_done", 0), n))
                if stats.acceptance_rate < cfg.generate.min_acceptance:
                    console.print(
                        f"round {n} accepted {stats.acceptance_rate:.1%} < "
                        f"{cfg.generate.min_acceptance:.1%}: the pool is saturated, stopping."
                    )
                    break
            if cfg.generate.audit and generated:
                _audit(cfg, run, generated, teacher)
        except BudgetSpent as e:
            stopped = str(e)
        finally:
            teacher.close()
    _print_summary(summary, run)
    if stopped:
        console.print(stopped, style="yellow", markup=False, highlight=False, soft_wrap=True)  # one line
    return {
        "run": str(run.path),
        "rounds": [s.to_dict() for s in summary],
        "accepted": len(generated),
        "stopped": stopped,
    }


def _audit(cfg: Config, run: RunDir, generated: list[Task], teacher: LazyTeacher) -> None:
    """The validity audit of every accepted task, by the judge (the teacher still running when it
    is the judge: no second start). A relaunch of a finished run reads every verdict back."""
    from ..audit import judge_config, print_audit, run_audit

    out = run.audit
    done = json.loads(out.summary.read_text()) if out.summary.exists() else {}
    if done.get("tasks") != len(generated):
        judge = judge_config(cfg)
        if teacher.teacher_cfg is not judge:  # another judge, or the student taught the last round
            teacher.replace(judge)
        done = run_audit(generated, teacher.get(), cfg, out)
    print_audit(done, out.path)


def _print_summary(summary: list[RoundStats], run: RunDir) -> None:
    table = Table(title=f"generate: {escape(str(run.path))}")  # a run's name is user text, not markup
    for col in ("round", "proposed", "accepted", "rate", "classification", "tokens/task", "per min", "wall s"):
        table.add_column(col, justify="right")
    for s in summary:
        table.add_row(
            str(s.round),
            str(s.proposed),
            str(s.accepted),
            f"{s.acceptance_rate:.0%}",
            str(s.classification),
            _tokens_per_task([s]),
            _per_min([s]),
            f"{s.wall_s:.0f}",
        )
    table.add_row(
        "all",
        str(sum(s.proposed for s in summary)),
        str(sum(s.accepted for s in summary)),
        "",
        "",
        _tokens_per_task(summary),
        _per_min(summary),
        f"{sum(s.wall_s for s in summary):.0f}",
    )
    Console().print(table)
    left = summary[-1].carried if summary else 0
    if left:
        Console(stderr=True).print(
            f"{left} novel instructions or tasks not needed yet are kept for the next round "
            f"({run.round(summary[-1].round).store('carry').path}): nothing the teacher "
            "wrote is thrown away.",
            highlight=False,
            markup=False,
        )


def _tokens_per_task(rounds: list[RoundStats]) -> str:
    """Teacher tokens (prompt + completion, every step) per accepted task."""
    tokens, accepted = sum(s.tokens for s in rounds), sum(s.accepted for s in rounds)
    return f"{tokens / accepted:,.0f}" if accepted and tokens else "-"


def _per_min(rounds: list[RoundStats]) -> str:
    wall, accepted = sum(s.wall_s for s in rounds), sum(s.accepted for s in rounds)
    return f"{accepted / wall * 60:.1f}" if wall else "-"


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))
