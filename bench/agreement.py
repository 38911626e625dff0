"""Agreement as a signal, against hand labels: does a second, independent answer that agrees with the
teacher's mark the teacher's answer right, where no program can check it?

    .venv/bin/python bench/agreement.py docs/default-run-hand-labels.jsonl docs/teacher-1.5b-hand-labels.jsonl \
        docs/verified-default-run-labels-A.jsonl [--model embedded:qwen2.5-coder-1.5b] [--out bench/out/agreement]

Every labelled task whose kind is `open` (verify/kinds.py: no program checks it) is answered again by
--model (default: the other embedded model, Qwen2.5-Coder-1.5B, greedy, the answer prompt generate uses;
or the teacher itself, sampled at --temperature),
and the two answers are compared: ROUGE-L F1, MiniLM cosine, and for short answers (a label, a number,
a name) whether one contains the other. Tasks split in two halves by id: a threshold is chosen on the
`tune` half (the best precision of output_ok among agreeing, with at least a third of them kept) and
reported on the `report` half, so the figure is not fitted to the labels it is reported on.
The second answers are kept in <out>/answers.jsonl: a rerun asks nothing again.
Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import numpy as np
from heuristics_vs_labels import share
from rouge_score import rouge_scorer

from selfinstruct.config import load_config
from selfinstruct.filter.embed import embedder_for
from selfinstruct.generate.steps import StepContext, answer_request
from selfinstruct.store import ChunkStore
from selfinstruct.teachers import make_teacher
from selfinstruct.verify.kinds import kind_of


def labelled_open(paths: list[Path]) -> list[dict]:
    seen, rows = set(), []
    for path in paths:
        for line in path.open():
            r = json.loads(line) if line.strip() else None
            if not r or r.get("output_ok") is None:
                continue
            key = (r["instruction"], r.get("input", ""), r["output"])
            if (
                key in seen
                or kind_of(r["instruction"], r.get("input", ""), r["output"], r.get("is_classification")) != "open"
            ):
                continue
            seen.add(key)
            r["key"] = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]
            r["half"] = "tune" if int(r["key"], 16) % 2 == 0 else "report"
            rows.append(r)
    return rows


def second_answers(rows: list[dict], model: str, out: Path, config: Path | None, temperature: float) -> list[str]:
    cfg = load_config(config, [f"teacher.model={model}", f"generate.answer_temperature={temperature}"])
    teacher = make_teacher(cfg.teacher, cfg.run.seed)
    try:
        ctx = StepContext(cfg, teacher, 1, [], [])
        reqs = [answer_request(ctx, r["instruction"], r.get("input", ""), 0, {"key": r["key"]}) for r in rows]
        comps = ctx.run("agreement", reqs, ChunkStore(out / "answers.jsonl"))
    finally:
        teacher.close()
    by = {c.meta["key"]: c.text.strip() for c in comps}
    return [by.get(r["key"], "") for r in rows]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def contains(a: str, b: str) -> bool:
    """A short answer (<= 4 words) found inside the other: "Positive" in "The sentiment is positive."."""
    a, b = _norm(a), _norm(b)
    short, long_ = sorted((a, b), key=len)
    return bool(short) and len(short.split()) <= 4 and f" {short} " in f" {long_} "


def scores(rows: list[dict], second: list[str], config: Path | None) -> dict[str, np.ndarray]:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge = np.array([scorer.score(r["output"], s)["rougeL"].fmeasure for r, s in zip(rows, second)])
    emb = embedder_for(load_config(config).filter.novelty)
    a, b = emb.encode([r["output"] for r in rows]), emb.encode(second)
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)
    short = np.array([1.0 if contains(r["output"], s) else 0.0 for r, s in zip(rows, second)])
    return {"rouge_l": rouge, "cosine": cosine, "contains": short, "cos_or_contains": np.maximum(cosine, short)}


def pick_threshold(values: np.ndarray, ok: np.ndarray) -> float:
    """The threshold with the best precision that still keeps a third of the tune half."""
    best, best_t = -1.0, float(np.median(values))
    for t in np.unique(values):
        keep = values >= t
        if keep.sum() >= max(3, len(values) / 3) and ok[keep].mean() > best:
            best, best_t = ok[keep].mean(), float(t)
    return best_t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", type=Path, nargs="+")
    ap.add_argument("--model", default="embedded:qwen2.5-coder-1.5b")
    ap.add_argument("--temperature", type=float, default=0.0, help="of the second answer (0: greedy)")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("bench/out/agreement"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = labelled_open(args.labels)
    second = second_answers(rows, args.model, args.out, args.config, args.temperature)
    ok = np.array([bool(r["output_ok"]) for r in rows])
    valid = np.array([bool(r["instruction_ok"] and r["input_ok"] and r["output_ok"]) for r in rows])
    tune = np.array([r["half"] == "tune" for r in rows])
    print(
        f"{len(rows)} open labelled tasks ({tune.sum()} tune, {(~tune).sum()} report); "
        f"output right by hand {share(int(ok.sum()), len(ok))}; all valid {share(int(valid.sum()), len(valid))}"
    )
    figures = {"open_n": len(rows), "output_ok_base": round(float(ok[~tune].mean()), 3) if (~tune).any() else 0}
    for name, v in scores(rows, second, args.config).items():
        t = pick_threshold(v[tune], ok[tune])
        keep = (v >= t) & ~tune
        print(
            f"{name:<16} >= {t:.2f} (tune): report half keeps {keep.sum()} of {(~tune).sum()}; "
            f"output right among kept {share(int(ok[keep].sum()), int(keep.sum()))}, among dropped "
            f"{share(int(ok[~keep & ~tune].sum()), int((~keep & ~tune).sum()))}; recall "
            f"{share(int(ok[keep].sum()), int(ok[~tune].sum()))}"
        )
        figures[f"{name}_precision"] = round(float(ok[keep].mean()), 3) if keep.any() else 0
        figures[f"{name}_kept"] = int(keep.sum())
    for r, s in list(zip(rows, second))[:12]:
        print(
            f"  {'ok ' if r['output_ok'] else 'bad'} {r['instruction'][:60]!r}\n      A: {r['output'][:90]!r}\n"
            f"      B: {s[:90]!r}"
        )
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
