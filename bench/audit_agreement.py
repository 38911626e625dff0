"""How well each candidate audit judge agrees with hand labels of the same tasks, side by side.

    .venv/bin/python bench/audit_agreement.py docs/audit-hand-labels.jsonl docs/teacher-1.5b-hand-labels.jsonl \
        --judge embedded:qwen2.5-coder-0.5b --judge embedded:qwen2.5-coder-1.5b

The labels file has one row per hand-labelled task: {"instruction", "input", "output",
"instruction_ok", "input_ok", "output_ok"} (booleans, judged by a person against Self-Instruct's
audit questions). Each judge audits exactly those tasks through the real audit code (audit.py, the
default config's prompts and engine); the bench prints, per judge and question, the judge's and the
person's share of "valid", their agreement and Cohen's kappa, and the judge's wall time. The last
line is name=value figures (`<judge>_<question>_agreement=`, `_kappa=`, `<judge>_s=`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from selfinstruct.audit import QUESTIONS, run_audit
from selfinstruct.config import load_config
from selfinstruct.records import Instance, Task
from selfinstruct.rundir import AuditDir
from selfinstruct.teachers import make_teacher


def kappa(a: list[bool], b: list[bool]) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return 0.0 if pe == 1 else (po - pe) / (1 - pe)


def labelled_tasks(labels: list[Path]) -> tuple[list[Task], list[dict]]:
    rows = [json.loads(line) for f in labels for line in f.open() if line.strip()]
    tasks = [
        Task(id=f"h{i}", instruction=r["instruction"], instances=[Instance(input=r["input"], output=r["output"])])
        for i, r in enumerate(rows)
    ]
    return tasks, rows


def judge_verdicts(model: str, tasks: list[Task], config: str | None) -> tuple[list[dict], float]:
    cfg = load_config(config, [f"teacher.model={model}"])
    t0 = time.time()
    teacher = make_teacher(cfg.teacher, seed=cfg.run.seed)
    try:
        with tempfile.TemporaryDirectory() as out:
            run_audit(tasks, teacher, cfg, AuditDir(out))
            verdicts = [json.loads(line) for line in AuditDir(out).verdicts.open()]
    finally:
        teacher.close()
    return verdicts, time.time() - t0


def compare(name: str, verdicts: list[dict], rows: list[dict], figures: dict) -> None:
    for q in (*QUESTIONS, "all"):
        j = [v[f"{q}_valid"] is True for v in verdicts]
        h = [all(r[f"{k}_ok"] for k in QUESTIONS) if q == "all" else bool(r[f"{q}_ok"]) for r in rows]
        agree = sum(x == y for x, y in zip(j, h)) / len(rows)
        print(
            f"  {q + ' valid':18s} judge {sum(j) / len(j):4.0%}  hand {sum(h) / len(h):4.0%}  "
            f"agreement {agree:4.0%}  kappa {kappa(j, h):+.2f}"
        )
        figures[f"{name}_{q}_agreement"] = round(agree, 3)
        figures[f"{name}_{q}_kappa"] = round(kappa(j, h), 3)
    as_filter(name, verdicts, rows, figures)


def as_filter(name: str, verdicts: list[dict], rows: list[dict], figures: dict) -> None:
    """The judge as a quality filter: keep what it calls valid in all three respects. What share of the kept is
    all-valid by hand, against the share of all of them, and how many hand-valid tasks it drops."""
    valid = [all(r[f"{k}_ok"] for k in QUESTIONS) for r in rows]
    kept = [v["all_valid"] is True for v in verdicts]
    n_kept = sum(kept)
    share = sum(h for h, k in zip(valid, kept) if k) / n_kept if n_kept else 0.0
    dropped = sum(h and not k for h, k in zip(valid, kept))
    print(
        f"  as a filter: keeps {n_kept} of {len(rows)}, all valid by hand {share:4.0%} of the kept "
        f"(of all: {sum(valid) / len(rows):4.0%}); drops {dropped} of {sum(valid)} hand-valid"
    )
    figures[f"{name}_kept"] = n_kept
    figures[f"{name}_kept_all_valid"] = round(share, 3)
    figures[f"{name}_dropped_valid"] = dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels", type=Path, nargs="+", help="one or more hand-label files (rows concatenated)")
    ap.add_argument("--judge", action="append", required=True, help="model name, e.g. embedded:qwen2.5-coder-1.5b")
    ap.add_argument("--config", default=None, help="prompts and engine settings (default: configs/default.yaml)")
    args = ap.parse_args()
    tasks, rows = labelled_tasks(args.labels)
    figures: dict = {"n": len(rows)}
    for model in args.judge:
        verdicts, wall = judge_verdicts(model, tasks, args.config)
        name = model.split(":")[-1].replace(".", "").replace("-", "_")
        print(f"{model}: {len(rows)} hand-labelled tasks, {wall:.0f} s (engine start included)")
        compare(name, verdicts, rows, figures)
        figures[f"{name}_s"] = round(wall)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
