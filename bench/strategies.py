"""Which strategy makes the better student for the same teacher budget: Self-Instruct, Evol-Instruct
or Magpie, each one run of `selfinstruct generate --rounds 1` on the default config (the embedded
teacher and student), stopped at the same teacher-token budget (generate.max_teacher_tokens).

Each run distills its accepted tasks into the default student (Gemma 3 270M base, LoRA) as
generate does; then one eval answers the run's held-out seeds with the base and the three students
(one vLLM engine, base once), and one validity audit judges every accepted task with the strongest
embedded model (generate.audit_judge). The three runs hold out the same seeds (the split is fixed by
each seed's content), so every student is scored on the same items.

    .venv/bin/python bench/strategies.py [--tokens 15000] [--root /tmp/bench-strategies] [--no-audit]

Table: accepted tasks, teacher tokens (and per accepted task), audit all-valid share, ROUGE-L gain
over the base with its paired-bootstrap 95% CI. Last line: <strategy>_accepted= <strategy>_gain=
<strategy>_ci_low= ... for self_instruct, evol and magpie.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("self_instruct", "evol", "magpie")


def generate(root: Path, strategy: str, tokens: int) -> tuple[Path, float]:
    """One run of one strategy until the budget is spent (per_round high enough never to stop it first)."""
    sets = [
        f"run.root={root}",
        f"generate.strategy={strategy}",
        f"generate.max_teacher_tokens={tokens}",
        "generate.per_round=200",
        "generate.max_batches=20",
        "generate.prompts_per_round=8",
    ]  # small batches: a budget overshoots by one batch at most
    cmd = [sys.executable, "-m", "selfinstruct.cli", "generate", "--rounds", "1", "--name", strategy]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return root / strategy, time.perf_counter() - t0


def run_figures(run: Path) -> dict:
    from selfinstruct.rundir import RunDir

    rnd = RunDir.reader(run).round(1)
    stats = rnd.stats()
    return {
        "accepted": stats.accepted,
        "tokens": stats.tokens,
        "tokens_per_accepted": stats.tokens_per_accepted,
        "acceptance": stats.acceptance_rate,
        "rejected": stats.rejected,
        "tasks": rnd.tasks("accepted"),
    }


def evaluate(runs: dict[str, Path], out: Path) -> dict[str, dict]:
    """Base and each strategy's student on the same held-out items, one engine."""
    from selfinstruct.config import load_config
    from selfinstruct.evaluate.command import evaluate_models, heldout_items, print_table, rouge_l
    from selfinstruct.formats import read_tasks
    from selfinstruct.rundir import EvalDir

    cfg = load_config(runs["self_instruct"] / "config.yaml")
    held = {s: read_tasks(r / "heldout.jsonl") for s, r in runs.items()}
    first = held["self_instruct"]
    assert all([t.id for t in ts] == [t.id for t in first] for ts in held.values()), "the runs held out different seeds"
    models = {"base": None, **{s: r / "round-1" / "student" for s, r in runs.items()}}
    items = heldout_items(first)
    rows, answers = evaluate_models(items, models, cfg.student, threads=2, out=EvalDir(out))
    print_table(rows, title=f"strategies: base vs each strategy's student on {len(first)} held-out seeds")
    return {r["model"]: r for r in rows}, {m: rouge_l(a, [ref for _, _, ref in items]) for m, a in answers.items()}


def versus(scores: dict[str, list[float]]) -> list[str]:
    """Each strategy's student against Self-Instruct's, item by item: is one strategy better?"""
    from selfinstruct.evaluate.paired import paired_bootstrap

    out = []
    for s in STRATEGIES[1:]:
        d = paired_bootstrap(scores[s], scores["self_instruct"])
        print(
            f"{s} vs self_instruct: {d['diff']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}], "
            f"{d['wins']}/{d['ties']}/{d['losses']}"
        )
        out += [f"{s}_vs_self_instruct={d['diff']}", f"{s}_vs_self_instruct_ci_low={d['ci_low']}"]
    return out


def audit(runs: dict[str, Path], tasks: dict[str, list], out: Path) -> dict[str, dict]:
    """Every strategy's accepted tasks judged by the audit judge, one engine; shares per strategy."""
    from selfinstruct.audit import judge_config, run_audit, summarize
    from selfinstruct.config import load_config
    from selfinstruct.rundir import AuditDir
    from selfinstruct.teachers import make_teacher

    cfg = load_config(runs["self_instruct"] / "config.yaml")
    judge = make_teacher(judge_config(cfg), seed=0)
    try:
        everything = [t for ts in tasks.values() for t in ts]
        run_audit(everything, judge, cfg, AuditDir(out))
    finally:
        judge.close()
    rows = [json.loads(line) for line in AuditDir(out).verdicts.read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    return {s: summarize([by_id[t.id] for t in ts if t.id in by_id], judge.name) for s, ts in tasks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=15000, help="teacher tokens (in + out) per strategy")
    ap.add_argument("--root", type=Path, default=Path("/tmp/bench-strategies"))
    ap.add_argument("--no-audit", action="store_true")
    args = ap.parse_args()
    runs, walls, figs = {}, {}, {}
    for s in STRATEGIES:
        runs[s], walls[s] = generate(args.root, s, args.tokens)
        figs[s] = run_figures(runs[s])
    scores, per_item = evaluate(runs, args.root / "eval")
    audits = {} if args.no_audit else audit(runs, {s: f["tasks"] for s, f in figs.items()}, args.root / "audit")
    print(f"\nsame teacher and student, budget {args.tokens:,} teacher tokens per strategy, one round each\n")
    head = (
        "strategy",
        "accepted",
        "teacher tokens",
        "tokens/accepted",
        "acceptance",
        "audit all valid",
        "ROUGE-L",
        "gain",
        "95% CI",
        "W/T/L",
        "generate s",
    )
    print(" | ".join(head))
    figures = []
    for s in STRATEGIES:
        f, e, a = figs[s], scores[s], audits.get(s)
        valid = (
            f"{a['all_valid']['share']:.0%} [{a['all_valid']['ci95'][0]:.0%}, {a['all_valid']['ci95'][1]:.0%}]"
            if a
            else "-"
        )
        print(
            " | ".join(
                str(x)
                for x in (
                    s,
                    f["accepted"],
                    f"{f['tokens']:,.0f}",
                    f["tokens_per_accepted"],
                    f"{f['acceptance']:.0%}",
                    valid,
                    e["rouge_l"],
                    f"{e['diff']:+.4f}",
                    f"[{e['ci_low']:+.4f}, {e['ci_high']:+.4f}]",
                    f"{e['wins']}/{e['ties']}/{e['losses']}",
                    f"{walls[s]:.0f}",
                )
            )
        )
        figures += [
            f"{s}_accepted={f['accepted']}",
            f"{s}_tokens={f['tokens']:.0f}",
            f"{s}_gain={e['diff']}",
            f"{s}_ci_low={e['ci_low']}",
            f"{s}_ci_high={e['ci_high']}",
        ]
        if a:
            figures.append(f"{s}_all_valid={a['all_valid']['share']}")
    print(f"base ROUGE-L {scores['base']['rouge_l']} on {scores['base']['n']} items")
    figures += versus(per_item)
    print(" ".join([f"base_rouge_l={scores['base']['rouge_l']}", *figures]))


if __name__ == "__main__":
    main()
