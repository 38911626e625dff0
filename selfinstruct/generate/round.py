"""One round of Self-Instruct: batches of propose -> filter -> classify -> instances -> filter,
until the round has its target of accepted tasks (or runs out of batches), then commit.

Instructions are filtered before any instance is written (teacher time is the cost), against
the pool and everything accepted earlier in the round. Novel instructions beyond what a batch
needs are carried to the next batch instead of being asked for again.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import Config
from ..filter.pipeline import Filter
from ..records import Task
from ..round_dir import Round, RoundStats
from ..rundir import RunDir
from ..teachers.base import error_kind
from .progress import StepProgress
from .steps import StepContext, classify, write_instances
from .strategy import registry, respond, split, strategy, teacher_steps
from .tails import step_limits

console = Console(stderr=True)


def run_round(
    cfg: Config,
    run: RunDir,
    n: int,
    seeds: list[Task],
    generated: list[Task],
    teacher,
    filter: Filter | None = None,
    *,
    weights: dict[str, float] | None = None,
    carry_in: list[Task] | None = None,
    novel_per_prompt: float | None = None,
    budget=None,
) -> tuple[RoundStats, list[Task], list[Task]]:
    """-> (stats, accepted, carried over). `filter`: the run's (generate builds it once, with the
    held-out tasks; without one the round builds its own). `carry_in`: the last round's novel
    instructions (and tasks with instances) that it did not need; they come first and are filtered
    again against the pool. `novel_per_prompt`: what the last round measured, to size batches.
    `budget` (generate/budget.py) raises BudgetSpent between batches, leaving the round uncommitted."""
    t0 = time.time()
    rnd = run.round(n)
    target = cfg.generate.per_round
    accepted: list[Task] = []
    rejected: list[Task] = []
    carry: list[Task] = list(carry_in or [])
    for t in carry:
        t.round = n  # a task belongs to the round that accepts it (its parents still say where it came from)
    with StepProgress(f"round {n}", status=getattr(teacher, "status", None)) as progress:
        ctx = StepContext(
            cfg,
            teacher,
            n,
            seeds,
            generated,
            on_chunk=progress.update,
            weights=weights,
            filter=filter or Filter(cfg.filter, cache_dir=run.embeddings),
            novel_per_prompt=novel_per_prompt,
            token_limits=step_limits(run, n, cfg.generate.tails),
        )
        ctx.seen.update(t.id for t in carry)
        ctx.counts["carried_in"] = len(carry)
        for batch in range(cfg.generate.max_batches):
            acc, rej, carry = _run_batch(
                ctx, rnd, batch, seeds + generated + accepted, carry, target - len(accepted), progress
            )
            accepted += acc
            rejected += rej
            progress.note(f"accepted {len(accepted)}/{target}")
            if len(accepted) >= target:
                break
            cap = cfg.generate.max_teacher_tokens
            spent = _teacher_tokens(rnd) if cap else 0
            if cap and spent >= cap:
                progress.note(f"teacher budget spent ({spent:,.0f} of {cap:,} tokens)")
                break
            if budget is not None and batch + 1 < cfg.generate.max_batches:
                budget.check(n, batch + 1)
    stats = _round_stats(n, ctx.counts, accepted, rejected, rnd, time.time() - t0, ctx.timings)
    stats.carried = len(carry)
    stats.long_seeds = _long_seeds(rnd, seeds + generated)
    stats.token_limits = dict(ctx.token_limits)
    if set(cfg.generate.shares(n)) != {"self_instruct"}:
        stats.by_strategy = _by_strategy(rnd, accepted, rejected)
    rnd.commit(accepted, rejected, carry, stats)
    return stats, accepted, carry


def _run_batch(
    ctx: StepContext, rnd: Round, batch: int, pool: list[Task], carry: list[Task], need: int, progress: StepProgress
) -> tuple[list[Task], list[Task], list[Task]]:
    """-> (accepted, rejected, carried over). One batch of prompts through every step. Nothing the
    teacher wrote is dropped for want of room: novel instructions beyond the batch's quota, and
    finished tasks beyond its need, are carried to the next batch (or round)."""
    cfg = ctx.cfg
    assert ctx.filter is not None  # run_round always gives the context the run's filter
    # Only as many as the batch needs get instances; some will fail, hence the margin.
    quota = math.ceil(need * 1.3)
    ready = [t for t in carry if t.instances]  # finished tasks a batch before did not need
    candidates = [t for t in carry if not t.instances]
    new: list[Task] = []
    dropped: list[Task] = []
    with ctx.timed("propose"):
        short = quota - len(ready) - len(candidates)
        if short > 0:
            new, dropped = _propose(ctx, rnd, batch, short, progress)
            ctx.counts["candidates"] += len(new)
            candidates += new
    with ctx.timed("filter"):
        novel, rejected, _ = ctx.filter.instructions(candidates, pool)
    fresh = {t.id for t in new}
    for t in novel:  # of this batch's proposals, per strategy: sizes the next batch's requests
        if t.id in fresh:
            ctx.counts[strategy(t.strategy).key("novel")] += 1
    take = max(quota - len(ready), 0)
    mixed = len(cfg.generate.shares(ctx.round)) > 1
    novel, later = _mixed(novel, take) if mixed else (novel[:take], novel[take:])
    listed = [t for t in novel if strategy(t.strategy).listed]
    undecided = [t for t in listed if t.is_classification is None]  # a strategy may know (rewrite: never)
    with ctx.timed("classify"):
        progress.start("classify", len(undecided), f"batch {batch + 1} classify")
        classify(ctx, undecided, rnd.store("classify"))
    with ctx.timed("instances"):
        progress.start("instances", len(listed) * cfg.generate.instances_per_task, f"batch {batch + 1} instances")
        answers = rnd.store("answers") if cfg.generate.answer_step else None
        finished, failed = write_instances(ctx, listed, rnd.store("instances"), answers)
        direct = [t for t in novel if not strategy(t.strategy).listed]
        if direct:
            progress.start("respond", len(direct), f"batch {batch + 1} respond")
            answered, unanswered = respond(ctx, direct, rnd.store("respond"))
            for each in registry().values():  # what a strategy does after the answer (multi_turn's later turns)
                answered, broken = each.finish(ctx, answered, rnd.store, progress)
                unanswered += broken
            finished, failed = finished + answered, failed + unanswered
    # The judge and the verifiers (the last checks) ask this round's teacher; step_s["filter"] holds them
    # too, and "verify" its own share.
    with ctx.timed("filter"):
        accepted, rejected2, _ = ctx.filter.tasks(
            ready + finished, pool, ctx, rnd.store, lambda step, n: progress.start(step, n, f"batch {batch + 1} {step}")
        )
    accepted, extra = _mixed(accepted, need) if mixed else (accepted[:need], accepted[need:])
    return accepted, dropped + rejected + failed + rejected2, later + extra


def _mixed(tasks: list[Task], take: int) -> tuple[list[Task], list[Task]]:
    """-> (the first `take` of `tasks` taken in turn from each strategy, the rest): a mixed batch keeps
    its mix instead of filling up with whichever strategy came first."""
    queues: dict[str, list[Task]] = {}
    for t in tasks:
        queues.setdefault(t.strategy, []).append(t)
    order = []
    while any(queues.values()):
        for q in queues.values():
            if q:
                order.append(q.pop(0))
    return order[:take], order[take:]


def _propose(
    ctx: StepContext, rnd: Round, batch: int, need: int, progress: StepProgress
) -> tuple[list[Task], list[Task]]:
    """-> (new candidates, failed ones with their reason): `need` novel instructions asked of each
    strategy of this round's mix by its share, each strategy into its own store."""
    new: list[Task] = []
    dropped: list[Task] = []
    for name, want in split(need, ctx.cfg.generate.shares(ctx.round)).items():
        if want <= 0:
            continue
        each = strategy(name)
        count = each.requests(ctx, want)
        step = each.steps[0]
        progress.start(step, count, f"batch {batch + 1} {step}")
        made, failed = each.propose(ctx, rnd.store(step), ctx.counts[each.key("prompts")], count)
        new, dropped = new + made, dropped + failed
    return new, dropped


