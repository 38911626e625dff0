"""A cheap quality signal against hand labels: instruction-following difficulty (filter/ifd.py) of the
30 hand-labelled tasks, per scoring model, side by side.

    .venv/bin/python bench/quality_signal.py docs/audit-hand-labels.jsonl \
        --model embedded:smollm2-135m --model embedded:gemma3-270m --model embedded:qwen2.5-coder-0.5b

For each model: the AUC of low IFD for "output valid" and for "all valid" by hand (0.5: no signal),
and at the filter's threshold (IFD < 1 keeps) the share kept, the hand-valid share among the kept
and among all, and the agreement with the hand's output label. The audit judge's agreement on the
same tasks is bench/audit_agreement.py's (docs/results.md). Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from selfinstruct.filter.ifd import ifd_scores
from selfinstruct.records import Instance, Task


def auc(scores: list[float], good: list[bool]) -> float:
    """P(a good task scores lower than a bad one), ties half: the rank statistic."""
    pos = [s for s, g in zip(scores, good) if g]
    neg = [s for s, g in zip(scores, good) if not g]
    if not pos or not neg:
        return float("nan")
    wins = sum((p < n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", type=Path)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--ifd-max", type=float, default=1.0)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.labels.open() if line.strip()]
    tasks = [
        Task(instruction=r["instruction"], instances=[Instance(input=r["input"], output=r["output"])]) for r in rows
    ]
    out_ok = [bool(r["output_ok"]) for r in rows]
    all_ok = [bool(r["instruction_ok"] and r["input_ok"] and r["output_ok"]) for r in rows]
    figures = {}
    for name in args.model:
        t0 = time.perf_counter()
        scores = ifd_scores(tasks, name)
        wall = time.perf_counter() - t0
        kept = [s < args.ifd_max for s in scores]
        valid_kept = sum(k and a for k, a in zip(kept, all_ok)) / max(sum(kept), 1)
        agree = sum(k == o for k, o in zip(kept, out_ok)) / len(rows)
        tag = name.split(":")[-1].replace(".", "_").replace("-", "_")
        r = {
            "auc_output": round(auc(scores, out_ok), 3),
            "auc_all": round(auc(scores, all_ok), 3),
            "kept": round(sum(kept) / len(rows), 3),
            "all_valid_kept": round(valid_kept, 3),
            "output_agreement": round(agree, 3),
            "s": round(wall, 1),
        }
        print(f"{name}: {json.dumps(r)}  (all valid by hand: {sum(all_ok) / len(rows):.0%})", flush=True)
        figures |= {f"{tag}_{k}": v for k, v in r.items()}
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
