"""`selfinstruct eval`: how well the base student and each trained round answer held-out tasks.

Each model answers every held-out instance greedily in its own prompt format (data.py); the
score is ROUGE-L F (rouge-score, stemmed) of the answer against the reference output, averaged
over instances. Optionally the teacher judges student vs base pairwise (judge.py), asked in both
orders so that its position bias cancels. Answers and scores go to <run>/eval/ (or next to the
held-out file): eval.json, eval.md, answers-<model>.jsonl.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..config import Config, StudentConfig
from ..formats import read_tasks
from ..records import InputError, Task
from .data import format_prompt

Item = tuple[str, str, str]  # instruction, input, reference output


def heldout_items(tasks: list[Task]) -> list[Item]:
    return [(t.instruction, i.input, i.output) for t in tasks for i in t.instances if i.output.strip()]


def generate_answers(model: Any, tok: Any, items: list[Item], *, max_new_tokens: int = 128,
                     batch_size: int = 8) -> list[str]:
    """Greedy answers, batched with left padding (the answer must start right after the prompt)."""
    import torch

    device = next(model.parameters()).device
    tok.padding_side = "left"
    answers: list[str] = []
    for i in range(0, len(items), batch_size):
        prompts = [format_prompt(tok, ins, inp) for ins, inp, _ in items[i:i + batch_size]]
        enc = tok(prompts, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        for row in out[:, enc["input_ids"].shape[1]:]:
            answers.append(_clean(tok.decode(row, skip_special_tokens=True), tok))
    return answers


def _clean(text: str, tok: Any) -> str:
    if not tok.chat_template:
        text = text.split("\n### ")[0]  # a base model runs on into the next fallback-template turn
    return text.strip()


def rouge_l(preds: list[str], refs: list[str]) -> list[float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(preds, refs)]


def evaluate_models(tasks: list[Task], models: dict[str, str | Path | None], cfg: StudentConfig, *,
                    out_dir: Path | None = None, teacher: Any = None,
                    judge_style: str = "chat") -> list[dict[str, Any]]:
    """Scores each model (label -> None for the base student, or an adapter/model folder).

    With a `teacher`, each non-base model is judged pairwise against the first one (the base);
    `judge_style` is how that teacher is prompted ("completion" or "chat").
    Returns one row per model; writes answers-<label>.jsonl into `out_dir` when given.
    """
    from .modeling import load_student

    items = heldout_items(tasks)
    if not items:
        raise ValueError("no held-out instance has a reference output")
    refs = [ref for _, _, ref in items]
    rows, answers = [], {}
    for label, path in models.items():
        t0 = time.perf_counter()
        model, tok = load_student(path, cfg)
        preds = generate_answers(model, tok, items, max_new_tokens=cfg.eval_max_new_tokens,
                                 batch_size=cfg.eval_batch_size)
        del model
        scores = rouge_l(preds, refs)
        answers[label] = preds
        rows.append({"model": label, "path": str(path) if path else cfg.model, "n": len(items),
                     "rouge_l": round(sum(scores) / len(scores), 4),
                     "answer_words": round(sum(len(p.split()) for p in preds) / len(preds), 1),
                     "wall_s": round(time.perf_counter() - t0, 1)})
        if out_dir:
            _write_answers(out_dir / f"answers-{label}.jsonl", items, preds, scores)
    if teacher is not None:
        from .judge import win_rate

        base = next(iter(answers))
        for row in rows[1:]:
            judged = win_rate(teacher, items, answers[row["model"]], answers[base], style=judge_style)
            row["win_rate_vs_base"], row["judge_unclear"] = judged["win_rate"], judged["unclear"]
    return rows


def _write_answers(path: Path, items: list[Item], preds: list[str], scores: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for (ins, inp, ref), pred, score in zip(items, preds, scores):
            f.write(json.dumps({"instruction": ins, "input": inp, "reference": ref, "answer": pred,
                                "rouge_l": round(score, 4)}, ensure_ascii=False) + "\n")


def models_to_eval(run: Path | None, adapters: list[Path]) -> dict[str, str | Path | None]:
    """base first, then every finished round's student in round order, then the adapters given."""
    models: dict[str, str | Path | None] = {"base": None}
    if run is not None:
        for student in sorted(Path(run).glob("round-*/student"), key=lambda p: _round_no(p.parent)):
            if (student / ".done").exists():
                models[student.parent.name] = student
    for a in adapters:
        if not Path(a).is_dir():
            raise InputError(a, None, "no such adapter folder")
        label = a.parent.name if a.name == "student" else a.name
        models[label] = a
    return models


def _round_no(path: Path) -> int:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def eval_command(heldout: Path, cfg: Config, run: Path | None = None, adapters: list[Path] | None = None,
                 judge: bool = False) -> list[dict[str, Any]]:
    """`selfinstruct eval`: base vs each round's student on held-out tasks; writes and prints the table."""
    import torch

    tasks = read_tasks(heldout)
    if not heldout_items(tasks):
        raise InputError(heldout, None, "no instance has a reference output to score against")
    if run is not None and not Path(run).is_dir():
        raise InputError(run, None, "no such run directory")
    torch.set_num_threads(cfg.run.threads)
    models = models_to_eval(run, list(adapters or []))
    out_dir = Path(run) / "eval" if run else Path(heldout).with_name(Path(heldout).stem + ".eval")
    teacher = None
    if judge:
        from ..teachers import make_teacher  # written separately; only needed with --judge

        teacher = make_teacher(cfg.teacher, seed=cfg.run.seed)
    try:
        rows = evaluate_models(tasks, models, cfg.student, out_dir=out_dir, teacher=teacher,
                               judge_style=cfg.teacher.prompt_style)
    finally:
        if teacher is not None:
            teacher.close()
    write_table(rows, out_dir, heldout)
    print_table(rows, title=f"eval on {heldout} ({rows[0]['n']} instances) -> {out_dir}")
    return rows


def write_table(rows: list[dict[str, Any]], out_dir: Path, heldout: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps({"heldout": str(heldout), "rows": rows}, indent=1))
    cols = [c for c in _COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    (out_dir / "eval.md").write_text(f"Held-out: `{heldout}`\n\n" + "\n".join(lines) + "\n")


_COLUMNS = ("model", "n", "rouge_l", "win_rate_vs_base", "judge_unclear", "answer_words", "wall_s")


def print_table(rows: list[dict[str, Any]], title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    cols = [c for c in _COLUMNS if any(c in r for r in rows)]
    for c in cols:
        table.add_column(c, justify="left" if c == "model" else "right")
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in cols))
    Console(stderr=True).print(table)