def _teacher_tokens(rnd: Round) -> float:
    return sum(s.get("prompt_tokens", 0) + s.get("completion_tokens", 0) for s in rnd.usage().values())


def _round_stats(
    n: int,
    counts: Counter,
    accepted: list[Task],
    rejected: list[Task],
    rnd: Round,
    wall: float,
    timings: dict[str, float] | None = None,
) -> RoundStats:
    reasons = Counter(t.reject.kind for t in rejected if t.reject)
    usage: dict[str, float] = {}  # wall_s is not a count: a Counter holds ints only
    for step in rnd.usage().values():
        for k in ("prompt_tokens", "completion_tokens", "wall_s"):
            usage[k] = usage.get(k, 0) + step.get(k, 0)
    considered = max(len(accepted) + sum(reasons.values()), 1)
    tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    return RoundStats(
        round=n,
        prompts=sum(counts[s.key("prompts")] for s in registry().values()),
        proposed=sum(counts[s.key("proposed")] for s in registry().values()),
        candidates=counts["candidates"],
        accepted=len(accepted),
        acceptance_rate=round(len(accepted) / considered, 4),
        rejected=dict(reasons),
        classification=sum(bool(t.is_classification) for t in accepted),
        counts=dict(counts),
        wall_s=round(wall, 2),
        teacher={k: round(v, 2) for k, v in usage.items()},
        teacher_errors=_teacher_errors(rnd),
        tokens_per_accepted=round(tokens / len(accepted)) if accepted else None,
        step_s={k: round(v, 3) for k, v in (timings or {}).items()},
    )


