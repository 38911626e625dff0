"""generate --estimate: what a run of this config will spend, before it spends it.

One calibration batch -- the run's own first batch: same seeds, teacher, prompts and filters, with
the round's need capped at CALIBRATION_NEED -- runs through run_generate into a scratch folder that
is deleted afterwards (never the run generate would write). `--estimate-from RUN` measures a finished
run's committed rounds instead. Either way the same figures are measured:

- tasks tried (given instances: each took one novel instruction) and how many of them passed;
- teacher tokens per novel instruction proposed, and per task tried for everything after (instances,
  answers, verification, the judge): their sum is the cost of trying one task;
- the rounds' seconds per teacher token (filters and sandbox included), and start-up (engine, models,
  index: once per generate) apart from it; a run's student training per round, when it has one.

The projection carries them through round.py's batching (simulate): each batch tries ceil(1.3 x need)
tasks less the finished ones carried in, until the round has per_round or runs out of max_batches.
Its range is the 95% Wilson interval of the acceptance rate (passed / tried) carried through the same
simulation; tokens per task and seconds per token are taken as measured. Not modelled: a pool that
saturates (later rounds find fewer novel instructions: min_acceptance, a rising cost per task), a
round's own max_teacher_tokens, and a batch that prompts_per_round leaves short of novel instructions.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Budget, Config
from ..records import Task
from ..round_dir import Round
from ..rundir import RunDir, RunError
from .strategy import registry

CALIBRATION_NEED = 20  # the calibration batch's need: the default round's first batch, ~5 min on 2 cores
MARGIN = 1.3  # round.py's: a batch tries ceil(need * 1.3) tasks


@dataclass
class Measured:
    """What a calibration batch, or a finished run's rounds, cost and gave."""

    source: str
    tried: int  # tasks given instances
    passed: int  # of them accepted, or finished and carried (accepted later at no further cost)
    novel: int  # novel instructions proposed
    propose_tokens: float
    other_tokens: float
    prompt_tokens: float
    completion_tokens: float
    round_s: float  # the rounds' wall time
    startup_s: float | None = None  # once per generate; unknown for a finished run
    student_s: float | None = None  # training after each round; only a finished run has one

    @property
    def tokens_per_tried(self) -> float:
        return self.propose_tokens / max(self.novel, 1) + self.other_tokens / max(self.tried, 1)

    @property
    def s_per_token(self) -> float:
        return self.round_s / max(self.prompt_tokens + self.completion_tokens, 1)

    @property
    def prompt_share(self) -> float:
        return self.prompt_tokens / max(self.prompt_tokens + self.completion_tokens, 1)


def tried_ids(rnd: Round) -> set[str]:
    """Tasks the round gave instances to: asked for one, answered without an input, or answered directly."""
    ids = {a["meta"]["task"] for a in rnd.final_answers("instances") if "task" in a.get("meta", {})}
    ids |= {
        a["meta"]["input_request"].split("/noinput/")[0]
        for a in rnd.final_answers("answers")
        if "/noinput/" in a.get("meta", {}).get("input_request", "")
    }
    return ids | {a["meta"]["respond"] for a in rnd.final_answers("respond") if "respond" in a.get("meta", {})}


def measure(rounds: list[Round], source: str) -> Measured:
    """The committed rounds' figures, from their stats and stores."""
    m = Measured(source, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    carry: list[Task] = []
    for rnd in rounds:
        committed = rnd.committed()
        assert committed is not None, f"{rnd.path}: not committed"  # callers pass finished rounds only
        stats, _, carry = committed
        m.tried += len(tried_ids(rnd))
        m.passed += stats.accepted
        m.novel += sum(stats.counts.get(s.key("novel"), 0) for s in registry().values())
        for step, u in rnd.usage().items():
            tokens = u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)
            if step in {s.steps[0] for s in registry().values()}:  # where each strategy's proposals are
                m.propose_tokens += tokens
            else:
                m.other_tokens += tokens
            m.prompt_tokens += u.get("prompt_tokens", 0)
            m.completion_tokens += u.get("completion_tokens", 0)
        m.round_s += stats.wall_s
    m.passed += sum(bool(t.instances) for t in carry)  # finished, left for the next round to accept
    return m


def measure_run(path: Path) -> Measured:
    """A finished (or stopped) run's committed rounds, with its students' training time per round."""
    run = RunDir.reader(path)
    if not run.path.is_dir():
        raise RunError(f"{path}: no such run directory")
    rounds = [r for r in run.rounds() if r.done]
    if not rounds:
        raise RunError(f"{path}: no finished round to estimate from")
    m = measure(rounds, f"{path} ({len(rounds)} rounds)")
    trained = [r.student_metrics() for r in rounds if r.student_done()]
    walls = [t["wall_s"] for t in trained if t and "wall_s" in t]
    m.student_s = sum(walls) / len(walls) if walls else None
    return m


