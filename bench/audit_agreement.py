"""How well the validity audit's judge agrees with hand labels of the same tasks.

    .venv/bin/python bench/audit_agreement.py runs/default docs/audit-hand-labels.jsonl

The labels file has one row per hand-labelled task: {"instruction", "instruction_ok", "input_ok",
"output_ok"} (booleans, judged by a person against Self-Instruct's audit questions). Rows are
matched to RUN/audit/verdicts.jsonl by instruction text (its "task" field). Prints per question the judge's and the
person's share of "valid", their agreement and Cohen's kappa; the last line is name=value figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

QUESTIONS = (("instruction_valid", "instruction_ok"), ("input_valid", "input_ok"), ("output_valid", "output_ok"))


def kappa(a: list[bool], b: list[bool]) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return 0.0 if pe == 1 else (po - pe) / (1 - pe)


def main(run: Path, labels: Path) -> None:
    judged = {json.loads(l)["task"]: json.loads(l) for l in (run / "audit" / "verdicts.jsonl").open()}
    rows = [json.loads(l) for l in labels.open() if l.strip()]
    pairs = [(judged[r["instruction"]], r) for r in rows if r["instruction"] in judged]
    print(f"{len(pairs)} of {len(rows)} hand-labelled tasks found in {run}/audit/verdicts.jsonl")
    figures = {"n": len(pairs)}
    for q, key in (*QUESTIONS, ("all_valid", "all_ok")):
        j = [bool(v[q]) for v, _ in pairs]
        h = [all(r[k] for _, k in QUESTIONS) if key == "all_ok" else bool(r[key]) for _, r in pairs]
        agree = sum(x == y for x, y in zip(j, h)) / len(pairs)
        print(f"{q:12s} judge valid {sum(j) / len(j):.0%}  hand valid {sum(h) / len(h):.0%}  "
              f"agreement {agree:.0%}  kappa {kappa(j, h):+.2f}")
        figures[f"{q}_agreement"] = round(agree, 3)
        figures[f"{q}_hand_valid"] = round(sum(h) / len(h), 3)
        figures[f"{q}_judge_valid"] = round(sum(j) / len(j), 3)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
