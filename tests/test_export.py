"""Export round trips: what the tools people use load back is exactly what the run accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.export import ExportError, export_run
from selfinstruct.formats import chat_messages
from selfinstruct.records import Task
from selfinstruct.rundir import RunError
from selfinstruct.store import ChunkStore

from runfixture import FAKE_SECRET, URL_PASSWORD, cached_run


@pytest.fixture
def run(tmp_path, public_seeds) -> Path:
    return cached_run(tmp_path / "root", public_seeds)


def expected(run: Path) -> list[dict]:
    """Read straight from the stores, independently of the exporter."""
    out = []
    for d in sorted(run.glob("round-*"), key=lambda p: int(p.name.split("-")[1])):
        for rec in ChunkStore(d / "accepted.jsonl"):
            t = Task.from_dict(rec)
            out += [
                {
                    "id": t.id,
                    "instance": k,
                    "instruction": t.instruction,
                    "input": i.input,
                    "output": i.output,
                    "round": t.round,
                    "parents": t.parents,
                    "scores": t.scores,
                    "teacher": t.teacher,
                    "is_classification": t.is_classification,
                }
                for k, i in enumerate(t.instances)
            ]
    assert len(out) > 40
    return out


def check_flat(loaded, want: list[dict]) -> None:
    got = [dict(r) for r in loaded]
    assert [(r["id"], r["instance"]) for r in got] == [(w["id"], w["instance"]) for w in want]
    for g, w in zip(got, want):
        for k in ("instruction", "input", "output", "round", "parents", "teacher", "is_classification"):
            assert g[k] == w[k], k
        assert json.loads(g["scores"]) == w["scores"]


def test_hf_round_trip(run):
    import datasets

    path = export_run(run, "hf")
    assert path == run / "export" / "hf"
    check_flat(datasets.load_from_disk(str(path))["train"], expected(run))


def test_parquet_round_trip(run, tmp_path):
    import datasets

    path = export_run(run, "parquet", out=tmp_path / "x.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    check_flat(ds, expected(run))


def test_alpaca_round_trip(run, tmp_path):
    import datasets

    path = export_run(run, "alpaca")
    assert isinstance(json.loads(path.read_text()), list)
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    check_flat(ds, expected(run))


def test_sharegpt_round_trip(run, tmp_path):
    import datasets

    path = export_run(run, "sharegpt")
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    want = expected(run)
    assert len(ds) == len(want)
    for g, w in zip(ds, want):
        user, reply = chat_messages(w["instruction"], _inst(w))
        assert g["conversations"] == [
            {"from": "human", "value": user["content"]},
            {"from": "gpt", "value": reply["content"]},
        ]
        assert (g["id"], g["instance"], g["round"], g["parents"]) == (w["id"], w["instance"], w["round"], w["parents"])


def _inst(w):
    from selfinstruct.records import Instance

    return Instance(w["input"], w["output"])


def test_openai_chat_round_trip(run, tmp_path):
    import datasets

    path = export_run(run, "openai-chat")
    lines = path.read_text().splitlines()
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    want = expected(run)
    assert len(lines) == len(ds) == len(want)
    for g, w in zip(ds, want):
        assert g["messages"] == chat_messages(w["instruction"], _inst(w))
        meta = g["metadata"]
        assert (meta["id"], meta["instance"], meta["round"]) == (w["id"], w["instance"], w["round"])
        assert json.loads(meta["scores"]) == w["scores"]


def test_exports_hold_no_secret_or_outside_path(run):
    root = str(run.parent.parent.resolve())
    for fmt in ("hf", "parquet", "alpaca", "sharegpt", "openai-chat"):
        path = export_run(run, fmt)
        files = list(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file():
                blob = f.read_bytes()
                # The hf card shows the run's config as the report does: the seed file by its name only.
                for bad in (FAKE_SECRET, URL_PASSWORD, root) + (() if f.name == "README.md" else ("seeds.jsonl",)):
                    assert bad.encode() not in blob, (fmt, f.name, bad)


def test_push_to_hub_without_token_is_a_clear_error_and_writes_nothing(run, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(ExportError, match="set HF_TOKEN"):
        export_run(run, "hf", push_to_hub="someone/data")
    assert not (run / "export").exists()


def test_bad_format_and_not_a_run(run, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'csv'"):
        export_run(run, "csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not a run directory"):
        export_run(tmp_path / "empty", "alpaca")


def test_hf_refuses_to_overwrite_a_folder_that_is_not_a_dataset(run, tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    with pytest.raises(ExportError, match="not a saved dataset"):
        export_run(run, "hf", out=keep)
    assert (keep / "notes.txt").read_text() == "precious"


def test_cli_export_prints_summary_and_one_line_errors(run):
    res = CliRunner().invoke(app, ["export", str(run), "--format", "alpaca"])
    assert res.exit_code == 0, res.output
    assert "export fixture -> alpaca" in res.output and "rows" in res.output
    res = CliRunner().invoke(app, ["export", str(run), "--format", "csv"])
    assert res.exit_code == 2
    assert "unknown export format" in res.output and "Traceback" not in res.output
