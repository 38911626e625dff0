"""The report of a real small run, rendered in headless Chromium: every section, every image,
no script from the data ever runs, and nothing secret or outside the run is on the page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.records import Instance, Task
from selfinstruct.report import SECTIONS, build_report
from selfinstruct.report.analyze import pca_2d, verb_object
from selfinstruct.report.load import redact, safe_text
from selfinstruct.rundir import RunDir, RunError
from selfinstruct.store import ChunkStore

from runfixture import FAKE_SECRET, URL_PASSWORD, XSS_INSTRUCTION, cached_run

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/install.sh)")
PLOTS = 11  # funnel, nn_sim, lengths, classification, verbs, embedding map, usage, student gain, eval x3
TITLE = "selfinstruct report: fixture"


def chromium(page: Path, tmp: Path, *args: str) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        *args,
        page.resolve().as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def body_attrs(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from conftest import PUBLIC_SEEDS

    run = cached_run(tmp_path_factory.mktemp("r") / "root", PUBLIC_SEEDS)
    return build_report(run)


@needs_chromium
def test_report_renders_every_section_and_image_in_chromium(report, tmp_path):
    dom = chromium(report, tmp_path, "--dump-dom")
    for sid, heading, _ in SECTIONS:
        assert re.search(rf"<section id=\"{sid}\"><h2>{re.escape(heading)}</h2>", dom), sid
    attrs = body_attrs(dom)
    pngs = sorted(p.name for p in report.parent.glob("*.png"))
    assert len(pngs) == PLOTS, pngs
    assert attrs["data-images-total"] == attrs["data-images-loaded"] == str(PLOTS)
    # The full fixture has data for every section: none may fall back to "not available".
    assert "not available" not in dom
    shot = tmp_path / "shot.png"
    chromium(report, tmp_path, f"--screenshot={shot}", "--window-size=1100,1400", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@needs_chromium
@pytest.mark.parametrize("csp", [True, False], ids=["as-built", "csp-stripped"])
def test_hostile_record_shows_as_text_and_runs_nothing(report, tmp_path, csp):
    """With the page's CSP stripped, only escaping stands between the data and the browser."""
    page = report
    if not csp:
        html = report.read_text()
        page = tmp_path / "nocsp.html"
        page.write_text(re.sub(r"<meta http-equiv='Content-Security-Policy'[^>]*>", "", html))
        assert "Content-Security-Policy" not in page.read_text()
    dom = chromium(page, tmp_path, "--dump-dom")
    attrs = body_attrs(dom)
    assert "data-pwned" not in attrs
    assert re.search(r"<title>([^<]*)</title>", dom).group(1) == TITLE
    assert attrs["data-images-total"] == str(PLOTS)  # no <img> smuggled in by the data
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert '&lt;img src=x onerror="document.body.dataset.pwned=1"&gt;' in dom
    assert "&lt;/pre&gt;&lt;b&gt;bold?&lt;/b&gt;" in dom


def test_page_is_self_contained_and_holds_no_secret_or_outside_path(report):
    html = report.read_text()
    root = str(report.parent.parent.parent.parent.resolve())  # tmp root holding seeds.jsonl and runs/
    for bad in (FAKE_SECRET, URL_PASSWORD, root, "/tmp/", XSS_INSTRUCTION):
        assert bad not in html, bad
    assert "[redacted]" in html and "seeds.jsonl" in html  # the seed file by name only
    assert not re.search(r"""(src|href)=['"](?!data:|#)""", html)  # no external asset or link


def test_partial_run_says_not_available(tmp_path):
    run = tmp_path / "half"
    t = Task("Sort these numbers.", [Instance("3 1 2", "1 2 3")], round=1)
    ChunkStore(run / "round-1" / "accepted.jsonl").write_chunk("0", [t.to_dict()])
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    assert "run half: 1 rounds" in res.output and "round in progress" in res.output  # the summary table
    html = (run / "report" / "index.html").read_text()
    for sid in ("usage", "student", "map", "novelty", "rejected", "audit"):
        body = re.search(rf"<section id='{sid}'>(.*?)</section>", html).group(1)
        assert "not available" in body, sid
    assert "Sort these numbers." in html


