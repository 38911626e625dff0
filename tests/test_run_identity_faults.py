"""What a run is, and who may write into it (issue #27): the seed file's content is part of the run's
identity, its held-out file never changes, two audits never work on one run at once, a read-only
run is one line, and a student is only evaluated (and distilled) on the base it belongs to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.report import build_report
from selfinstruct.store import ChunkStore

from runfixture import cached_run
from test_option_faults import SEEDS, instant, one_error

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def instant_run(tmp_path: Path, *more: str, name: str = "r") -> Path:
    seeds = tmp_path / "seeds.jsonl"
    if not seeds.exists():
        seeds.write_text("".join(SEEDS.read_text().splitlines(keepends=True)[:40]))
    res = cli(
        *instant(
            tmp_path / "runs", "--seeds", str(seeds), "--name", name, "--set", "generate.heldout_share=0.35", *more
        )
    )
    assert res.exit_code == 0, res.output
    return tmp_path / "runs" / name


def holding(code: str) -> subprocess.Popen:
    """A child that takes a lock with `code`, says so, and keeps it until killed."""
    code += "\nprint('locked', flush=True)\nimport time; time.sleep(120)"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    assert child.stdout.readline().strip() == "locked", child.stderr.read()
    return child


def stop(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()


# 7. The seeds are part of the run's identity; its held-out file never changes ---------------------


def test_a_relaunch_with_other_seeds_under_the_same_path_is_refused_as_drift(tmp_path, monkeypatch):
    """The same relative --seeds from another folder: round 2 once took most of its seed parents from
    the other file, and heldout.jsonl was rewritten from it."""
    first, other = tmp_path / "a", tmp_path / "b"
    for folder, rows in ((first, slice(0, 40)), (other, slice(40, 80))):
        folder.mkdir()
        (folder / "seeds.jsonl").write_text("".join(SEEDS.read_text().splitlines(keepends=True)[rows]))
    args = instant(tmp_path / "runs", "--seeds", "seeds.jsonl", "--set", "generate.heldout_share=0.35")
    monkeypatch.chdir(first)
    assert (res := cli(*args)).exit_code == 0, res.output
    run = tmp_path / "runs" / "default"
    held = (run / "heldout.jsonl").read_bytes()
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(manifest["seeds_sha256"]) == 64 and len(manifest["heldout_sha256"]) == 64

    monkeypatch.chdir(other)
    line = one_error(cli(*args, "--rounds", "2"))
    assert "seeds.jsonl: the seed file is not the one this run was started with" in line and "--force-new" in line
    assert (run / "heldout.jsonl").read_bytes() == held and not (run / "round-2").exists()

    assert (res := cli(*args, "--force-new")).exit_code == 0, res.output  # the explicit way: a new run
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.name.startswith("default.old-")]


def test_a_changed_heldout_file_is_refused_by_generate_and_eval(tmp_path):
    run = instant_run(tmp_path)
    held = run / "heldout.jsonl"
    assert (
        res := cli(
            *instant(
                tmp_path / "runs",
                "--seeds",
                str(tmp_path / "seeds.jsonl"),
                "--name",
                "r",
                "--set",
                "generate.heldout_share=0.35",
            )
        )
    ).exit_code == 0, res.output
    first = held.read_bytes()
    held.write_bytes(first + first.splitlines(keepends=True)[0].replace(b'"id": "', b'"id": "x'))
    line = one_error(
        cli(
            *instant(
                tmp_path / "runs",
                "--seeds",
                str(tmp_path / "seeds.jsonl"),
                "--name",
                "r",
                "--set",
                "generate.heldout_share=0.35",
            )
        )
    )
    assert f"{held}: changed since the run wrote it" in line, line
    line = one_error(cli("eval", "--run", str(run)))
    assert f"{held}: changed since the run wrote it" in line, line


# 6. One audit at a time; the report checks the audit and eval stores -------------------------------


def test_a_second_audit_is_refused_by_the_runs_lock(tmp_path):
    run = instant_run(tmp_path)
    first = holding(
        "from selfinstruct.rundir import RunDir\n"  # as audit takes it, held while it works
        f"audit = RunDir.reader({str(run)!r}).exclusive('audit')\naudit.__enter__()"
    )
    try:
        line = one_error(cli("audit", str(run), "--set", "teacher.backend=instant"))
        assert f"another process (pid {first.pid}) is working on this run" in line and "then audit it" in line
        assert not (run / "audit").exists(), "the refused audit asked nothing"
    finally:
        stop(first)
    res = cli("audit", str(run), "--set", "teacher.backend=instant")
    assert res.exit_code == 0, res.output
    assert (run / "audit" / "audit.json").exists()


def test_audit_while_generate_works_is_refused_naming_audit(tmp_path):
    run = instant_run(tmp_path)
    gen = holding(
        "from selfinstruct.config import load_config\nfrom selfinstruct.rundir import RunDir\n"
        f"gen = RunDir(load_config({str(run / 'config.yaml')!r}))\ngen.open()"
    )
    try:
        line = one_error(cli("audit", str(run), "--set", "teacher.backend=instant"))
        assert f"pid {gen.pid}" in line and "then audit it" in line and "distill" not in line, line
    finally:
        stop(gen)


def _damaged_store(path: Path) -> None:
    store = ChunkStore(path)
    for c in range(2):
        store.write_chunk(str(c), [{"request_id": f"{c}-{i}", "text": "Yes.", "meta": {}} for i in range(3)])
    os.truncate(path, path.stat().st_size - 10)


def test_the_report_lists_damaged_audit_and_eval_stores(tmp_path, public_seeds, capsys):
    run = cached_run(tmp_path / "root", public_seeds)
    _damaged_store(run / "audit" / "requests.jsonl")
    _damaged_store(run / "eval" / "judge-round-1.jsonl")
    page = build_report(run).read_text()
    assert "damaged stores" in page and "audit/requests.jsonl" in page and "eval/judge-round-1.jsonl" in page
    err = " ".join(capsys.readouterr().err.split())
    assert "damaged store: " in err and "audit/requests.jsonl: data file is shorter" in err


# 9. A read-only run ---------------------------------------------------------------------------------


def _read_only(run: Path, cmd: list[str]) -> list[str]:
    """`cmd` with `run` read-only. As root (who writes through any mode bits), a read-only bind mount of
    the run in the child's own mount namespace: the file system refuses every write (EROFS)."""
    cli_cmd = [sys.executable, "-m", "selfinstruct.cli", *cmd]
    if os.geteuid() != 0:
        for p in [run, *run.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return cli_cmd
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("root without unshare -m: no way to make a folder read-only for this process")
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(run), *cli_cmd]


