"""What a student learns from the engine's hand-labelled tasks pooled over several runs: the valid ones
only, all of them, a random sample as large as the valid ones, the invalid ones only; beside the same
student trained on the 175 public (human-written) seeds. Asks whether the engine's data fails the student
by its amount, its validity or its kinds, without a new generate run.

    .venv/bin/python bench/pooled_student.py [--sets valid,all,same_size,invalid] [--labels A] [--runs mix-run,...]

The pool: the accepted tasks of every `docs/*-labels-<A|B>.jsonl` run file (one annotator's labels:
"valid" = instruction, input and output all right). Every student is the default one (config's Gemma 3
270M base, LoRA, the distill defaults), trained from the base, scored by ROUGE-L against its base on the
default config's held-out seeds (the run's split of the packaged seeds; none is a public seed), with the
cut-base control, and paired against the seeds' student. Tens of minutes: 5-12 per student here.
Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from pathlib import Path

from heuristics_vs_labels import share  # one formatting of a share with its interval, for every label bench
from verified import labelled, valid  # a label file's rows as tasks, and "all three right"

from selfinstruct.config import load_config
from selfinstruct.formats import read_tasks
from selfinstruct.records import Task
from selfinstruct.testing import PUBLIC_SEEDS

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUNS = ("mix-run", "verified-default-run", "checked-run", "constrained-default-run")


def pool(annotator: str, runs: tuple[str, ...] = RUNS) -> list[tuple[Task, dict]]:
    """The accepted tasks of every labelled run, with their rows (annotator's labels)."""
    files = [DOCS / f"{run}-labels-{annotator}.jsonl" for run in runs]
    return [(t, r) for f in files for t, r in labelled(f) if r.get("accepted", True)]


def sets(pairs: list[tuple[Task, dict]]) -> dict[str, list[Task]]:
    good = [t for t, r in pairs if valid(r)]
    return {
        "valid": good,
        "all": [t for t, _ in pairs],
        "same_size": random.Random(0).sample([t for t, _ in pairs], len(good)),
        "invalid": [t for t, r in pairs if not valid(r)],
    }


def main() -> None:
    from selfinstruct.distill.train import train_student
    from selfinstruct.evaluate.command import evaluate_models, heldout_items
    from selfinstruct.generate.seeds import load_seeds, split_heldout
    from selfinstruct.rundir import EvalDir

    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="valid,all,same_size,invalid")
    ap.add_argument("--labels", default="A", help="whose labels say valid: A or B")
    ap.add_argument("--runs", default=",".join(RUNS), help="the label files pooled: docs/<run>-labels-<A|B>.jsonl")
    ap.add_argument("--out", type=Path, default=Path("bench/out/pooled_student"))
    args = ap.parse_args()
    cfg = load_config(None)
    runs = tuple(args.runs.split(","))
    pairs = pool(args.labels, runs)
    good = sum(valid(r) for _, r in pairs)
    print(f"pool: {len(pairs)} accepted tasks of {len(runs)} runs, valid by {args.labels}: {share(good, len(pairs))}")
    chosen = {name: tasks for name, tasks in sets(pairs).items() if name in args.sets.split(",")}
    path, _, seeds = load_seeds(cfg)
    _, heldout = split_heldout(cfg, path, seeds)
    models: dict = {"base": None}
    for name, tasks in {"seeds": read_tasks(PUBLIC_SEEDS), **chosen}.items():
        # named by what it learns from: a relaunch with the other annotator's labels trains anew
        folder = args.out / f"student-{name}-{hashlib.sha256(''.join(t.id for t in tasks).encode()).hexdigest()[:8]}"
        print(f"training on {name}: {len(tasks)} tasks", flush=True)
        if not (folder / "adapter_config.json").exists():  # a relaunch reuses a finished student
            train_student(tasks, folder, cfg.student, seed=cfg.run.seed, threads=cfg.run.threads, resolved_config=cfg)
        models[name] = folder
    items = heldout_items(heldout)
    rows, answers = evaluate_models(items, models, cfg.student, threads=cfg.run.threads, out=EvalDir(args.out))
    figures = {"pool": len(pairs), "heldout": len(items), **_table(rows, answers, items, chosen)}
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def _table(rows: list[dict], answers: dict, items: list, chosen: dict[str, list[Task]]) -> dict[str, float]:
    """Prints each student against the base, the cut base and the seeds' student; -> the figures."""
    from selfinstruct.evaluate.command import rouge_l
    from selfinstruct.evaluate.paired import paired_bootstrap

    refs = [ref for _, _, ref in items]
    figures: dict[str, float] = {}
    heads = ("vs base [95% CI]", "vs cut base [95% CI]", "vs seeds [95% CI]")
    print(f"{'student':<10} {'n':>4} {'ROUGE-L':>8} " + " ".join(f"{h:>26}" for h in heads) + " words")
    for r in rows:
        name = r["model"]
        n = len(chosen.get(name, [])) or (175 if name == "seeds" else 0)
        cells = [" " * 26] * 3
        if "diff" in r:
            cells[0] = _ci(r["diff"], r["ci_low"], r["ci_high"])
            cells[1] = _ci(r["vs_cut_base"], r["vs_cut_ci_low"], r["vs_cut_ci_high"])
            figures[f"{name}_vs_base"] = round(r["diff"], 3)
        if name in chosen:
            vs = paired_bootstrap(rouge_l(answers[name], refs), rouge_l(answers["seeds"], refs))
            cells[2] = _ci(vs["diff"], vs["ci_low"], vs["ci_high"])
            figures[f"{name}_vs_seeds"] = round(vs["diff"], 3)
            figures[f"{name}_vs_seeds_lo"] = round(vs["ci_low"], 3)
            figures[f"{name}_vs_seeds_hi"] = round(vs["ci_high"], 3)
        print(
            f"{name:<10} {n:>4} {r['rouge_l']:>8.4f} "
            + " ".join(f"{c:>26}" for c in cells)
            + f" {r['answer_words']:.1f}"
        )
    return figures


def _ci(d: float, lo: float, hi: float) -> str:
    return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"


if __name__ == "__main__":
    main()
