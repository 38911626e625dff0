"""One function per report section: (run data, report folder) -> body HTML.

A section whose data is missing says "not available" and why; it never fails the report.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

from ..rundir import RunDir
from . import analyze as A
from . import plots
from .eval_section import evaluation
from .hand_labels import hand_labels
from .load import RunData, safe_text
from .page import card, esc, img, na, para, table
from .verification import verification


def _cfg(run: RunData, *keys: str) -> Any:
    d: Any = run.config
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def run_info(run: RunData, out: Path) -> str:
    m = run.manifest
    rows = [
        ["run", run.name],
        ["created", m.get("created", "–")],
        ["rounds done", m.get("rounds_done", "–")],
        ["config fingerprint", m.get("fingerprint", "–")],
        ["teacher", f"{_cfg(run, 'teacher', 'backend') or '?'} {_cfg(run, 'teacher', 'model') or '?'}"],
        ["seeds", f"{len(run.seeds)} tasks ({run.seeds_note})"],
        ["accepted (all rounds)", len(run.accepted)],
        ["rejected (all rounds)", sum(len(r.rejected) for r in run.rounds)],
    ]
    parts = [table(None, [[k, str(v)] for k, v in rows], left=2)]
    if run.damaged:  # before anything else on the page: numbers below may come from these stores
        parts.append(
            "<p><b>damaged stores</b> (their data does not match their commit logs)</p><pre>"
            + esc("\n".join(safe_text(line, run.path) for line in run.damaged))
            + "</pre>"
        )
    cmds = [safe_text(str(c), run.path) for c in m.get("commands") or []]
    if cmds:
        parts.append("<p><b>commands</b></p><pre>" + esc("\n".join(cmds[-10:])) + "</pre>")
    if run.config:
        text = yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True)
        parts.append(
            "<details><summary>resolved config (secret-looking keys redacted, outside paths "
            f"shortened)</summary><pre>{esc(text)}</pre></details>"
        )
    return "".join(parts)


def funnel(run: RunData, out: Path) -> str:
    if not run.rounds:
        return na("no rounds yet")
    rows = [A.funnel(r) for r in run.rounds]
    kinds = sorted({k for r in rows for k in r["rejected"]})
    trows = [
        [
            r["label"],
            r["prompts"],
            r["proposed"],
            r["candidates"],
            *[r["rejected"].get(k, 0) for k in kinds],
            r["accepted"],
            r["acceptance_rate"],
        ]
        for r in rows
    ]
    head = ["round", "prompts", "proposed", "candidates", *[f"rejected: {k}" for k in kinds], "accepted", "acceptance"]
    note = para(
        "generated = instructions parsed from the teacher's answers; candidates = those that reached "
        "the filters; each candidate is accepted or rejected with one reason."
    )
    return note + img(plots.funnel(rows, out / "funnel.png"), "funnel per round", "funnel.png") + table(head, trows)


def novelty(run: RunData, out: Path) -> str:
    per = {r.n: A.nn_sims(r) for r in run.rounds}
    per = {n: s for n, s in per.items() if s["accepted"] or s["rejected"]}
    if not per:
        return na("no task carries an nn_sim score")
    method = _cfg(run, "filter", "novelty", "method")
    thr = _cfg(run, "filter", "novelty", "threshold") if method in (None, "embedding") else None
    rows = []
    for n, s in per.items():
        a = s["accepted"]
        rows.append([f"round {n}", len(a), sum(a) / len(a) if a else None, max(a) if a else None, len(s["rejected"])])
    return (
        para(
            "nn_sim: the highest cosine similarity of a candidate to the pool (seeds + accepted so far) "
            "when it was filtered; at or above the threshold it is a near duplicate."
        )
        + img(
            plots.nn_sim(per, thr if isinstance(thr, (int, float)) else None, out / "nn_sim.png"),
            "nearest-neighbour similarity per round",
            "nn_sim.png",
        )
        + table(["round", "accepted", "mean nn_sim", "max nn_sim", "rejected with nn_sim"], rows)
    )


def _by_round(run: RunData) -> dict[int, list]:
    d = {0: run.seeds} if run.seeds else {}
    d.update({r.n: r.accepted for r in run.rounds if r.accepted})
    return d


def lengths(run: RunData, out: Path) -> str:
    per = {n: A.lengths(ts) for n, ts in _by_round(run).items()}
    if not per:
        return na("no seeds or accepted tasks")
    rows = []
    for n, v in per.items():
        rows.append(
            [
                "seeds" if n == 0 else f"round {n}",
                *[sum(v[f]) / len(v[f]) if v[f] else None for f in ("instruction", "input", "output")],
                sum(1 for x in v["input"] if x == 0),
            ]
        )
    return img(plots.lengths(per, out / "lengths.png"), "length histograms", "lengths.png") + table(
        ["", "mean instruction words", "mean input words", "mean output words", "empty inputs"], rows
    )


def classification(run: RunData, out: Path) -> str:
    shares = {}
    rows = []
    for n, ts in _by_round(run).items():
        share, known = A.classification_share(ts)
        rows.append(["seeds" if n == 0 else f"round {n}", len(ts), known, share])
        if share is not None:
            shares[n] = share
    if not shares:
        return na("no task has is_classification set")
    return img(
        plots.classification(shares, out / "classification.png"), "classification share", "classification.png"
    ) + table(["", "tasks", "labelled", "classification share"], rows)


def verbs(run: RunData, out: Path) -> str:
    rows = A.verbs(run.accepted)
    if not rows:
        return na("no accepted tasks")
    note = para(
        "Heuristic, no parser: the verb is the instruction's first word, the object the first later word "
        "that is not a function word; a sentence that does not start with its verb lands under its first word."
    )
    trows = [[v, ", ".join(f"{o} ({c})" for o, c in objs), n] for v, n, objs in rows]
    return (
        note
        + img(plots.verbs(rows, out / "verbs.png"), "leading verbs", "verbs.png")
        + table(["verb", "most common objects", "tasks"], trows, left=2)
    )


def embedding_map(run: RunData, out: Path) -> str:
    from ..models import ModelError

    name = _cfg(run, "filter", "novelty", "embedder")
    name = name if isinstance(name, str) and name.startswith("embedded:") else "embedded:all-minilm-l6-v2"
    try:
        res = A.embed_map(run, name)
    except (ModelError, OSError, ImportError) as e:
        return na(f"could not load the embedder {name}: {e}")
    if res is None:
        return na("fewer than 3 instructions to map")
    xy, rounds = res
    return para(
        f"Instructions (seeds and accepted) embedded with {name}, projected on their two principal axes."
    ) + img(plots.embedding_map(xy, rounds, out / "embedding_map.png"), "embedding map", "embedding_map.png")


def accepted_sample(run: RunData, out: Path, per_round: int = 4) -> str:
    rng = random.Random(0)
    cards = [card(t) for r in run.rounds for t in rng.sample(r.accepted, min(per_round, len(r.accepted)))]
    if not cards:
        return na("no accepted tasks")
    return para(f"Up to {per_round} random accepted tasks per round.") + "".join(cards)


def rejected_sample(run: RunData, out: Path, limit: int = 12) -> str:
    """One of each reject reason first (so every reason is seen), then random others."""
    rejected = [t for r in run.rounds for t in r.rejected]
    if not rejected:
        return na("no rejected tasks")
    rng = random.Random(0)
    rng.shuffle(rejected)
    seen: set[str] = set()
    first: list[Any] = []
    rest: list[Any] = []
    for t in rejected:
        kind = A.reject_kind(t)
        (rest if kind in seen else first).append(t)
        seen.add(kind)
    pick = (first + rest)[:limit]
    return para(f"{len(pick)} of {len(rejected)} rejected tasks, every reason represented.") + "".join(
        card(t, t.reject_reason or "unknown") for t in pick
    )


def usage(run: RunData, out: Path) -> str:
    per = {r.n: A.usage(r) for r in run.rounds}
    per = {n: u for n, u in per.items() if u}
    if not per:
        return na("no teacher usage rows and no teacher totals in the round stats")
    rows = [
        [f"round {n}", step, *[u.get(k) for k in A.USAGE_KEYS]] for n, steps in per.items() for step, u in steps.items()
    ]
    accepted = {r.n: A.funnel(r)["accepted"] for r in run.rounds}
    cost = []
    for n, steps in per.items():
        tokens = sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in steps.values())
        cost.append([f"round {n}", tokens, accepted.get(n), round(tokens / accepted[n]) if accepted.get(n) else None])
    return (
        img(plots.usage(per, out / "usage.png"), "teacher usage", "usage.png")
        + para("Teacher tokens (prompt + completion, every step) per accepted task: what the data cost.")
        + table(["round", "teacher tokens", "accepted", "tokens per accepted task"], cost, left=1)
        + table(["round", "step", *A.USAGE_KEYS], rows, left=2)
    )


def student(run: RunData, out: Path) -> str:
    parts = []
    metrics = {r.n: r.student for r in run.rounds if isinstance(r.student, dict)}
    if metrics:
        keys = sorted({k for m in metrics.values() for k, v in m.items() if isinstance(v, (int, float, str))})
        parts.append(
            "<p><b>training, per round</b></p>"
            + table(["round", *keys], [[f"round {n}", *[_scalar(m.get(k)) for k in keys]] for n, m in metrics.items()])
        )
    gains = [r for r in run.eval_rows or [] if isinstance(r, dict) and "ci_low" in r]
    if gains:
        lines = [
            f"{r['model']}: ROUGE-L {r['diff']:+.3f}, 95% CI [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
            f"{r['wins']}/{r['ties']}/{r['losses']} win/tie/loss over {r['n']} held-out items"
            for r in gains
        ]
        parts.append(
            "<p><b>gain per student over its base</b></p>"
            + para("; ".join(lines) + ".")
            + img(plots.gain(gains, out / "gain.png"), "student gain with 95% CI", "gain.png")
        )
    return "".join(parts) or na("no student metrics and no eval results yet")  # the eval table: eval_section.py


def audit(run: RunData, out: Path) -> str:
    a = run.audit
    if not a:
        return na(f"no {RunDir.reader(run.path).audit.summary.relative_to(run.path)}: run `selfinstruct audit RUN`")
    keys = [f"{q}_valid" for q in ("instruction", "input", "output", "all")]
    rows = [
        [
            k.replace("_", " "),
            a[k]["valid"],
            a["tasks"],
            f"{a[k]['share']:.0%}",
            f"{a[k]['ci95'][0]:.0%} to {a[k]['ci95'][1]:.0%}",
        ]
        for k in keys
        if k in a
    ]
    parts = [
        para(
            f"Self-Instruct's validity audit of the accepted tasks, judged by {a['judge']}, one question "
            "each (valid instruction, appropriate input, correct output), with Wilson 95% intervals. "
            f"The paper's human audit of GPT-3's data: 92% / 79% / 58%, all valid 54%. "
            f"Unparsable verdicts: {a.get('unparsed', 0)}."
        ),
        table(["", "valid", "tasks", "share", "95% CI"], rows),
    ]
    bad = [r for r in run.audit_rows if not r.get("all_valid")][:8]
    if bad:
        why = [
            [
                r["task"],
                *[
                    {True: "yes", False: "NO"}.get(r[f"{q}_valid"], "?") + ": " + str(r[f"{q}_why"])
                    for q in ("instruction", "input", "output")
                ],
            ]
            for r in bad
        ]
        parts.append(
            "<p><b>tasks judged not all valid, with the judge's reasons</b></p>"
            + table(["instruction", "instruction valid", "input valid", "output valid"], why)
        )
    return "".join(parts)


def strategies(run: RunData, out: Path) -> str:
    """The funnel, lengths, novelty and validity of each strategy's tasks, side by side."""
    rows = A.by_strategy(run)
    if not rows:
        return na("no tasks yet")
    kinds = sorted({k for r in rows.values() for k in r["rejected"]})
    head = [
        "strategy",
        "considered",
        *[f"rejected: {k}" for k in kinds],
        "accepted",
        "acceptance",
        "mean instruction words",
        "mean output words",
        "mean nn_sim",
        "audit: all valid",
    ]
    body = [
        [
            name,
            r["considered"],
            *[r["rejected"].get(k, 0) for k in kinds],
            r["accepted"],
            r["acceptance"],
            r["instruction_words"],
            r["output_words"],
            r["nn_sim"],
            "–" if r["audited"] == 0 else f"{r['all_valid']:.0%} of {r['audited']}",
        ]
        for name, r in rows.items()
    ]
    return para(
        "Every record names the strategy that made it (generate.strategy): Self-Instruct's task lists, "
        "evol's rewrites of accepted tasks, Magpie's queries from the bare user-turn prefix."
    ) + table(head, body)


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (int, float, str)) or v is None else json.dumps(v)


SECTIONS = [
    ("run", "Run", run_info),
    ("funnel", "Funnel per round", funnel),
    ("novelty", "Similarity to the pool", novelty),
    ("strategies", "By strategy", strategies),
    ("lengths", "Lengths", lengths),
    ("classification", "Classification share", classification),
    ("verbs", "Leading verbs and objects", verbs),
    ("map", "Embedding map", embedding_map),
    ("accepted", "Sample of accepted tasks", accepted_sample),
    ("rejected", "Sample of rejected tasks", rejected_sample),
    ("usage", "Teacher usage and time", usage),
    ("verification", "Verification", verification),
    ("audit", "Validity audit", audit),
    ("labels", "Hand labels against the signals", hand_labels),
    ("student", "Student", student),
    ("eval", "Eval: following, not stopping", evaluation),
]
