"""Each filter reject kind, verifier check and audit verdict of a run against hand labels: precision,
recall (Wilson 95%) and kappa, as `selfinstruct audit` prints them, for any label file. No model.

    .venv/bin/python bench/signals_vs_labels.py runs/default                      # RUN/review/labels.jsonl
    .venv/bin/python bench/signals_vs_labels.py runs/default --labels docs/default-run-hand-labels.jsonl

Labels join tasks by id (a file without ids by the content key of instruction, input and output).
Last line: name=value figures (`<signal>_precision=`, `_recall=`, `_n=`).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from selfinstruct.labels import load_labels, print_signals, signals
from selfinstruct.rundir import RunDir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--labels", type=Path, action="append", help="label files (default: the run's review labels)")
    args = ap.parse_args()
    run = RunDir.reader(args.run)
    files = args.labels or [run.review_labels]
    labels = [row for f in files for row in load_labels(f)]
    tasks = [t for r in run.rounds() for step in ("accepted", "rejected") for t in r.tasks(step)]
    verdicts_path = run.audit.verdicts
    verdicts = [json.loads(line) for line in verdicts_path.open()] if verdicts_path.exists() else []
    found = signals(labels, tasks, verdicts)
    print_signals(found, ", ".join(map(str, files)))
    figures = {}
    for s in found:
        name = re.sub(r"\W+", "_", s.name).strip("_")
        figures.update({f"{name}_n": s.n, f"{name}_precision": s.precision, f"{name}_recall": s.recall})
    print(" ".join(f"{k}={'–' if v is None else round(v, 3)}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
