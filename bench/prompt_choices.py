"""Two prompt choices of the default teacher, measured: how many in-context examples the classify step
needs, and how many new instructions one propose prompt should ask for. Both trade teacher tokens
(the cost) against what the step is for.

    .venv/bin/python bench/prompt_choices.py [--config configs/default.yaml]

classify: every seed task (179, 37 of them classification) is classified by the real classify step,
by the teacher with generate.classify_shots = 8, 4 and 0 in-context examples, and by the majority of
its 3, 5 or 7 nearest seeds (generate.classify_with: neighbours); the examples and neighbours come from
the other half of the seeds (two folds: no task is its own example). Printed: accuracy, recall and precision of
"classification", and prompt tokens per request.
propose: 32 prompts with generate.max_new_per_prompt = 1 and 3 (the real propose step and the
instruction filter against the seeds); printed: novel instructions and teacher tokens per novel one.
The last line is name=value figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from selfinstruct.config import DEFAULT_CONFIG, load_config
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.formats import read_tasks
from selfinstruct.generate.steps import StepContext, classify, propose
from selfinstruct.records import Task
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import make_teacher
from selfinstruct.testing import DEFAULT_SEEDS

ROOT = Path(__file__).resolve().parent.parent


def _tokens(store: ChunkStore) -> tuple[int, int]:
    usage = ChunkStore(store.path.with_name(store.path.stem + ".usage.jsonl"))
    rows = list(usage)
    return sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows), sum(r["requests"] for r in rows)


def bench_classify(cfg, teacher, seeds: list[Task], shots: int, tmp: Path, neighbours: int = 0) -> dict:
    cfg = cfg.model_copy(deep=True)
    cfg.generate.classify_shots = shots
    if neighbours:
        cfg.generate.classify_with, cfg.generate.classify_neighbours = "neighbours", neighbours
    folds = seeds[0::2], seeds[1::2]
    right = tp = fp = fn = 0
    store = ChunkStore(tmp / f"classify-{shots}.jsonl")
    for test, examples in (folds, folds[::-1]):
        probe = [Task(instruction=t.instruction) for t in test]
        classify(StepContext(cfg, teacher, 1, examples, []), probe, store)
        for t, p in zip(test, probe):
            truth, said = bool(t.is_classification), bool(p.is_classification)
            right += truth == said
            tp, fp, fn = tp + (truth and said), fp + (said and not truth), fn + (truth and not said)
    tokens, requests = _tokens(store) if store.path.exists() else (0, 1)
    return {
        "accuracy": round(right / len(seeds), 3),
        "recall": round(tp / max(tp + fn, 1), 3),
        "precision": round(tp / max(tp + fp, 1), 3),
        "tokens_per_request": round(tokens / requests),
    }


def bench_propose(cfg, teacher, seeds: list[Task], n_new: int, tmp: Path) -> dict:
    cfg = cfg.model_copy(deep=True)
    cfg.generate.max_new_per_prompt = n_new
    store = ChunkStore(tmp / f"propose-{n_new}.jsonl")
    new = propose(StepContext(cfg, teacher, 1, seeds, []), store, 0, 32)
    novel, _, _ = filter_tasks(new, seeds, cfg.filter, check_instances=False)
    tokens, _ = _tokens(store)
    return {"proposed": len(new), "novel": len(novel), "tokens_per_novel": round(tokens / max(len(novel), 1))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    args = ap.parse_args()
    cfg = load_config(Path(args.config), [f"generate.templates={ROOT / 'prompts'}"])
    seeds = read_tasks(DEFAULT_SEEDS)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp, make_teacher(cfg.teacher, seed=0) as teacher:
        for k in (3, 5, 7):
            r = bench_classify(cfg, teacher, seeds, 0, Path(tmp), neighbours=k)
            print(f"classify, {k} nearest seeds: {json.dumps(r)}", flush=True)
            figures |= {f"neighbours{k}_{key}": v for key, v in r.items()}
        for shots in (8, 4, 0):
            r = bench_classify(cfg, teacher, seeds, shots, Path(tmp))
            print(f"classify, teacher, {shots} shots: {json.dumps(r)}", flush=True)
            figures |= {f"classify{shots}_{k}": v for k, v in r.items()}
        for n_new in (1, 3):
            r = bench_propose(cfg, teacher, seeds, n_new, Path(tmp))
            print(f"propose, {n_new} per prompt: {json.dumps(r)}", flush=True)
            figures |= {f"propose{n_new}_{k}": v for k, v in r.items()}
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
