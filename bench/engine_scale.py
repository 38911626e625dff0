"""The engine at Self-Instruct scale: `generate` to 52,000 accepted tasks against the instant teacher
(teacher.backend=instant: answers at once, see selfinstruct/teachers/instant.py), so what is timed
is the engine itself: parsing, filters, stores, stats and resume.

    .venv/bin/python bench/engine_scale.py                      # 4 rounds of 13,000 (~10 min here)
    .venv/bin/python bench/engine_scale.py --per-round 500 --rounds 3    # a quick look
    .venv/bin/python bench/engine_scale.py --kill               # then SIGKILL past 30,000 and relaunch

Each round runs as its own `generate` call with one more round (a relaunch that resumes the finished
ones), so the peak RSS so far can be printed per round. The defaults are configs/default.yaml with the
instant teacher and no student. tasks_per_s is accepted tasks per second of round wall time minus the
teacher's own time; last_vs_first is the last round's time per task over the first's (growth with
the pool shows there). --kill starts the same run as a CLI process, kills it at a random point once
more than --kill-after tasks are committed, relaunches it and checks that the pool holds each task once.
The last line holds the figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from selfinstruct.config import DEFAULT_CONFIG
from selfinstruct.testing import accepted_ids  # noqa: E402
from selfinstruct.testing import instant_overrides as overrides  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("propose", "filter", "classify", "instances", "commit")


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest embedding worker
    return (own + kids) / 1024


def run_rounds(root: Path, per_round: int, rounds: int, chunk: int) -> list[dict]:
    from selfinstruct.config import load_config
    from selfinstruct.generate.loop import run_generate

    rows = []
    for r in range(1, rounds + 1):
        cfg = load_config(DEFAULT_CONFIG, overrides(root, per_round, r, chunk))
        t0 = time.perf_counter()
        out = run_generate(cfg)
        call = time.perf_counter() - t0
        s = out["rounds"][-1]
        teacher = s["teacher"].get("wall_s", 0.0)
        engine = s["wall_s"] - teacher
        row = {
            "round": r,
            "accepted": s["accepted"],
            "pool": out["accepted"],
            "wall_s": s["wall_s"],
            "teacher_s": round(teacher, 2),
            "call_s": round(call, 1),
            "engine_s": round(engine, 2),
            "tasks_per_s": round(s["accepted"] / max(engine, 1e-9), 1),
            "peak_rss_mb": round(peak_rss_mb()),
            "tokens_per_accepted": s.get("tokens_per_accepted"),
            "steps": s.get("step_s", {}),
            "carried": s.get("carried", 0),
        }
        rows.append(row)
        steps = " ".join(f"{k} {row['steps'].get(k, 0):.1f}s" for k in STEPS)
        print(
            f"round {r}: {row['accepted']:,} accepted (pool {row['pool']:,}) in {row['wall_s']:.1f} s "
            f"(teacher {teacher:.1f} s, relaunch + round {call:.1f} s): {row['tasks_per_s']:.0f} tasks/s, "
            f"peak RSS {row['peak_rss_mb']:,} MB | {steps} | carried {row['carried']:,}",
            flush=True,
        )
    return rows


def kill_and_resume(root: Path, per_round: int, rounds: int, chunk: int, after: int) -> dict:
    """The run as a CLI process, SIGKILLed at a random point once `after` tasks are committed."""
    cmd = [sys.executable, "-m", "selfinstruct.cli", "generate"]
    for o in overrides(root, per_round, rounds, chunk):
        cmd += ["--set", o]
    log = open(root / "kill.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    while len(accepted_ids(root / "scale")) <= after and proc.poll() is None:
        time.sleep(0.5)
    time.sleep(random.Random().uniform(0, 20))  # somewhere in the next round's steps
    killed_at = len(accepted_ids(root / "scale"))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    ids = accepted_ids(root / "scale")
    return {
        "killed_at": killed_at,
        "relaunch_rc": done.returncode,
        "relaunch_s": round(time.perf_counter() - t0),
        "final": len(ids),
        "distinct": len(set(ids)),
        "want": per_round * rounds,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-round", type=int, default=13_000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=512, help="teacher.chunk_size: requests per durable chunk")
    ap.add_argument("--kill", action="store_true")
    ap.add_argument("--kill-after", type=int, default=30_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="engine_scale-"))
    try:
        if args.kill:
            k = kill_and_resume(root, args.per_round, args.rounds, args.chunk, args.kill_after)
            print(
                f"killed with {k['killed_at']:,} committed; relaunch rc {k['relaunch_rc']} in {k['relaunch_s']} s; "
                f"final pool {k['final']:,} tasks, {k['distinct']:,} distinct (want {k['want']:,})"
            )
            print(" ".join(f"{key}={v}" for key, v in k.items()))
            return
        rows = run_rounds(root, args.per_round, args.rounds, args.chunk)
        engine = sum(r["engine_s"] for r in rows)
        first, last = rows[0], rows[-1]
        figures = {
            "accepted": sum(r["accepted"] for r in rows),
            "tasks_per_s": round(sum(r["accepted"] for r in rows) / engine, 1),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
            "last_vs_first": round((last["engine_s"] / last["accepted"]) / (first["engine_s"] / first["accepted"]), 2),
            "engine_s": round(engine),
            "teacher_s": round(sum(r["teacher_s"] for r in rows), 1),
            "tokens_per_accepted": round(
                sum((r["tokens_per_accepted"] or 0) * r["accepted"] for r in rows)
                / max(sum(r["accepted"] for r in rows), 1)
            ),
        }
        print(" ".join(f"{k}={v}" for k, v in figures.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
