"""The numbers behind each report section, computed from a loaded run (see load.py)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from ..records import Task
from .load import RoundData, RunData

USAGE_KEYS = ("requests", "prompt_tokens", "completion_tokens", "wall_s", "errors", "truncated")

# Leading-verb heuristic (no parser offline): the verb is the first word, the object the first
# later word that is not a function word or a vague modifier. Honest enough for a histogram.
# One common shape is handled: "Given a sentence, detect ..." -> the clause after the comma.
SKIP_FIRST = {"please", "now", "then", "so", "also"}
LEAD_IN = {"given", "in", "for", "using", "based", "with", "from", "after", "if"}
NOT_OBJECT = set(
    """a an the this that these those some any each every all both either my your our his her its
their me us you him them it i we they of to for in on at by with from into about as and or but is are be was
were been following given below above same other another such more most few several many much one two three
four five six seven eight nine ten first second short brief simple new good different possible best whole
if whether what which who whom how why when where there here not no do does can could should would""".split()
)
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def reject_kind(task: Task) -> str:
    return task.reject.kind if task.reject else "unknown"


def funnel(r: RoundData) -> dict[str, Any]:
    """proposed -> candidates -> rejected by reason + accepted; the round's stats win where they exist
    (a round in progress has none yet: its committed records are counted)."""
    s = r.stats
    rejected = Counter(s.rejected if s and s.rejected else Counter(reject_kind(t) for t in r.rejected))
    accepted = s.accepted if s else len(r.accepted)
    candidates = s.candidates if s else accepted + sum(rejected.values())
    rate = s.acceptance_rate if s else (accepted / candidates if candidates else None)
    return {
        "round": r.n,
        "label": r.label,
        "prompts": s.prompts if s else None,
        "proposed": s.proposed if s else None,
        "candidates": candidates,
        "rejected": dict(rejected.most_common()),
        "accepted": accepted,
        "acceptance_rate": rate,
    }


def by_strategy(run: RunData) -> dict[str, dict[str, Any]]:
    """strategy -> its funnel (considered, rejected by kind, accepted), mean lengths, mean nn_sim of
    the accepted, and its audit share, from the records (each names its strategy)."""
    verdicts = {r.get("id"): r for r in run.audit_rows}
    out: dict[str, dict[str, Any]] = {}
    for r in run.rounds:
        for t, kept in [(t, True) for t in r.accepted] + [(t, False) for t in r.rejected]:
            row = out.setdefault(t.strategy, {"accepted": [], "rejected": Counter()})
            if kept:
                row["accepted"].append(t)
            else:
                row["rejected"][reject_kind(t)] += 1
    for row in out.values():
        acc = row.pop("accepted")
        considered = len(acc) + sum(row["rejected"].values())
        size = lengths(acc)
        sims = [float(t.scores["nn_sim"]) for t in acc if isinstance(t.scores.get("nn_sim"), (int, float))]
        audited = [verdicts[t.id] for t in acc if t.id in verdicts]
        row.update(
            considered=considered,
            accepted=len(acc),
            acceptance=len(acc) / considered if considered else None,
            rejected=dict(row["rejected"].most_common()),
            nn_sim=_mean(sims),
            audited=len(audited),
            all_valid=_mean([bool(v.get("all_valid")) for v in audited]),
            instruction_words=_mean(size["instruction"]),
            output_words=_mean(size["output"]),
        )
    return out


def _mean(xs: list) -> float | None:
    return sum(xs) / len(xs) if xs else None


def nn_sims(r: RoundData) -> dict[str, list[float]]:
    """Similarity to the pool at filter time, for accepted and for novelty-rejected tasks."""

    def sims(tasks: list[Task]) -> list[float]:
        return [float(t.scores["nn_sim"]) for t in tasks if isinstance(t.scores.get("nn_sim"), (int, float))]

    return {"accepted": sims(r.accepted), "rejected": sims(r.rejected)}


def words(text: str) -> int:
    return len(text.split())


def lengths(tasks: list[Task]) -> dict[str, list[int]]:
    inst = [i for t in tasks for i in t.instances]
    return {
        "instruction": [words(t.instruction) for t in tasks],
        "input": [words(i.input) for i in inst],
        "output": [words(i.output) for i in inst],
    }


def classification_share(tasks: list[Task]) -> tuple[float | None, int]:
    known = [t.is_classification for t in tasks if t.is_classification is not None]
    return (sum(known) / len(known) if known else None), len(known)


def verb_object(instruction: str) -> tuple[str, str | None] | None:
    head, comma, tail = instruction.partition(",")
    lead = head.split()
    if comma and lead and len(lead) <= 12 and lead[0].lower() in LEAD_IN and WORD.search(tail):
        instruction = tail
    toks = [w.lower().strip("'-") for w in WORD.findall(instruction)]
    while toks and toks[0] in SKIP_FIRST:
        toks = toks[1:]
    if not toks:
        return None
    obj = next((w for w in toks[1:6] if w not in NOT_OBJECT and len(w) > 1), None)
    return toks[0], obj


def verbs(tasks: list[Task], top: int = 15, per_verb: int = 4) -> list[tuple[str, int, list[tuple[str, int]]]]:
    by_verb: dict[str, Counter] = {}
    counts: Counter = Counter()
    for t in tasks:
        vo = verb_object(t.instruction)
        if vo is None:
            continue
        counts[vo[0]] += 1
        if vo[1]:
            by_verb.setdefault(vo[0], Counter())[vo[1]] += 1
    return [(v, n, by_verb.get(v, Counter()).most_common(per_verb)) for v, n in counts.most_common(top)]


def usage(r: RoundData) -> dict[str, dict[str, float]]:
    """Per-step usage rows; with none, the round totals from its stats under the step 'all'."""
    if r.usage:
        return r.usage
    t = r.stats.teacher if r.stats else None
    if isinstance(t, dict) and t:
        return {"all": {k: v for k, v in t.items() if isinstance(v, (int, float))}}
    return {}


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Projection on the two main axes, by SVD of the centred matrix (no sklearn needed)."""
    x = vectors - vectors.mean(axis=0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def embed_map(
    run: RunData, model_name: str = "embedded:all-minilm-l6-v2", limit: int = 4000
) -> tuple[np.ndarray, list[int]] | None:
    """2-D coordinates of seed + accepted instructions and each one's round; None if nothing to map."""
    tasks = (run.seeds + run.accepted)[:limit]
    if len(tasks) < 3:
        return None
    from sentence_transformers import SentenceTransformer

    from ..models import resolve_model

    model = SentenceTransformer(resolve_model(model_name), device="cpu")
    vecs = model.encode(
        [t.instruction for t in tasks], batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )
    return pca_2d(np.asarray(vecs, dtype=np.float64)), [t.round for t in tasks]