def test_a_read_only_run_is_one_line_for_audit_and_a_relaunch(tmp_path):
    run = instant_run(tmp_path)
    relaunch = instant(
        tmp_path / "runs",
        "--seeds",
        str(tmp_path / "seeds.jsonl"),
        "--name",
        "r",
        "--set",
        "generate.heldout_share=0.35",
    )
    try:
        for cmd in (["audit", str(run), "--set", "teacher.backend=instant"], relaunch):
            r = subprocess.run(_read_only(run, cmd), capture_output=True, text=True, env=ENV, timeout=300)
            assert r.returncode == 2 and "Traceback" not in r.stderr, (cmd[0], r.stderr[-3000:])
            lines = [line for line in r.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and "cannot take the run's lock" in lines[0] and "read-only" in lines[0], r.stderr
    finally:
        for p in [run, *run.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


# 8. A student belongs to its base ----------------------------------------------------------------


def test_distill_of_a_run_trains_the_runs_own_student_model(tmp_path):
    """The run's config names a student model that does not exist: distill must try that one (and
    say so in one line), not default.yaml's."""
    run = instant_run(tmp_path, "--set", "student.model=embedded:no-such-student")
    line = one_error(cli("distill", "--data", str(run), "--max-steps", "1"))
    assert "unknown embedded model 'no-such-student'" in line, line


def test_eval_refuses_a_student_trained_on_another_base(tmp_path):
    run = instant_run(tmp_path, "--set", "student.model=embedded:smollm2-135m")
    student = run / "round-1" / "student"
    student.mkdir()
    (student / "config.yaml").write_text(yaml.safe_dump({"student": {"model": "embedded:gemma3-270m"}}))
    (student / ".done").write_text("")
    line = one_error(cli("eval", "--run", str(run)))
    assert (
        f"{student}: this student was trained on embedded:gemma3-270m, not on eval's base embedded:smollm2-135m" in line
    ), line
    assert not (run / "eval").exists()
