"""The verified default against today's: the valid share of what each keeps on one labelled set, the
teacher tokens per valid task, and (with --train) what a student learns from each, beside a student
trained on the human-written public seeds.

    .venv/bin/python bench/verified.py --labels docs/default-run-hand-labels.jsonl \
        --repaired docs/verified-repaired-labels.jsonl [--after RUN] [--train]

Part 1, no training: every labelled task (an earlier default run, labelled by hand) goes through
today's stack (the quality heuristics, as it was accepted) and the verified stack (heuristics, then
verify/ with `unverified: reject`, the teacher writing tests and programs). A repaired output is new
text: its output_ok comes from --repaired (labelled by hand after the repair; missing -> counted
invalid). Tokens per valid task = (the run's teacher tokens per accepted task x tasks + the verify
step's tokens) / valid tasks kept.
Part 2, --train (minutes): the default student (config's, Gemma 3 270M base LoRA) trained on (a) the
public seeds less the run's held-out ones, (b) the labelled run's tasks, (c) the --after run's
accepted tasks, each scored against the base on --after's held-out seeds with the cut-base control,
and (c) against (a), paired (after_minus_seeds, with its 95% interval).
Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heuristics_vs_labels import share  # one formatting of a share with its interval, for every label bench

from selfinstruct.config import load_config
from selfinstruct.generate.steps import StepContext
from selfinstruct.records import Instance, Task
from selfinstruct.store import ChunkStore
from selfinstruct.testing import PUBLIC_SEEDS as SEEDS


def labelled(path: Path) -> list[tuple[Task, dict]]:
    rows = [json.loads(line) for line in path.open() if line.strip()]
    return [
        (Task(r["instruction"], [Instance(r["input"], r["output"])], is_classification=r.get("is_classification")), r)
        for r in rows
    ]


def valid(row: dict) -> bool:
    return bool(row["instruction_ok"] and row["input_ok"] and row["output_ok"])


def verified_stack(
    pairs: list[tuple[Task, dict]], repaired_labels: dict[str, bool], out: Path, config: Path | None
) -> tuple[list[tuple[Task, bool]], float]:
    """-> ([(kept task, valid by hand)], the verify step's teacher tokens)."""
    from selfinstruct.teachers import make_teacher
    from selfinstruct.verify.step import verify_tasks

    cfg = load_config(config, ["filter.verify.enabled=true", "filter.verify.unverified=reject"])
    by_text = {(t.instruction, t.instances[0].input): (t, r) for t, r in pairs}
    teacher = make_teacher(cfg.teacher, cfg.run.seed)
    try:
        kept, _ = verify_tasks(
            StepContext(cfg, teacher, 1, [], []), [t for t, _ in pairs], ChunkStore(out / "verify.jsonl")
        )
    finally:
        teacher.close()
    result = []
    for task in kept:
        src, row = by_text[(task.instruction, task.instances[0].input)]
        ok = valid(row)
        if "teacher_output" in task.checks:  # a new output: its own label, made after the repair
            ok = bool(row["instruction_ok"] and row["input_ok"] and repaired_labels.get(src.id, False))
        result.append((task, ok))
    tokens = sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0) for r in ChunkStore(out / "verify.jsonl"))
    return result, tokens


def heuristics(pairs: list[tuple[Task, dict]]) -> list[tuple[Task, dict]]:
    from selfinstruct.config import QualityConfig
    from selfinstruct.filter.quality import check_instances, check_instruction

    cfg = QualityConfig()
    return [(t, r) for t, r in pairs if not (check_instruction(t.instruction, cfg) or check_instances(t)[0])]


