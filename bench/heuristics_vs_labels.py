"""The quality heuristics (filter/quality.py) against hand labels: which hand-labelled tasks they
reject, and the all-valid share before and after, per label file.

    .venv/bin/python bench/heuristics_vs_labels.py docs/audit-hand-labels.jsonl docs/teacher-1.5b-hand-labels.jsonl

A label file has one task a line: instruction, input, output and the hand's instruction_ok,
input_ok, output_ok (Self-Instruct's audit categories). The instruction goes through the same list
parser a proposal does, then the instruction and instance heuristics. No model: seconds.
Last line: name=value figures over all files together.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from selfinstruct.audit import wilson
from selfinstruct.config import QualityConfig
from selfinstruct.filter.quality import check_instances, check_instruction
from selfinstruct.generate.parse import parse_instructions
from selfinstruct.records import Instance, Task


def verdict(row: dict, cfg: QualityConfig) -> str | None:
    """The heuristics' reject reason for one labelled task, or None if it is kept."""
    items = parse_instructions(row["instruction"])
    if not items:
        return "no_instruction"
    task = Task(
        items[0], [Instance(row["input"], row["output"])], is_classification=bool(row.get("is_classification", False))
    )
    why = check_instruction(task.instruction, cfg) or check_instances(task)[0]
    return str(why) if why else None


def share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {k / max(n, 1):.0%} [{lo:.0%}, {hi:.0%}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", type=Path, nargs="+")
    args = ap.parse_args()
    cfg = QualityConfig()
    total = {"n": 0, "valid": 0, "kept": 0, "valid_kept": 0, "valid_rejected": 0}
    for path in args.labels:
        rows = [json.loads(line) for line in path.open() if line.strip()]
        n = valid = kept = valid_kept = 0
        print(f"{path}:")
        for row in rows:
            ok = bool(row["instruction_ok"] and row["input_ok"] and row["output_ok"])
            why = verdict(row, cfg)
            n, valid = n + 1, valid + ok
            if why is None:
                kept, valid_kept = kept + 1, valid_kept + ok
            else:
                total["valid_rejected"] += ok
                print(f"  rejects {why:<40} hand: {'valid' if ok else 'invalid'}  {row['instruction'][:60]!r}")
        print(f"  all valid by hand: {share(valid, n)} of all; {share(valid_kept, kept)} of those kept")
        for key, value in zip(("n", "valid", "kept", "valid_kept"), (n, valid, kept, valid_kept)):
            total[key] += value
    rejected = total["n"] - total["kept"]
    print(
        f"tasks={total['n']} rejected={rejected} valid_rejected={total['valid_rejected']} "
        f"all_valid_before={total['valid'] / total['n']:.3f} "
        f"all_valid_kept={total['valid_kept'] / max(total['kept'], 1):.3f}"
    )


if __name__ == "__main__":
    main()
