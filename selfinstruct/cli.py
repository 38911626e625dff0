"""The `selfinstruct` command: one typed function per subcommand; its docstring is its --help.

Heavy libraries (torch, vllm, faiss) are imported inside the commands so `--help` is instant.
Every error a user can cause (bad input, a busy or mismatched run, a missing package) ends
as one red line naming the file and line, not a traceback.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from .config import Config, ConfigError, load_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="Turn a few hundred seed tasks into a filtered instruction dataset, and train a student on it.",
)
console = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config (default: configs/default.yaml).")
SetOpt = typer.Option([], "--set", help="Override a config key, e.g. --set teacher.temperature=0.9 (repeatable).")
NameOpt = typer.Option(None, "--name", help="Run name: output goes to runs/NAME/.")


def _config(config: Path | None, sets: list[str], **cli: object) -> Config:
    overrides = list(sets) + [f"{k}={v}" for k, v in cli.items() if v is not None]
    return load_config(config, overrides)


def _user_errors():
    from .formats import InputError
    from .models import ModelError
    from .rundir import RunError
    from .store import StoreError
    from .teachers.base import TeacherError

    return (InputError, ConfigError, RunError, StoreError, ModelError, TeacherError)


def _run(fn, *args, **kwargs):
    """Runs a stage; user-caused errors become one line and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except _user_errors() as e:
        # The message holds user text (paths, names, seed content): never read as rich markup.
        console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, markup=True)
        raise typer.Exit(2) from None


@app.command()
def generate(
    config: Path | None = ConfigOpt,
    rounds: int | None = typer.Option(None, "--rounds", help="Rounds of bootstrapping."),
    per_round: int | None = typer.Option(None, "--per-round", help="Target accepted tasks per round."),
    seeds: Path | None = typer.Option(
        None, "--seeds", help="Seed tasks (Self-Instruct JSONL, Alpaca JSON, chat JSONL)."
    ),
    name: str | None = NameOpt,
    force_new: bool = typer.Option(
        False, "--force-new", help="Move an existing run of this name aside and start afresh."
    ),
    estimate: bool = typer.Option(
        False,
        "--estimate",
        help="Only project teacher tokens, time and cost, from one "
        "calibration batch in a scratch folder (the run is not touched).",
    ),
    estimate_from: Path | None = typer.Option(
        None, "--estimate-from", help="Only project, from a previous run's stats (no calibration)."
    ),
    sets: list[str] = SetOpt,
) -> None:
    """Expand seed tasks into new tasks with a teacher LLM, round after round (Self-Instruct).

    Each round samples in-context tasks (seeds + generated), asks the teacher for new
    instructions, identifies classification tasks, writes instances (output-first for
    classification), filters them (novelty, quality), and accepts the rest into the pool.
    With a student enabled, each accepted round is distilled into it. A relaunch resumes.
    With generate.budget set, it stops at the first batch boundary past it with exit code 3;
    run it again with a higher budget (or none) and it resumes there. --estimate projects the
    run's teacher tokens, time and cost (teacher.price) first, with a range, and generates nothing.
    """
    from .generate.budget import BUDGET_EXIT
    from .generate.loop import run_generate

    cfg = _run(
        _config,
        config,
        sets,
        **{"generate.rounds": rounds, "generate.per_round": per_round, "seeds": seeds, "run.name": name},
    )
    if estimate or estimate_from:
        from .generate.estimate import run_estimate

        _run(run_estimate, cfg, from_run=estimate_from)
        return
    if _run(run_generate, cfg, force_new=force_new).get("stopped"):
        raise typer.Exit(BUDGET_EXIT)


@app.command("filter")
def filter_cmd(
    input: Path = typer.Option(..., "--input", "-i", help="Candidate tasks (any supported format)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Accepted tasks (JSONL); rejected go to OUTPUT.rejected.jsonl."
    ),
    pool: Path | None = typer.Option(None, "--pool", help="Existing pool to test novelty against (default: none)."),
    config: Path | None = ConfigOpt,
    method: str | None = typer.Option(None, "--method", help="Novelty method: embedding or rouge (paper mode)."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Cosine similarity that counts as a near duplicate."
    ),
    sets: list[str] = SetOpt,
) -> None:
    """Keep what is novel and good: embedding novelty (faiss), ROUGE-L paper mode, quality checks.

    Every rejected record is written with its reason, e.g. near_duplicate(0.93, of=<id>).
    """
    from .filter.pipeline import filter_file

    cfg = _run(_config, config, sets, **{"filter.novelty.method": method, "filter.novelty.threshold": threshold})
    _run(filter_file, input, output, cfg, pool=pool)