def _by_strategy(rnd: Round, accepted: list[Task], rejected: list[Task]) -> dict[str, dict[str, float]]:
    """strategy -> accepted, rejected and the teacher tokens of its requests (from each stored answer;
    the judge's, shared by all, are left out)."""
    out: dict[str, dict[str, float]] = {}
    for tasks, key in ((accepted, "accepted"), (rejected, "rejected")):
        for t in tasks:
            row = out.setdefault(t.strategy, {"accepted": 0, "rejected": 0, "tokens": 0})
            row[key] += 1
    # Where a step's requests do not name their strategy, the strategy that owns the step does.
    owner = {step: s.name for s in reversed(registry().values()) for step in s.steps}
    for step in (s for s in teacher_steps() if s != "judge"):
        default = owner.get(step)
        for a in rnd.final_answers(step):
            s = a.get("meta", {}).get("strategy", default)
            if s:
                row = out.setdefault(s, {"accepted": 0, "rejected": 0, "tokens": 0})
                row["tokens"] += a.get("prompt_tokens", 0) + a.get("completion_tokens", 0)
    return out


def _teacher_errors(rnd: Round) -> dict:
    """step -> requests, errors and their kinds (prompt too long, timeout, ...), from the stores."""
    out = {}
    for step in teacher_steps():
        rows = rnd.final_answers(step)
        kinds = Counter(error_kind(r.get("error")) for r in rows if r["finish_reason"] == "error")
        if rows:
            out[step] = {"requests": len(rows), "errors": sum(kinds.values()), "kinds": dict(kinds.most_common())}
    return out


def _long_seeds(rnd: Round, pool: list[Task], show: int = 3) -> list[dict]:
    """In-context tasks that only ever appear in prompts the teacher refused as too long: the likely
    culprits (a 100 KB seed), longest first."""
    bad: set[str] = set()
    good: set[str] = set()
    for row in rnd.final_answers("propose"):
        too_long = row["finish_reason"] == "error" and error_kind(row.get("error")) == "prompt too long"
        (bad if too_long else good).update(row.get("meta", {}).get("parents", []))
    size = {t.id: len(t.instruction) + sum(len(i.input) + len(i.output) for i in t.instances) for t in pool}
    suspects = sorted((i for i in bad - good if i in size), key=lambda i: -size[i])[:show]
    return [{"id": i, "chars": size[i]} for i in suspects]


def print_round(stats: RoundStats) -> None:
    table = Table(title=f"round {stats.round}", show_header=False)
    table.add_row("prompts", str(stats.prompts))
    table.add_row("instructions proposed", str(stats.proposed))
    table.add_row("unique candidates", str(stats.candidates))
    errors = {s: e for s, e in stats.teacher_errors.items() if e["errors"]}
    if not errors:
        table.add_row("teacher errors", "none")
    for step, e in errors.items():
        kinds = ", ".join(f"{k} {c}" for k, c in e["kinds"].items())
        table.add_row(f"teacher errors: {step}", f"{e['errors']} of {e['requests']} requests ({kinds})", style="red")
    for reason, count in sorted(stats.rejected.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    c = stats.counts
    if any(c.get(f"verify_{k}") for k in ("code", "compute", "open")):
        table.add_row(
            "verified (kinds of the filter's survivors)",
            f"code {c.get('verify_code', 0)}, compute {c.get('verify_compute', 0)}, "
            f"open {c.get('verify_open', 0)}; {c.get('repaired', 0)} outputs repaired",
        )
    table.add_row(
        "accepted",
        f"{stats.accepted} ({stats.acceptance_rate:.0%} of those judged), {stats.classification} classification",
    )
    moved = stats.counts.get("carried_in", 0), stats.carried
    if any(moved):
        table.add_row("carried over", f"{moved[0]} in from the last round, {moved[1]} on to the next (not needed yet)")
    tok = stats.teacher
    if tok.get("wall_s"):
        table.add_row(
            "teacher",
            f"{tok.get('prompt_tokens', 0):.0f} tokens in, {tok.get('completion_tokens', 0):.0f} "
            f"out, {tok.get('completion_tokens', 0) / tok['wall_s']:.0f} tok/s",
        )
    if stats.tokens_per_accepted:
        table.add_row("teacher tokens per accepted task", f"{stats.tokens_per_accepted:,}")
    if stats.token_limits:
        limits = ", ".join(
            f"{step} {limit} ({stats.counts.get(f'{step}_truncated', 0)} truncated)"
            for step, limit in stats.token_limits.items()
        )
        table.add_row("token limits (bounded tails)", limits)
    for name, row in stats.by_strategy.items():
        table.add_row(
            f"  {name}",
            f"{row['accepted']:.0f} accepted, {row['rejected']:.0f} rejected, {row['tokens']:,.0f} teacher tokens",
        )
    table.add_row("wall time", f"{stats.wall_s:.0f} s")
    console.print(table)
    if stats.long_seeds:
        seeds = ", ".join(f"{escape(s['id'])} ({s['chars']:,} characters)" for s in stats.long_seeds)  # user ids
        console.print(
            f"[yellow]warning:[/] round {stats.round}: prompts too long for the teacher all show "
            f"{seeds} as an in-context task; shorten or drop it, or give the teacher a longer "
            "context (teacher.vllm.max_model_len with vLLM)",
            highlight=False,
        )
