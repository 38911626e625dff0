"""`selfinstruct review` in real headless Chromium (Python playwright driving Debian's chromium), and
labels.py's precision and recall on a hand-made example whose numbers are worked out by hand.

The run is small but real: RunDir writes its manifest and config, Round.commit each round's accepted
and rejected tasks, with verifier checks, scores and one hostile record."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import chdir
from importlib.util import find_spec
from pathlib import Path

import pytest

from selfinstruct.audit import wilson
from selfinstruct.config import Config
from selfinstruct.labels import hand_valid, load_labels, run_signals, signals
from selfinstruct.records import InputError, Instance, Reject, Task
from selfinstruct.review import make_server
from selfinstruct.round_dir import RoundStats
from selfinstruct.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\">"


def _task(text: str, r: int, out: str = "An answer.", checks=None, reject=None) -> Task:
    return Task(
        instruction=text,
        instances=[Instance("", out), Instance("more", "another")],
        round=r,
        teacher="fixture",
        is_classification=False,
        checks=checks or {},
        scores={"nn_sim": 0.41},
        reject=Reject(*reject) if reject else None,
    )


@pytest.fixture
def run(tmp_path) -> Path:
    cfg = Config()
    cfg.run.name = "review"
    with chdir(tmp_path), RunDir(cfg, command="selfinstruct generate (test)") as rd:
        for r in (1, 2):
            accepted = [
                _task(
                    f"Write a short poem about the number {r}{k}.",
                    r,
                    checks={"execution": "passed 3 of 3 tests"} if k == 0 else None,
                )
                for k in range(3)
            ]
            if r == 1:
                accepted.append(_task(XSS, r, out=XSS, checks={"computation": XSS}))
            rejected = [
                _task(f"Sort the list number {r}{k}.", r, reject=("near_duplicate", f"0.9{k}, of=x")) for k in range(3)
            ] + [_task(f"Echo {r}.", r, reject=("echoes_instruction", "output"))]
            rd.round(r).commit(accepted, rejected, [], RoundStats(round=r, accepted=len(accepted)))
        rd.update_manifest(rounds_done=2)
    return tmp_path / "runs" / "review"


@pytest.fixture
def server(run):
    srv = make_server(run, annotator="tester", rejected=2)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/install.sh installs it)")
    if find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def opened(browser, url):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page


def keys(page, *names: str) -> None:
    for k in names:
        page.keyboard.press(k)
    page.wait_for_selector("body[data-pending='0']", timeout=10_000)  # the CSP forbids evaluating JS strings
    assert page.text_content("#status") in ("saved", ""), page.text_content("#status")


def states(page) -> tuple[str, ...]:
    return tuple(page.get_attribute(f"#q-{q}", "data-state") for q in ("instruction", "input", "output"))


def saved(run: Path) -> dict[str, dict]:
    return {r["id"]: r for r in load_labels(RunDir.reader(run).review_labels)}


def test_label_three_tasks_with_keys_and_reload_keeps_them(server, browser, run):
    srv, url = server
    tasks = srv.app.tasks
    assert [t["accepted"] for t in tasks] == [True] * 4 + [False] * 2 + [True] * 3 + [False] * 2
    page = opened(browser, url)
    keys(page, "1", "2", "3", "j", "q", "2", "e", "ArrowRight", "a")
    rows = saved(run)
    assert set(rows) == {t["id"] for t in tasks[:3]}
    want = [(True, True, True), (False, True, False), (True, True, True)]
    for t, w in zip(tasks[:3], want):
        r = rows[t["id"]]
        assert (r["instruction_ok"], r["input_ok"], r["output_ok"]) == w
        assert r["annotator"] == "tester" and r["accepted"] is True and r["instruction"] == t["instruction"]
        assert r["output"] == "An answer." and r["round"] == 1 and r["updated"]

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("body", "data-pos") == "2", "reopens on the task it was on"
    assert states(page) == ("valid", "valid", "valid")
    keys(page, "k")
    assert states(page) == ("invalid", "valid", "invalid")
    keys(page, "k")
    assert states(page) == ("valid", "valid", "valid")
    assert "3 fully labelled" in page.text_content("#pos")


def test_hostile_task_text_is_shown_as_text(server, browser):
    page = opened(browser, f"{server[1]}")
    keys(page, "j", "j", "j")
    assert page.text_content("#q-instruction pre") == XSS and page.text_content("#q-output pre") == XSS
    assert XSS in page.text_content("#checks")
    assert page.get_attribute("body", "data-pwned") is None and "pwned" not in page.title()
    assert page.locator("img").count() == 0 and page.locator("script").count() == 1
    keys(page, "j", "j")  # a rejected one shows its reason
    assert page.text_content("#reason").startswith("rejected: ")


def test_a_stale_second_tab_never_loses_the_first_tabs_labels(server, browser, run):
    srv, url = server
    ids = [t["id"] for t in srv.app.tasks]
    second = opened(browser, url)  # opened before any label exists: everything it knows is stale
    first = opened(browser, url)
    keys(first, "1", "j", "a")  # task 0: instruction valid; task 1: all valid
    keys(second, "e", "j", "j", "q")  # task 0: output invalid; task 2: instruction invalid
    rows = saved(run)
    assert (rows[ids[0]]["instruction_ok"], rows[ids[0]]["input_ok"], rows[ids[0]]["output_ok"]) == (True, None, False)
    assert all(rows[ids[1]][f] is True for f in ("instruction_ok", "input_ok", "output_ok"))
    assert rows[ids[2]]["instruction_ok"] is False and rows[ids[2]]["output_ok"] is None
    keys(second, "k", "k")  # the server's merged record replaced the stale one in the second tab
    assert states(second) == ("valid", "unset", "invalid")
    first.reload()
    first.wait_for_selector("body[data-ready='1']")
    assert states(first) == ("valid", "valid", "valid")
    keys(first, "k")
    assert states(first) == ("valid", "unset", "invalid")


def _request(url: str, body: dict | None = None, **headers: str) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_refuses_foreign_hosts_missing_tokens_and_unknown_fields(server, run):
    srv, url = server
    tid, token = srv.app.tasks[0]["id"], srv.app.token
    assert _request(url + "api/tasks", Host="evil.example:80")[0] == 403
    assert _request(url + "api/label", {"id": tid, "fields": {"output_ok": True}})[0] == 403
    code, err = _request(url + "api/label", {"id": tid, "fields": {"answer_ok": True}}, **{"X-Review-Token": token})
    assert code == 400 and "answer_ok" in err["error"]
    code, row = _request(url + "api/label", {"id": tid, "fields": {"output_ok": False}}, **{"X-Review-Token": token})
    assert code == 200 and row["output_ok"] is False and row["instruction_ok"] is None
    assert srv.server_address[0] == "127.0.0.1"
    found, path = run_signals(run)
    assert path == RunDir.reader(run).review_labels and found[0].name == "reject: any" and found[0].n == 1


@pytest.mark.parametrize(
    "line, why",
    [
        ('{"id": "a", "instruction_ok": "yes"}', "instruction_ok must be true, false or null"),
        ('{"id": "a", "output": ', "not a label record"),
        ('["a"]', "must be a JSON object"),
    ],
)
def test_damaged_labels_file_is_one_line_naming_file_and_line(run, line, why):
    path = RunDir.reader(run).review_labels
    path.parent.mkdir(parents=True)
    path.write_text('{"id": "ok", "instruction_ok": true, "input_ok": null, "output_ok": false}\n' + line + "\n")
    with pytest.raises(InputError, match=f"{re.escape(str(path))}:2: .*{re.escape(why)}"):
        load_labels(path)
    r = subprocess.run(
        [sys.executable, "-m", "selfinstruct.cli", "review", str(run)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "60"},
    )
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and f"{path}:2:" in lines[0] and why in lines[0], r.stderr


def test_hand_label_files_in_docs_load_and_count():
    counts = {}
    for f in sorted((ROOT / "docs").glob("*-hand-labels.jsonl")):
        rows = load_labels(f)
        counts[f.name] = (len(rows), sum(hand_valid(r) is True for r in rows))
    assert counts["default-run-hand-labels.jsonl"] == (60, 17)  # README: 17 of 60 all valid
    assert counts["audit-hand-labels.jsonl"][0] == 30 and counts["teacher-1.5b-hand-labels.jsonl"][0] == 20


def _labelled(tid: str, ins, inp, out) -> dict:
    return {
        "id": tid,
        "instruction": tid,
        "input": "",
        "output": "",
        "instruction_ok": ins,
        "input_ok": inp,
        "output_ok": out,
    }


def test_precision_and_recall_on_a_hand_made_example():
    """t1..t7 are known (t1, t3, t5 valid), t8 is half labelled and counts nowhere but its own question."""

    def T(tid, checks=None, reject=None):
        return Task(instruction=tid, id=tid, checks=checks or {}, reject=Reject(*reject) if reject else None)

    tasks = [
        T("t1", {"execution": "passed 3 of 3 tests"}),
        T("t2", {"execution": "failed 1 of 3 tests"}),
        T("t3", {"computation": "agree: 42"}),
        T("t4", {"execution": "passed 2 of 2 tests"}),
        T("t5", reject=("near_duplicate", "0.95")),
        T("t6", reject=("chatter", "input")),
        T("t7", reject=("echoes_instruction", "output")),
        T("t8", {"execution": "skipped: no code"}),
    ]
    labels = [
        _labelled("t1", True, True, True),
        _labelled("t2", True, True, False),
        _labelled("t3", True, True, True),
        _labelled("t4", False, True, True),
        _labelled("t5", True, True, True),
        _labelled("t6", True, False, True),
        _labelled("t7", True, True, False),
        _labelled("t8", True, None, None),
    ]
    judge = {"t1": True, "t2": True, "t3": False, "t4": False, "t8": True}
    verdicts = [
        {"id": i, "all_valid": v, "instruction_valid": True, "input_valid": True, "output_valid": v}
        for i, v in judge.items()
    ]
    got = {s.name: s for s in signals(labels, tasks, verdicts)}
    # (n, flagged, hits, actual): a reject flags "invalid", a check's pass and the judge's yes say "valid"
    want = {
        "reject: any": (7, 3, 2, 4),
        "reject: near_duplicate": (7, 1, 0, 4),
        "reject: chatter": (7, 1, 1, 4),
        "reject: echoes_instruction": (7, 1, 1, 4),
        "check: execution": (3, 2, 1, 1),
        "check: computation": (1, 1, 1, 1),
        "judge: all valid": (4, 2, 1, 2),
        "judge: output": (4, 2, 1, 3),
        "judge: instruction": (5, 5, 4, 4),
        "judge: input": (4, 4, 4, 4),
    }
    assert {k: (s.n, s.flagged, s.hits, s.actual) for k, s in got.items()} == want
    anyr = got["reject: any"]
    assert (anyr.precision, anyr.recall) == (2 / 3, 0.5) and anyr.note == ""
    assert anyr.to_dict()["precision_ci95"] == [0.2077, 0.9385] == list(wilson(2, 3))
    assert anyr.kappa == 0.16  # po 4/7, pe 24/49: (28 - 24) / (49 - 24)
    ex = got["check: execution"]  # (pass, valid) pairs: (T,T) (F,F) (T,F): po 2/3, pe 4/9 -> kappa 0.4
    assert (ex.precision, ex.recall, ex.kappa) == (0.5, 1.0, 0.4)
    assert got["check: computation"].kappa is None  # one pair: agreement beyond chance is undefined
    assert got["judge: all valid"].kappa == 0.0 and got["judge: output"].recall == pytest.approx(1 / 3)
    only_accepted = signals(labels[:4], tasks, verdicts)
    assert only_accepted[0].flagged == 0 and "no rejected task is labelled" in only_accepted[0].note


def test_audit_table_and_report_section_show_the_signals(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one table row a line
    from selfinstruct.labels import print_signals
    from selfinstruct.report.hand_labels import hand_labels
    from selfinstruct.report.load import load_run
    from selfinstruct.review.server import ReviewApp

    app = ReviewApp(run, "tester", rejected=2)
    rejected = [t for t in app.tasks if not t["accepted"]]
    app.label({"id": app.tasks[0]["id"], "fields": {"instruction_ok": True, "input_ok": True, "output_ok": True}})
    app.label({"id": rejected[0]["id"], "fields": {"output_ok": False}})
    found, path = run_signals(run)
    print_signals(found, path)
    err = capsys.readouterr().err
    assert "reject: any" in err and "1/1 100%" in err and "check: execution" in err
    html = hand_labels(load_run(run), tmp_path)
    assert (
        "2 tasks in review/labels.jsonl" in html
        and f"reject: {rejected[0]['reject_kind']}" in html
        and "tester" in html
    )