def calibrate(cfg: Config) -> Measured:
    """One batch of this config into a scratch folder, deleted afterwards."""
    from .loop import run_generate

    scratch = Path(tempfile.mkdtemp(prefix="selfinstruct-estimate-"))
    cal = cfg.model_copy(deep=True)
    cal.run.root, cal.run.name = str(scratch), "calibration"
    cal.generate.rounds, cal.generate.max_batches, cal.generate.audit = 1, 1, False
    cal.generate.per_round = min(cfg.generate.per_round, CALIBRATION_NEED)
    cal.generate.budget = Budget()
    cal.student.enabled = False
    print(
        f"calibrating: one batch of {cal.generate.per_round} tasks into {scratch} (deleted afterwards; the run "
        "is not touched)",
        file=sys.stderr,
        flush=True,
    )
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the calibration's own tables; stdout is the estimate's
            run_generate(cal)
        wall = time.perf_counter() - t0
        m = measure([RunDir.reader(scratch / "calibration").round(1)], "a calibration batch")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    m.startup_s = max(wall - m.round_s, 0.0)
    return m


def simulate(
    rounds: int, per_round: int, max_batches: int, acceptance: float, draws: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """-> the expected (tasks tried, tasks accepted) of `rounds` rounds, each task passing with
    probability `acceptance`, batched as round.py does; what passes beyond a batch's need is carried."""
    rng = np.random.default_rng(seed)
    quota = np.array([math.ceil(n * MARGIN) for n in range(per_round + 1)])  # as round.py rounds it
    ready = np.zeros(draws, dtype=np.int64)
    tried = np.zeros(draws)
    accepted = np.zeros(draws)
    for _ in range(rounds):
        need = np.full(draws, per_round, dtype=np.int64)
        for _ in range(max_batches):
            live = need > 0
            new = np.where(live, np.maximum(quota[need] - ready, 0), 0)
            passed = ready + rng.binomial(new, acceptance)
            take = np.minimum(passed, need)
            ready, need = passed - take, need - take
            tried += new
            accepted += take
    return float(tried.mean()), float(accepted.mean())


@dataclass
class Projection:
    accepted: float
    tokens: float
    seconds: float  # rounds, start-up and student training, as far as they are known
    cost: float | None


def project(m: Measured, cfg: Config, acceptance: float) -> Projection:
    g, price = cfg.generate, cfg.teacher.price
    tried, accepted = simulate(g.rounds, g.per_round, g.max_batches, acceptance)
    tokens = tried * m.tokens_per_tried
    seconds = tokens * m.s_per_token + (m.startup_s or 0.0)
    if cfg.student.enabled and m.student_s is not None:
        seconds += g.rounds * m.student_s
    cost = (
        None
        if price is None
        else tokens * (m.prompt_share * price.prompt_per_m + (1 - m.prompt_share) * price.completion_per_m) / 1e6
    )
    return Projection(accepted, tokens, seconds, cost)


def run_estimate(cfg: Config, from_run: Path | None = None) -> dict[str, float]:
    """Measures (a calibration batch, or `from_run`), projects the configured rounds, prints the table and
    the name=value line; returns those figures."""
    from ..audit import wilson

    m = measure_run(from_run) if from_run else calibrate(cfg)
    if m.tried == 0:
        raise RunError(
            f"{m.source} gave no task instances (the teacher answered nothing usable): nothing to "
            "project from; see its errors above"
        )
    lo, hi = wilson(m.passed, m.tried)
    runs = [project(m, cfg, a) for a in (m.passed / m.tried, lo, hi)]
    figures = _figures(m, cfg, runs, (lo, hi))
    notes = _notes(m, cfg, from_run, figures)
    _print(m, cfg, figures, notes)
    return figures


def _span(runs: list[Projection], attr: str) -> tuple[float, float, float]:
    values = [getattr(r, attr) for r in runs]
    return values[0], min(values), max(values)


def _figures(m: Measured, cfg: Config, runs: list[Projection], interval: tuple[float, float]) -> dict[str, float]:
    out: dict[str, float] = {
        "acceptance": round(m.passed / m.tried, 4),
        "acceptance_lo": interval[0],
        "acceptance_hi": interval[1],
        "tried": m.tried,
        "tokens_per_tried": round(m.tokens_per_tried),
        "s_per_token": round(m.s_per_token, 5),
    }
    for name, attr in (("accepted", "accepted"), ("tokens", "tokens"), ("seconds", "seconds"), ("cost", "cost")):
        if name == "cost" and runs[0].cost is None:
            continue
        mid, low, high = _span(runs, attr)
        digits = 4 if name == "cost" else 0
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = (
            round(v, digits) if digits else round(v) for v in (mid, low, high)
        )
    out["prompt_tokens"] = round(runs[0].tokens * m.prompt_share)
    out["completion_tokens"] = out["tokens"] - out["prompt_tokens"]
    out["rounds_s"] = round(runs[0].tokens * m.s_per_token)
    if m.startup_s is not None:
        out["startup_s"] = round(m.startup_s)
    if cfg.student.enabled and m.student_s is not None:
        out["student_s"] = round(cfg.generate.rounds * m.student_s)
    return out


def _notes(m: Measured, cfg: Config, from_run: Path | None, f: dict[str, float]) -> list[str]:
    g = cfg.generate
    notes = [
        f"range: the 95% Wilson interval of the acceptance rate ({m.passed} of {m.tried} tasks tried passed: "
        f"{f['acceptance_lo']:.0%}-{f['acceptance_hi']:.0%}) carried through the rounds' batching; tokens per "
        "task and seconds per token as measured, not varied",
        "time: seconds per token as measured on this machine, loaded as it was then (other jobs on its "
        "cores slow it); the tokens do not depend on that",
    ]
    if cfg.student.enabled and m.student_s is None:
        notes.append(
            "student training after each round: excluded (no run measured it; --estimate-from RUN "
            "takes it from a run that trained one)"
        )
    if m.startup_s is None:
        notes.append("start-up (engine, models): excluded (a finished run does not record it)")
    if from_run:
        run = RunDir.reader(from_run)
        run.config = cfg
        changed = [c for c in run._changed_keys() if not c.startswith("generate.per_round")]
        if changed:
            notes.append(
                f"note: {from_run} was made with another config ({'; '.join(changed[:3])}"
                f"{'; ...' if len(changed) > 3 else ''}): its figures may not carry over"
            )
    if g.budget.tokens and f["tokens"] > g.budget.tokens:
        notes.append(
            f"generate.budget.tokens ({g.budget.tokens:,}) stops the run at about "
            f"{g.budget.tokens / f['tokens']:.0%} of these tokens"
        )
    if g.budget.cost and f.get("cost", 0) > g.budget.cost:
        notes.append(
            f"generate.budget.cost ({g.budget.cost:g}) stops the run at about {g.budget.cost / f['cost']:.0%} "
            "of this cost"
        )
    return notes


def _print(m: Measured, cfg: Config, f: dict[str, float], notes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    g, price = cfg.generate, cfg.teacher.price
    table = Table(title=f"estimate: {g.rounds} rounds of {g.per_round}")
    for col in ("", "projected", "95% range"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("accepted tasks", f"{f['accepted']:,}", f"{f['accepted_lo']:,}-{f['accepted_hi']:,}")
    table.add_row("teacher tokens", f"{f['tokens']:,}", f"{f['tokens_lo']:,}-{f['tokens_hi']:,}")
    table.add_row("  prompt", f"{f['prompt_tokens']:,}", "")
    table.add_row("  completion", f"{f['completion_tokens']:,}", "")
    table.add_row("rounds' time", f"{f['rounds_s']:,} s", "")
    table.add_row("start-up", f"{f['startup_s']:,} s" if "startup_s" in f else "excluded", "")
    if cfg.student.enabled:
        table.add_row("student training", f"{f['student_s']:,} s" if "student_s" in f else "excluded", "")
    table.add_row("total time", f"{f['seconds']:,} s", f"{f['seconds_lo']:,}-{f['seconds_hi']:,} s")
    if price is not None:
        table.add_row("cost", f"{f['cost']:,.4g}", f"{f['cost_lo']:,.4g}-{f['cost_hi']:,.4g}")
    measured = (
        f"measured on {m.source}: {m.tried} tasks tried, {m.passed} passed ({f['acceptance']:.0%}); "
        f"{m.tokens_per_tried:,.0f} teacher tokens per task tried ({m.propose_tokens / max(m.novel, 1):,.0f} "
        f"of them proposing it), {m.prompt_share:.0%} prompt; {m.s_per_token * 1000:.1f} s per 1,000 tokens"
    )
    if m.startup_s is not None:
        measured += f"; start-up {m.startup_s:,.0f} s"
    if m.student_s is not None:
        measured += f"; student training {m.student_s:,.0f} s a round"
    if price is not None:
        measured += (
            f"; price {price.prompt_per_m:g} / {price.completion_per_m:g} per million prompt / completion tokens"
        )
    out = Console()
    out.print(table)
    for line in [measured, *notes]:  # one line each, whatever the terminal's width
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    print(" ".join(f"{k}={v}" for k, v in f.items()), flush=True)
