"""`selfinstruct report RUN`: one self-contained HTML page, its PNGs beside it (RunDir.report_page).

load.py reads the run read-only, analyze.py computes, plots.py draws, sections.py builds each
section and page.py escapes and assembles. The page has no external asset: images are data
URIs and the CSS is inline, so it can be mailed or opened offline.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..rundir import RunDir, print_damaged
from ..store import write_atomic
from . import analyze
from .load import RunData, load_run
from .page import document
from .sections import SECTIONS

__all__ = ["build_report", "SECTIONS"]
console = Console(stderr=True)


def build_report(run: str | Path) -> Path:
    data = load_run(run)
    page = RunDir.reader(data.path).report_page
    out = page.parent
    for old in out.glob("*.png"):
        old.unlink()  # a plot that is no longer drawn must not linger from an earlier report
    t0 = time.time()
    bodies = [(sid, title, fn(data, out)) for sid, title, fn in SECTIONS]
    html = document(
        f"selfinstruct report: {data.name}",
        f"generated {time.strftime('%Y-%m-%d %H:%M:%S')} from run directory '{data.path.name}'",
        bodies,
    )
    write_atomic(page, html)
    summary(data, page, time.time() - t0)
    return page


def summary(data: RunData, page: Path, seconds: float) -> None:
    t = Table(title=f"run {escape(data.name)}: {len(data.rounds)} rounds, {len(data.seeds)} seeds")  # user text
    for col in ("round", "prop", "cand", "acc", "rate", "top reject", "tokens", "tok/task", "teacher s"):
        t.add_column(col, justify="left" if col in ("round", "top reject") else "right", overflow="fold")
    for r in data.rounds:
        f = analyze.funnel(r)
        top = next(iter(f["rejected"].items()), None)
        u = analyze.usage(r).values()
        tokens = sum(s.get("prompt_tokens", 0) + s.get("completion_tokens", 0) for s in u)
        wall = sum(s.get("wall_s", 0) for s in u)
        rate = f["acceptance_rate"]
        t.add_row(
            str(r.n) + ("" if r.done else "…"),
            _n(f["proposed"]),
            _n(f["candidates"]),
            _n(f["accepted"]),
            "–" if rate is None else f"{rate:.0%}",
            f"{top[0]} ({top[1]})" if top else "–",
            _n(tokens) if u else "–",
            _n(tokens / f["accepted"]) if u and f["accepted"] else "–",
            f"{wall:.1f}" if u else "–",
        )
    console.print(t)
    print_damaged(data.damaged)
    if not all(r.done for r in data.rounds):
        console.print("…: round in progress (not committed yet); its counts are what is committed so far")
    pngs = len(list(page.parent.glob("*.png")))
    console.print(f"report: {pngs} plots, {page.stat().st_size / 1e6:.1f} MB page, built in {seconds:.1f} s")


def _n(v) -> str:
    return "–" if v is None else f"{int(v):,}"