@app.command()
def distill(
    data: Path = typer.Option(..., "--data", "-d", help="A run directory (runs/NAME) or a task file."),
    out: Path | None = typer.Option(None, "--out", help="Where the adapter goes (default: RUN/student/)."),
    config: Path | None = ConfigOpt,
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps."),
    sets: list[str] = SetOpt,
) -> None:
    """LoRA SFT of the student on accepted tasks (peft + trl), loss on response tokens only.

    Uses the student's own chat template; saves the adapter with the resolved config next to it.
    A run is distilled with its own config (its student model) unless --config says otherwise.
    Multi-GPU: `accelerate launch -m selfinstruct.cli distill ...` with no code change.
    """
    from .distill.train import distill_path

    run_cfg = _run(_run_config, data) if config is None and data.is_dir() else None
    cfg = _run(_config, config or run_cfg, sets, **{"student.max_steps": max_steps})
    _run(distill_path, data, cfg, out=out)


@app.command("eval")
def eval_cmd(
    heldout: Path | None = typer.Option(
        None, "--heldout", help="Held-out tasks with reference outputs (default: the run's held-out seeds)."
    ),
    run: Path | None = typer.Option(
        None, "--run", help="Run directory: evaluates the base student and every round's adapter."
    ),
    adapter: list[Path] = typer.Option([], "--adapter", help="An adapter folder to evaluate (repeatable)."),
    config: Path | None = ConfigOpt,
    judge: bool = typer.Option(
        True, "--judge/--no-judge", help="Ask the teacher for a position-fair pairwise win rate vs the base model."
    ),
    sets: list[str] = SetOpt,
) -> None:
    """Score the base student and every student of a run on held-out tasks: ROUGE-L to the references,
    each student's difference to the base with its paired-bootstrap 95% CI and win/tie/loss counts;
    the same against the base cut to the student's answer lengths (length control); IFEval-style
    verifiable constraints on the held-out seeds (strict accuracy, CI against the base); and the
    teacher's pairwise judge, counted only where both orders agree (--no-judge skips it).

    Answers come from one vLLM engine (students as LoRA adapters), transformers as the fallback; the
    base's answers are cached by held-out file and model, so a second call does not answer again.
    """
    from .evaluate.command import eval_command

    cfg = _run(_config, config or (_run_config(run) if run else None), sets)
    _run(eval_command, heldout, cfg, run=run, adapters=adapter, judge=judge)


@app.command()
def audit(
    run: Path = typer.Argument(..., help="Run directory, e.g. runs/default."),
    config: Path | None = ConfigOpt,
    sets: list[str] = SetOpt,
) -> None:
    """Self-Instruct's validity audit of a run's accepted tasks: valid instruction, input, output.

    The judge is generate.audit_judge's model, else the config's teacher (by default the run's own
    config); each verdict keeps its reason. Writes RUN/audit/: the shares with 95% intervals, and every verdict.
    """
    from .audit import audit_run

    cfg = _run(_config, config or _run_config(run), sets)
    _run(audit_run, run, cfg)


@app.command()
def review(
    run: Path = typer.Argument(..., help="Run directory, e.g. runs/default."),
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: a free one; the URL is printed)."),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Name saved with each label (default: your user name)."
    ),
    rejected: int = typer.Option(
        10, "--rejected", help="Also show this many rejected tasks per round (a fixed sample)."
    ),
) -> None:
    """Label a run's tasks by hand in a local page (127.0.0.1 only): each accepted task and a sample
    of rejected ones, with its verifier checks, scores and reject reason.

    Keys: **j** or **→** next task, **k** or **←** previous, **n** next task not fully labelled;
    **1 2 3** instruction / input / output valid, **q w e** invalid, **a** all three valid, **x** clear.

    Each label is saved at once into RUN/review/ (the fields of docs/*-hand-labels.jsonl);
    reopening resumes, and two tabs never overwrite each other. `audit` and `report` then show how
    well each reject kind, check and the judge agree with them.
    """
    from .review import serve_review

    _run(serve_review, run, port=port, annotator=annotator or "", rejected=rejected)


def _run_config(run: Path) -> Path | None:
    from .rundir import RunDir

    p = RunDir.reader(run).config_path
    return p if p.exists() else None


@app.command()
def report(run: Path = typer.Argument(..., help="Run directory, e.g. runs/default.")) -> None:
    """Write a self-contained HTML report (and PNG plots) of a run into RUN/report/."""
    from .report import build_report

    path = _run(build_report, run)
    console.print(f"report: {path}", markup=False, highlight=False)


@app.command()
def export(
    run: Path = typer.Argument(..., help="Run directory, e.g. runs/default."),
    format: str = typer.Option("hf", "--format", "-f", help="hf | parquet | alpaca | sharegpt | openai-chat"),
    out: Path | None = typer.Option(None, "--out", help="Output path (default: RUN/export/FORMAT)."),
    push_to_hub: str | None = typer.Option(
        None, "--push-to-hub", help="Push the HF dataset to this repo (needs HF_TOKEN)."
    ),
    partial: bool = typer.Option(
        False, "--partial", help="Export a run that generate is still working on (finished rounds only)."
    ),
) -> None:
    """Export the accepted tasks for the tools people use, provenance columns kept.

    A run that generate is still working on is refused unless --partial.
    """
    from .export import export_run

    path = _run(export_run, run, format, out=out, push_to_hub=push_to_hub, partial=partial)
    console.print(f"exported: {path}", markup=False, highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