def train_and_score(sets: dict[str, list[Task]], heldout: list[Task], out: Path, config: Path | None) -> list[dict]:
    """Each set's student against the base, and the run's ("after") against the seeds' student, paired."""
    from selfinstruct.distill.train import train_student
    from selfinstruct.evaluate.command import evaluate_models, heldout_items, rouge_l
    from selfinstruct.evaluate.paired import paired_bootstrap
    from selfinstruct.rundir import EvalDir

    cfg = load_config(config)
    models: dict = {"base": None}
    for name, tasks in sets.items():
        print(f"training on {name}: {len(tasks)} tasks", flush=True)
        train_student(
            tasks, out / f"student-{name}", cfg.student, seed=cfg.run.seed, threads=cfg.run.threads, resolved_config=cfg
        )
        models[name] = out / f"student-{name}"
    items = heldout_items(heldout)
    rows, answers = evaluate_models(items, models, cfg.student, threads=cfg.run.threads, out=EvalDir(out))
    if "after" in answers and "seeds" in answers:
        refs = [ref for _, _, ref in items]
        vs = paired_bootstrap(rouge_l(answers["after"], refs), rouge_l(answers["seeds"], refs))
        print(
            f"after vs seeds' student: {vs['diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}] "
            f"({vs['wins']} wins, {vs['ties']} ties, {vs['losses']} losses)"
        )
        rows.append({"model": "after_vs_seeds", **vs})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--repaired", type=Path, default=None, help="hand labels of the repaired outputs (id, output_ok)")
    ap.add_argument(
        "--tokens-per-task",
        type=float,
        default=464.0,
        help="teacher tokens per accepted task of the labelled run (its stats; 464 for the README's)",
    )
    ap.add_argument("--after", type=Path, default=None, help="a run made with the verified default")
    ap.add_argument(
        "--after-labels",
        type=Path,
        default=None,
        help="hand labels of the --after run's tasks (its accepted ones marked accepted: true)",
    )
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("bench/out/verified"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = labelled(args.labels)
    rep = {}
    if args.repaired and args.repaired.exists():
        rep = {
            r["id"]: bool(r["output_ok"])
            for r in map(json.loads, args.repaired.open())
            if r.get("output_ok") is not None
        }
    before = heuristics(pairs)
    v_before = sum(valid(r) for _, r in before)
    after, verify_tokens = verified_stack(before, rep, args.out, args.config)
    v_after = sum(ok for _, ok in after)
    gen = args.tokens_per_task * len(pairs)
    all_valid = share(sum(valid(r) for _, r in pairs), len(pairs))
    print(f"labelled tasks: {len(pairs)} ({args.labels}); all valid by hand {all_valid}")
    print(f"today's stack keeps {len(before)}: all valid {share(v_before, len(before))}")
    print(
        f"verified stack keeps {len(after)}: all valid {share(v_after, len(after))} "
        f"({sum('teacher_output' in t.checks for t, _ in after)} repaired; verify step {verify_tokens:,.0f} tokens)"
    )
    figures = {
        "valid_share_before": round(v_before / max(len(before), 1), 3),
        "valid_share_after": round(v_after / max(len(after), 1), 3),
        "tokens_per_valid_before": round(gen / max(v_before, 1)),
        "tokens_per_valid_after": round((gen + verify_tokens) / max(v_after, 1)),
        "kept_before": len(before),
        "kept_after": len(after),
    }
    if args.after is not None and args.after_labels is not None:
        figures.update(_after_run(args.after, args.after_labels))
    if args.train:
        figures.update(_train_part(args, [t for t, _ in before]))
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def _after_run(run: Path, labels: Path) -> dict:
    """The verified default's own run: the all-valid share of its accepted tasks by hand, and its
    teacher tokens (every step, verification included) per valid task."""
    from selfinstruct.rundir import RunDir

    reader = RunDir.reader(run)
    accepted = {t.id for t in reader.accepted_tasks()}
    rows = [r for r in map(json.loads, labels.open()) if r["id"] in accepted]
    tokens = 0.0
    for rnd in reader.rounds():
        tokens += sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in rnd.usage().values())
    ok = sum(valid(r) for r in rows)
    print(
        f"{run}: {len(accepted)} accepted, {len(rows)} labelled, all valid {share(ok, len(rows))}; "
        f"{tokens:,.0f} teacher tokens, {tokens / max(len(accepted), 1):,.0f} per accepted task"
    )
    return {
        "run_accepted": len(accepted),
        "run_valid_share": round(ok / max(len(rows), 1), 3),
        "run_tokens_per_accepted": round(tokens / max(len(accepted), 1)),
        "run_tokens_per_valid": round(tokens / max(ok * len(accepted) / max(len(rows), 1), 1)),
    }


def _train_part(args, before: list[Task]) -> dict:
    from selfinstruct.formats import read_tasks
    from selfinstruct.rundir import RunDir

    if args.after is None:
        raise SystemExit("--train needs --after RUN (its held-out seeds and accepted tasks)")
    reader = RunDir.reader(args.after)
    heldout = read_tasks(reader.heldout_path)
    held = {" ".join(t.instruction.lower().split()) for t in heldout}
    seeds = [t for t in read_tasks(SEEDS) if " ".join(t.instruction.lower().split()) not in held]
    rows = train_and_score(
        {"seeds": seeds, "before": before, "after": reader.accepted_tasks()}, heldout, args.out, args.config
    )
    print(
        f"{'model':<8} {'n':>3} {'ROUGE-L':>8} {'vs base [95% CI]':>26} {'cut base':>9} {'vs cut [95% CI]':>26} words"
    )
    out = {}
    for r in rows:
        if r["model"] == "after_vs_seeds":
            out.update(after_minus_seeds=r["diff"], after_minus_seeds_lo=r["ci_low"], after_minus_seeds_hi=r["ci_high"])
            continue
        vs = f"{r['diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" if "diff" in r else "-"
        cut = (
            f"{r['vs_cut_base']:+.3f} [{r['vs_cut_ci_low']:+.3f}, {r['vs_cut_ci_high']:+.3f}]"
            if "vs_cut_base" in r
            else "-"
        )
        print(
            f"{r['model']:<8} {r['n']:>3} {r['rouge_l']:>8.4f} {vs:>26} {r.get('cut_base_rouge_l', '-'):>9} {cut:>26} "
            f"{r['answer_words']}"
        )
        if "diff" in r:
            out[f"gain_{r['model']}"] = r["diff"]
            out[f"gain_over_cut_{r['model']}"] = r["vs_cut_base"]
    return out


if __name__ == "__main__":
    main()
