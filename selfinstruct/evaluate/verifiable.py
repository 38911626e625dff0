"""The held-out verifiable set: each held-out instance with one or two IFEval constraints attached.

Built the IFEval way from the run's held-out seeds (constraints.py, the "eval" phrasing pool) and
deterministically: each item's draw is seeded by a hash of its task id, instance and text, so the
same held-out file always gives the same set, in any order. The set is written to the run folder
(RunDir.verifiable_path) so generation can decontaminate against its phrasings. Scoring is
if-verifiable's strict check: prompt-level accuracy (every constraint of an item kept) and
instruction-level accuracy (constraints kept over constraints asked), each student against the
base with paired-bootstrap 95% CIs over items.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from .. import constraints as C
from ..records import Task
from ..rundir import EvalDir
from ..store import write_atomic
from .paired import paired_bootstrap


def build_set(tasks: list[Task], seed: int = 0) -> list[dict[str, Any]]:
    """One row per held-out instance: {id, instruction (with constraints), input, specs, source}."""
    rows = []
    for task in tasks:
        for n, inst in enumerate(task.instances):
            key = json.dumps([seed, task.id, n, task.instruction, inst.input])
            rng = random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))
            k = 1 if rng.random() < 0.5 else 2
            instruction, specs = C.attach(task.instruction, rng, pool="eval", k=k)
            rows.append(
                {
                    "id": f"{task.id}#{n}",
                    "instruction": instruction,
                    "input": inst.input,
                    "specs": specs,
                    "source": task.instruction,
                }
            )
    return rows


def write_set(path: Path, rows: list[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_set(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def items(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The answer path's items (instruction, input, reference): no reference, the checkers judge."""
    return [(r["instruction"], r["input"], "") for r in rows]


def verdicts(rows: list[dict[str, Any]], answers: list[str]) -> list[list[bool]]:
    return [C.check(a, r["specs"]) for r, a in zip(rows, answers)]


def score(rows: list[dict[str, Any]], answers: dict[str, list[str]]) -> tuple[dict[str, dict], dict[str, list]]:
    """-> ({model: row fields}, {model: verdicts}); the first model is the base the others face."""
    found = {label: verdicts(rows, a) for label, a in answers.items()}
    base = next(iter(found))
    n_specs = [len(r["specs"]) for r in rows]
    out: dict[str, dict] = {}
    for label, v in found.items():
        prompt = [float(all(x)) for x in v]
        kept = [sum(x) / len(x) for x in v]  # weighted by constraints asked: instruction level
        f: dict[str, Any] = {
            "if_n": len(rows),
            "if_prompt": round(sum(prompt) / len(rows), 4),
            "if_instr": round(sum(map(sum, v)) / sum(n_specs), 4),
        }
        if label != base:
            bp = [float(all(x)) for x in found[base]]
            bk = [sum(x) / len(x) for x in found[base]]
            f.update(_ci("if_prompt", paired_bootstrap(prompt, bp)))
            f.update(_ci("if_instr", paired_bootstrap(kept, bk, weights=n_specs)))
        out[label] = f
    return out, found


def _ci(name: str, r: dict[str, Any]) -> dict[str, Any]:
    return {f"{name}_diff": r["diff"], f"{name}_ci_low": r["ci_low"], f"{name}_ci_high": r["ci_high"]}


def by_type(rows: list[dict[str, Any]], found: dict[str, list[list[bool]]]) -> dict[str, dict[str, Any]]:
    """Per constraint id: how often it was asked and each model's share kept."""
    out: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(rows):
        for j, s in enumerate(r["specs"]):
            d = out.setdefault(s["id"], {"asked": 0, **{m: 0 for m in found}})
            d["asked"] += 1
            for m, v in found.items():
                d[m] += int(v[i][j])
    return {k: {"asked": d["asked"], **{m: round(d[m] / d["asked"], 3) for m in found}} for k, d in sorted(out.items())}


def write_verdicts(path: Path, rows: list[dict[str, Any]], answers: list[str], v: list[list[bool]]) -> None:
    write_atomic(
        path,
        "".join(
            json.dumps(
                {
                    "id": r["id"],
                    "instruction": r["instruction"],
                    "input": r["input"],
                    "answer": a,
                    "kept": [{"id": s["id"], "ok": ok} for s, ok in zip(r["specs"], x)],
                },
                ensure_ascii=False,
            )
            + "\n"
            for r, a, x in zip(rows, answers, v)
        ),
    )


def prepare(tasks: list[Task], path: Path) -> list[dict[str, Any]]:
    """The set for these held-out tasks, written to `path` (the run folder's) unless it is there as is."""
    rows = build_set(tasks)
    if not path.exists() or read_set(path) != rows:
        write_set(path, rows)
    return rows


def add_scores(
    rows: list[dict[str, Any]],
    vrows: list[dict[str, Any]],
    answers: dict[str, list[str]],
    out: EvalDir,
    accepted: list[Task] | None,
) -> dict[str, Any]:
    """Adds each model's verifiable accuracies (and CIs) to its eval row; keeps each model's
    verdicts (EvalDir.verifiable); -> the summary for eval's table."""
    fields, found = score(vrows, answers)
    for row in rows:
        row.update(fields[row["model"]])
        write_verdicts(out.verifiable(row["model"]), vrows, answers[row["model"]], found[row["model"]])
    used = C.phrasings(vrows)
    leaked = (
        None
        if accepted is None
        else [
            t.id for t in accepted if C.find_phrasings(" ".join([t.instruction, *(i.input for i in t.instances)]), used)
        ]
    )
    return {
        "n": len(vrows),
        "constraints": sum(len(r["specs"]) for r in vrows),
        "by_type": by_type(vrows, found),
        "training_tasks_with_eval_phrasings": leaked,
    }
