"""Bounded tails replayed on a finished run: what generate.tails would have saved and cost there.

    .venv/bin/python bench/tails.py runs/checked [--quantile 0.95 --margin 1.25 --min-answers 30] [--labels L]

The run must have been made without bounds (generate.tails.quantile: null, or before they existed).
Each round from the second gets the limits generate/tails.py would have set from the rounds before it;
every teacher call of that round is then replayed with its answers cut at the limit:
- decode steps: a call lasts as long as its longest answer, so the sum over calls of the longest answer
  is the round's decode time in steps; seconds are those steps at the decode step time fitted on the
  run's own calls (bench/teacher_roofline.py's fit: wall = a*prompt + b*steps + c);
- tokens: completion tokens no longer generated;
- lost: answers that had ended by themselves but ran past the limit, and of those the ones whose text
  is in an accepted task (and, with --labels, in one a person called valid).
Compared side by side in one run: several quantiles and margins. Reads stores only; starts no teacher.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from teacher_roofline import call_rows, calls, fit

from selfinstruct.config import TailOptions
from selfinstruct.generate.tails import step_limits
from selfinstruct.rundir import RunDir


def kept_texts(run: RunDir, labels: Path | None) -> tuple[set[str], set[str]]:
    """(outputs of accepted tasks, those of them valid by hand), whitespace-normalised."""
    norm = lambda s: " ".join(s.split())  # noqa: E731
    accepted = {norm(i.output) for t in run.accepted_tasks() for i in t.instances}
    valid: set[str] = set()
    if labels:
        rows = [json.loads(line) for line in labels.open() if line.strip()]
        valid = {norm(r["output"]) for r in rows if r["instruction_ok"] and r["input_ok"] and r["output_ok"]}
    return accepted, valid


def replay(run: RunDir, opts: TailOptions, kept: tuple[set[str], set[str]]) -> dict[str, float]:
    out = dict.fromkeys(("steps", "steps_bounded", "tokens", "tokens_saved", "finished", "lost"), 0.0)
    out |= {"lost_accepted": 0.0, "lost_valid": 0.0}
    for rnd in run.rounds()[1:]:
        limits = step_limits(run, rnd.n, opts)
        for step, part, _ in call_rows(rnd.path):
            limit = limits.get(step)
            done = [r.get("completion_tokens") or 0 for r in part]
            out["steps"] += max(done, default=0)
            out["steps_bounded"] += max((min(c, limit or c) for c in done), default=0)
            out["tokens"] += sum(done)
            out["tokens_saved"] += sum(max(c - (limit or c), 0) for c in done)
            for r in part:
                finished = r.get("finish_reason") == "stop"
                out["finished"] += finished
                if finished and limit and (r.get("completion_tokens") or 0) > limit:
                    text = " ".join(r["text"].split())
                    out["lost"] += 1
                    out["lost_accepted"] += text in kept[0]
                    out["lost_valid"] += text in kept[1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--labels", type=Path, help="hand labels of the run's accepted tasks (docs/*-labels-A.jsonl)")
    ap.add_argument("--min-answers", type=int, default=TailOptions().min_answers)
    ap.add_argument(
        "--settings", default="0.95:1.25,0.98:1.25,0.9:1.25,0.95:1.0", help="quantile:margin pairs, the first one named"
    )
    args = ap.parse_args()
    run = RunDir.reader(args.run)
    kept = kept_texts(run, args.labels)
    every = [c for rnd in run.rounds() for c in calls(rnd.path)]
    _, step_s, _ = fit(every)
    print(f"{args.run}: decode step {step_s:.3f} s (fitted on its {len(every)} teacher calls)")
    figures = {}
    for k, setting in enumerate(args.settings.split(",")):
        q, m = (float(x) for x in setting.split(":"))
        r = replay(run, TailOptions(quantile=q, margin=m, min_answers=args.min_answers), kept)
        saved = (r["steps"] - r["steps_bounded"]) * step_s
        print(
            f"quantile {q} x {m}: decode steps {r['steps']:.0f} -> {r['steps_bounded']:.0f} "
            f"({1 - r['steps_bounded'] / max(r['steps'], 1):.0%} fewer, ~{saved:.0f} s), "
            f"tokens saved {r['tokens_saved']:.0f} of {r['tokens']:.0f}, finished answers lost {r['lost']:.0f} "
            f"of {r['finished']:.0f} ({r['lost_accepted']:.0f} of them accepted, {r['lost_valid']:.0f} valid by hand)"
        )
        if k == 0:
            figures = {
                "steps_before": r["steps"],
                "steps_after": r["steps_bounded"],
                "decode_s_saved": round(saved, 1),
                "tokens_saved": r["tokens_saved"],
                "lost_finished": r["lost"],
                "lost_accepted": r["lost_accepted"],
                "lost_valid": r["lost_valid"],
            }
    print(" ".join(f"{k}={v:g}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