def test_not_a_run(tmp_path):
    with pytest.raises(RunError, match="no such run directory"):
        build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["report", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "not a run directory" in res.output and "Traceback" not in res.output


def test_a_reader_skips_the_uncommitted_tail_and_changes_nothing(tmp_path):
    path = tmp_path / "round-1" / "accepted.jsonl"
    ChunkStore(path).write_chunk("0", [Task("Name a color.").to_dict(), Task("Name a fruit.").to_dict()])
    with open(path, "a") as f:
        f.write('{"instruction": "Name a tree."}\n{"x": ')  # a chunk being written right now by a running generate
    size = path.stat().st_size
    [rnd] = RunDir.reader(tmp_path).rounds()
    assert [t.instruction for t in rnd.tasks("accepted")] == ["Name a color.", "Name a fruit."]
    assert path.stat().st_size == size


def test_redaction():
    cfg = {
        "teacher": {
            "max_tokens": 256,
            "vllm": {"extra": {"hf_token": "abc"}},
            "openai": {"api_key_env": "OPENAI_API_KEY", "base_urls": ["http://u:p@host:1/v1"]},
        },
        "note": "see sk-abcdefghijklmnop",
        "seeds": "/home/someone/data/seeds.jsonl",
    }
    out = redact(cfg)
    assert out["teacher"]["max_tokens"] == 256
    assert out["teacher"]["vllm"]["extra"]["hf_token"] == "[redacted]"
    assert out["teacher"]["openai"]["api_key_env"] == "[redacted]"
    assert out["teacher"]["openai"]["base_urls"] == ["http://[redacted]@host:1/v1"]
    assert out["note"] == "see [redacted]" and out["seeds"] == "…/seeds.jsonl"
    assert safe_text("out at /r/x/runs/a/round-1/f.jsonl", Path("/r/x/runs/a")) == "out at round-1/f.jsonl"


def test_verb_object_heuristic_and_pca():
    assert verb_object("Write a short story about a dog.") == ("write", "story")
    assert verb_object("Please classify the sentiment of the tweet.") == ("classify", "sentiment")
    assert verb_object("List 5 things.") == ("list", "things")
    assert verb_object("Given a tweet, detect its sentiment.") == ("detect", "sentiment")
    assert verb_object("Given the following list of numbers") == ("given", "list")
    assert verb_object("...") is None and verb_object(", odd start") == ("odd", "start")
    import numpy as np

    x = np.random.default_rng(0).normal(size=(50, 8)) * np.array([10, 3, 1, 1, 1, 1, 1, 1])
    xy = pca_2d(x)
    assert xy.shape == (50, 2) and xy[:, 0].var() > xy[:, 1].var() > x[:, 2].var()
    assert json.dumps(xy.tolist())  # finite numbers


def test_seeds_held_out_for_eval_are_not_counted_in_the_pool(tmp_path):
    from selfinstruct.formats import write_tasks
    from selfinstruct.report.load import load_run

    seeds = [Task(f"Seed task number {i}.", [Instance("", str(i))], id=f"s{i}") for i in range(3)]
    write_tasks(tmp_path / "seeds.jsonl", seeds)
    run = tmp_path / "runs" / "r"
    write_tasks(run / "heldout.jsonl", seeds[:1])
    (run / "config.yaml").write_text(f"seeds: {tmp_path / 'seeds.jsonl'}\n")
    (run / "manifest.json").write_text(json.dumps({"name": "r", "rounds_done": 0}))
    data = load_run(run)
    assert [t.id for t in data.seeds] == ["s1", "s2"] and all(t.round == 0 for t in data.seeds)
    assert data.seeds_note == "seeds.jsonl, 1 held out for eval"
