"""The verifiers (selfinstruct/verify/) against hand labels: what each check says of hand-labelled
tasks, and how often a person agrees.

    .venv/bin/python bench/verify_labels.py docs/default-run-hand-labels.jsonl [--out bench/out/verify]

Each labelled task goes through the round's verify step with the configured teacher (default:
configs/default.yaml's, the embedded Qwen2.5-Coder-0.5B on vLLM) and the sandbox: its kind, the
outcome, a repaired output where one was made. Per outcome: how many, and the all-valid share by
hand with its Wilson 95% interval; a repaired output is a new text no label has seen, so the tasks
repaired are written to <out>/repaired.jsonl to be labelled (their `output_ok` left null).
The teacher's answers are kept in <out>/verify.jsonl: a rerun asks nothing again.
Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from heuristics_vs_labels import share  # one formatting of a share with its interval, for every label bench

from selfinstruct.config import load_config
from selfinstruct.generate.steps import StepContext
from selfinstruct.records import Instance, Task
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import make_teacher
from selfinstruct.verify.step import verify_tasks


def outcome(task: Task) -> str:
    c = task.checks
    text = c.get("execution") or c.get("computation") or "open"
    return f"{c.get('kind', '?')}: {text.split(':')[0].split(' ')[0]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", type=Path, nargs="+")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("bench/out/verify"))
    args = ap.parse_args()
    cfg = load_config(args.config, ["filter.verify.enabled=true", "filter.verify.unverified=keep"])
    rows = [json.loads(line) for path in args.labels for line in path.open() if line.strip()]
    tasks = [
        Task(r["instruction"], [Instance(r["input"], r["output"])], is_classification=r.get("is_classification"))
        for r in rows
    ]
    valid = {t.id: bool(r["instruction_ok"] and r["input_ok"] and r["output_ok"]) for t, r in zip(tasks, rows)}
    args.out.mkdir(parents=True, exist_ok=True)
    teacher = make_teacher(cfg.teacher, cfg.run.seed)
    try:
        ctx = StepContext(cfg, teacher, 1, [], [])
        kept, rejected = verify_tasks(
            ctx,
            [Task(t.instruction, list(t.instances), t.is_classification, id=t.id) for t in tasks],
            ChunkStore(args.out / "verify.jsonl"),
        )
    finally:
        teacher.close()
    by = defaultdict(Counter)
    repaired = []
    original = {t.id: t for t in tasks}
    for task in kept + rejected:
        key = outcome(task)
        src_id = task.id if task.id in valid else _source(task, original)
        by[key]["n"] += 1
        by[key]["valid"] += valid[src_id]
        if "repaired" in task.checks.get("computation", ""):
            o = original[src_id]
            repaired.append(
                {
                    "id": src_id,
                    "instruction": task.instruction,
                    "input": task.instances[0].input,
                    "output": task.instances[0].output,
                    "teacher_output": o.instances[0].output,
                    "valid_before": valid[src_id],
                    "output_ok": None,
                }
            )
        print(
            f"{key:<28} hand: {'valid  ' if valid[src_id] else 'invalid'} {task.instruction[:60]!r} "
            f"{json.dumps(task.checks)[:160]}"
        )
    (args.out / "repaired.jsonl").write_text("".join(json.dumps(r) + "\n" for r in repaired))
    print("\noutcome                      all valid by hand")
    for key, c in sorted(by.items()):
        print(f"{key:<28} {share(c['valid'], c['n'])}")
    ver = [k for k in by if k.split(": ")[1] in ("passed", "agrees")]
    n_ver, v_ver = sum(by[k]["n"] for k in ver), sum(by[k]["valid"] for k in ver)
    fail = [k for k in by if k.split(": ")[1] in ("failed", "wrong")]
    n_fail, v_fail = sum(by[k]["n"] for k in fail), sum(by[k]["valid"] for k in fail)
    print(
        f"verified_n={n_ver} verified_valid={v_ver} failed_n={n_fail} failed_valid={v_fail} "
        f"repaired_n={len(repaired)} tasks={len(tasks)} valid={sum(valid.values())}"
    )


def _source(task: Task, original: dict[str, Task]) -> str:
    """The labelled task a repaired record came from (same instruction and input)."""
    for t in original.values():
        if t.instruction == task.instruction and t.instances[0].input == task.instances[0].input:
            return t.id
    raise KeyError(task.instruction)


if __name__ == "__main__":
    main()
