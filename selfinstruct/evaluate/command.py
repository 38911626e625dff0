"""`selfinstruct eval`: how much better each student answers held-out tasks than its base.

Each model answers every held-out instance greedily in the student's own prompt format
(answers.py: through one teacher on the base, every student's adapter named per request); the score
is ROUGE-L F (rouge-score, stemmed) of the answer against the reference, and each student's row
adds the paired-bootstrap 95% CI of its difference to the base and its wins/ties/losses (paired.py).
With --run, the held-out file defaults to the run's held-out seeds, every finished student is found
(each round's and the run's own: RunDir.students), and the held-out tasks that overlap the run's training data are
counted (filter/decontam.py). Past ROUGE-L, which rewards stopping early: each student against
the base cut to its answer lengths (lengths.py); strict accuracy on the held-out seeds with IFEval
constraints attached (verifiable.py; one engine call answers both sets, same token budget); and,
optionally, the teacher's position-fair pairwise judge (judge.py). Answers and scores go to the
run's eval folder (or one beside the held-out file): rundir.EvalDir names its files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, StudentConfig
from ..formats import read_tasks
from ..records import InputError, Task
from ..round_dir import STUDENT, STUDENT_CONFIG
from ..rundir import EvalDir, RunDir
from ..store import write_atomic
from . import answers as A
from . import verifiable as V
from .lengths import length_control, plain
from .paired import paired_bootstrap
from .table import COLUMNS, print_measures

Item = A.Item


def heldout_items(tasks: list[Task]) -> list[Item]:
    return [(t.instruction, i.input, i.output) for t in tasks for i in t.instances if i.output.strip()]


def rouge_l(preds: list[str], refs: list[str]) -> list[float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(preds, refs)]


def models_to_eval(run: Path | None, adapters: list[Path], base: str | None = None) -> dict[str, str | Path | None]:
    """base first, then every finished round's student in round order, the run's own student
    (`distill --data RUN`), then the adapters given. Each student must have been trained on `base`."""
    models: dict[str, str | Path | None] = {"base": None}
    if run is not None:
        models.update(RunDir.reader(run).students())
    for a in adapters:
        if not Path(a).is_dir():
            raise InputError(a, None, "no such adapter folder")
        label = a.parent.name if a.name == STUDENT else a.name
        models[label] = a
    for folder in list(models.values())[1:]:
        assert folder is not None  # only the base has no folder, and it is first
        _check_base(Path(folder), base)
    return models


def _check_base(folder: Path, base: str | None) -> None:
    """An adapter means something only on the model it was trained on; loaded on another it is noise
    (or fails deep in the engine). Its folder's resolved config says which (distill/train.py)."""
    try:
        trained = yaml.safe_load((folder / STUDENT_CONFIG).read_text())["student"]["model"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return  # an adapter made elsewhere: nothing to check it against
    if base and trained != base:
        raise InputError(
            folder,
            None,
            f"this student was trained on {trained}, not on eval's base {base}; "
            f"evaluate it with the config it was trained with (--config {folder / STUDENT_CONFIG})",
        )


def evaluate_models(
    items: list[Item],
    models: dict[str, str | Path | None],
    cfg: StudentConfig,
    *,
    threads: int = 2,
    out: EvalDir | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Scores each model (label -> None for the base, or an adapter folder); -> (rows, answers)."""
    answers, walls = _answer(models, {"heldout": items}, cfg, threads)
    return rouge_rows(items, answers["heldout"], walls, models, cfg, out), answers["heldout"]


def rouge_rows(
    items: list[Item],
    answers: dict[str, list[str]],
    walls: dict[str, float],
    models: dict[str, str | Path | None],
    cfg: StudentConfig,
    out: EvalDir | None,
) -> list[dict[str, Any]]:
    """ROUGE-L per model; each student against the base, and against the base cut to its lengths."""
    refs = [ref for _, _, ref in items]
    scores = {label: rouge_l(answers[label], refs) for label in models}
    base = next(iter(models))
    rows = []
    for label, path in models.items():
        s = scores[label]
        row: dict[str, Any] = {
            "model": label,
            "path": str(path) if path else cfg.model,
            "n": len(items),
            "rouge_l": round(sum(s) / len(s), 4),
        }
        if label != base:
            row.update(paired_bootstrap(s, scores[base]))
            row.update(length_control(answers[base], answers[label], refs, scores[base], s, rouge_l))
        row["answer_words"] = round(sum(len(p.split()) for p in answers[label]) / len(items), 1)
        row["wall_s"] = walls.get(label, 0.0)
        rows.append(row)
        if out:
            _write_answers(out.answers(label), items, answers[label], s)
    return rows


def _answer(
    models: dict[str, str | Path | None], sets: dict[str, list[Item]], cfg: StudentConfig, threads: int
) -> tuple[dict[str, dict[str, list[str]]], dict[str, float]]:
    """{set: {model: answers}}: cached per set and model where there are some, the rest from one
    backend call (one engine for every set), with a progress bar."""
    from rich.progress import Progress

    ident = {label: A.model_identity(p, cfg) for label, p in models.items()}
    keys = {(s, label): A.cache_key(its, ident[label], cfg) for s, its in sets.items() for label in models}
    got = {k: a for k in keys if (a := A.cached(keys[k], len(sets[k[0]]))) is not None}
    todo = {label: p for label, p in models.items() if any((s, label) not in got for s in sets)}
    names = [s for s in sets if any((s, label) not in got for label in models)]
    walls = {label: 0.0 for label in models}
    if todo:
        flat = [it for s in names for it in sets[s]]
        backend = A.eval_backend(cfg)
        t0 = time.perf_counter()
        with Progress(transient=True) as bar:
            task = bar.add_task(
                f"eval: {len(todo)} model(s) x {len(flat)} items ({backend})", total=len(todo) * len(flat)
            )
            new = A.answer_models(todo, flat, cfg, threads, lambda label, n: bar.advance(task, n), backend)
        wall = round((time.perf_counter() - t0) / len(todo), 1)
        for label, a in new.items():
            walls[label], at = wall, 0
            for s in names:
                part, at = a[at : at + len(sets[s])], at + len(sets[s])
                if (s, label) not in got:  # a cached answer stays as it was
                    A.store(keys[(s, label)], part)
                    got[(s, label)] = part
    return {s: {label: got[(s, label)] for label in models} for s in sets}, walls


def _write_answers(path: Path, items: list[Item], preds: list[str], scores: list[float]) -> None:
    write_atomic(
        path,
        "".join(
            json.dumps(
                {"instruction": ins, "input": inp, "reference": ref, "answer": pred, "rouge_l": round(score, 4)},
                ensure_ascii=False,
            )
            + "\n"
            for (ins, inp, ref), pred, score in zip(items, preds, scores)
        ),
    )


def eval_command(
    heldout: Path | None, cfg: Config, run: Path | None = None, adapters: list[Path] | None = None, judge: bool = False
) -> list[dict[str, Any]]:
    """`selfinstruct eval`: base vs each student on held-out tasks; writes and prints the table."""
    if run is not None and not Path(run).is_dir():
        raise InputError(run, None, "no such run directory")
    rundir = RunDir.reader(run) if run is not None else None
    if heldout is None:
        if rundir is None or not rundir.heldout_path.exists():
            raise InputError(
                rundir.heldout_path if rundir else "--heldout",
                None,
                "no held-out file: pass --heldout, or generate with generate.heldout_share > 0",
            )
        heldout = rundir.heldout_path
    if rundir is not None:
        rundir.check_heldout()  # the set the run was decontaminated against, unchanged
    tasks = read_tasks(heldout)
    items = heldout_items(tasks)
    if not items:
        raise InputError(heldout, None, "no instance has a reference output to score against")
    models = models_to_eval(run, list(adapters or []), base=cfg.student.model)
    out = rundir.eval if rundir else EvalDir.beside(heldout)
    vrows = V.prepare(tasks, rundir.verifiable_path if rundir else out.verifiable_set)
    answers, walls = _answer(models, {"heldout": items, "verifiable": V.items(vrows)}, cfg.student, cfg.run.threads)
    rows = rouge_rows(items, answers["heldout"], walls, models, cfg.student, out)
    summary = V.add_scores(rows, vrows, answers["verifiable"], out, rundir.accepted_tasks() if rundir else None)
    if judge:
        _judge(rows, items, answers["heldout"], cfg, out)
    overlap = _overlap(tasks, rundir, cfg) if rundir else None
    write_table(
        rows, out, heldout, overlap, {"verifiable": summary, "answer_max_new_tokens": cfg.student.eval_max_new_tokens}
    )
    title = f"eval on {heldout} ({len(items)} instances) -> {out.path}"
    print_table(rows, title, overlap, len(tasks), models)
    return rows


def _judge(
    rows: list[dict[str, Any]], items: list[Item], answers: dict[str, list[str]], cfg: Config, out: EvalDir
) -> None:
    """The teacher's pairwise verdicts, each model against the base, kept in its request store."""
    from ..store import ChunkStore
    from ..teachers import make_teacher
    from .judge import win_rate

    teacher = make_teacher(cfg.teacher, seed=cfg.run.seed)
    try:
        base = rows[0]["model"]
        for row in rows[1:]:
            judged = win_rate(
                teacher,
                items,
                answers[row["model"]],
                answers[base],
                style=cfg.teacher.style("judge"),
                store=ChunkStore(out.judge(row["model"])),
                chunk_size=cfg.teacher.chunk_size,
            )
            row.update(judged)
    finally:
        teacher.close()


def _overlap(heldout: list[Task], run: RunDir, cfg: Config) -> list[str]:
    """Held-out tasks that some accepted task of the run overlaps (should be none: generate rejects them)."""
    from ..filter.decontam import Decontaminator

    return Decontaminator(heldout, cfg.filter.novelty).overlaps(run.accepted_tasks())


def write_table(
    rows: list[dict[str, Any]],
    out: EvalDir,
    heldout: Path,
    overlap: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    write_atomic(
        out.table,
        json.dumps(
            {"heldout": str(heldout), "rows": rows, "heldout_overlapping_training": overlap, **(extra or {})}, indent=1
        ),
    )
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    note = "" if overlap is None else f"\nHeld-out tasks overlapping the training data: {len(overlap)}\n"
    note += "".join(f"\n{plain(r)}.\n" for r in rows if plain(r))
    write_atomic(out.page, f"Held-out: `{heldout}`\n\n" + "\n".join(lines) + "\n" + note)


def print_table(
    rows: list[dict[str, Any]],
    title: str = "",
    overlap: list[str] | None = None,
    n_tasks: int = 0,
    models: dict | None = None,
) -> None:
    """One row per model, the difference to the base and its CI in one cell, so it fits 80 columns."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, markup=False)  # paths and model labels are user text, never markup
    table = Table(title=title)
    for c in ("model", "n", "ROUGE-L", "vs base [95% CI]", "w/t/l", "words", "s"):
        table.add_column(c, justify="left" if c == "model" else "right", no_wrap=True)
    for r in rows:
        gain = f"{r['diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" if "diff" in r else "-"
        wtl = f"{r['wins']}/{r['ties']}/{r['losses']}" if "wins" in r else "-"
        table.add_row(
            r["model"],
            str(r["n"]),
            f"{r['rouge_l']:.4f}",
            gain,
            wtl,
            str(r.get("answer_words", "")),
            f"{r.get('wall_s', 0):.0f}",
        )
    console.print(table)
    if overlap is not None:
        console.print(
            f"held-out tasks overlapping the training data (13-gram or embedding): {len(overlap)} of {n_tasks}"
        )
    for r in rows:
        if "ci_low" in r:
            verdict = (
                "better than" if r["ci_low"] > 0 else "worse than" if r["ci_high"] < 0 else "not distinguishable from"
            )
            console.print(
                f"{r['model']}: {verdict} the base (95% CI of the ROUGE-L difference "
                f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}])"
            )
    print_measures(rows)
