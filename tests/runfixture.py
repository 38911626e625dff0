"""A small but real run directory for the report and export tests, built deterministically.

Until a tiny `generate` run is cheap enough for tests, the rounds are cut from the public
Self-Instruct seed set in a fixed shuffled order (the file lists its classification tasks
last): the first 60 are the seed pool (round 0), the next 45 the "generated" candidates of
three rounds, plus a few planted near duplicates, blacklisted and instance-less tasks. They
go through a real filter pass: the blacklist, then novelty with the embedded MiniLM (max
cosine similarity to the growing pool, at the config's threshold), so nn_sim and every reject
reason are real numbers. Teacher usage rows and student metrics are synthetic (no teacher
runs here) and marked so by teacher="fixture". The config carries a fake token and a URL
password so tests can check neither leaks."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from selfinstruct.config import Config
from selfinstruct.formats import read_tasks, write_tasks
from selfinstruct.records import Instance, Task
from selfinstruct.store import ChunkStore

FAKE_SECRET = "hf_FIXTUREsecret0123456789"
URL_PASSWORD = "pa55word-fixture"
POOL, PER_ROUND = 60, 15  # small: embedding is the slow part of building it
XSS_INSTRUCTION = "<script>document.title='pwned'</script>"
XSS_OUTPUT = '<img src=x onerror="document.body.dataset.pwned=1">'


@lru_cache(maxsize=1)
def _embedder():
    from sentence_transformers import SentenceTransformer

    from selfinstruct.models import resolve_model

    return SentenceTransformer(resolve_model("embedded:all-minilm-l6-v2"), device="cpu")


def _embed(texts: list[str]) -> np.ndarray:
    return np.asarray(_embedder().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False))


def _candidates(seeds: list[Task], r: int, rng: random.Random) -> list[Task]:
    fresh = seeds[POOL + PER_ROUND * (r - 1): POOL + PER_ROUND * r]
    out = [Task(instruction=s.instruction, instances=[Instance(i.input, i.output) for i in s.instances],
                is_classification=s.is_classification) for s in fresh]
    for s in rng.sample(seeds[:POOL], 3):  # near duplicates of pool tasks
        out.append(Task(instruction="Please " + s.instruction[0].lower() + s.instruction[1:],
                        instances=list(s.instances), is_classification=s.is_classification))
    out.append(Task(instruction=f"Describe the image shown in picture number {r}.", instances=[Instance("", "A cat.")]))
    out.append(Task(instruction=f"Write a haiku about round {r} of a loop.", instances=[]))
    return out


def _filter(cands: list[Task], pool_vecs: np.ndarray, pool_ids: list[str], cfg: Config) -> tuple:
    """Blacklist, instances, then novelty against the growing pool (pool_ids grows with it)."""
    vecs = _embed([t.instruction for t in cands])
    accepted, rejected = [], []
    for t, v in zip(cands, vecs):
        words = set(t.instruction.lower().replace(".", " ").split())
        hit = next((b for b in cfg.filter.quality.blacklist if b in words), None)
        if hit:
            t.reject_reason = f"blacklist({hit})"
        elif not t.instances:
            t.reject_reason = "no_instances"
        else:
            sims = pool_vecs @ v
            j = int(np.argmax(sims))
            t.scores["nn_sim"] = round(float(sims[j]), 4)
            if sims[j] >= cfg.filter.novelty.threshold:
                t.reject_reason = f"near_duplicate({sims[j]:.2f}, of={pool_ids[j]})"
            else:
                pool_vecs = np.vstack([pool_vecs, v])
                pool_ids.append(t.id)
        (rejected if t.reject_reason else accepted).append(t)
    return accepted, rejected, pool_vecs


def build_run(root: Path, hostile: bool = False, rounds: int = 3, seeds_file: Path | None = None) -> Path:
    """Writes root/seeds.jsonl (outside the run) and root/runs/fixture/; returns the run path."""
    seeds = read_tasks(seeds_file or Path(__file__).resolve().parent.parent.parent / "shared" / "data"
                       / "self_instruct_seed_tasks.jsonl")
    random.Random(1).shuffle(seeds)
    seed_path = root / "seeds.jsonl"
    write_tasks(seed_path, seeds[:POOL])
    run = root / "runs" / "fixture"
    cfg = Config()
    cfg.seeds = str(seed_path)
    cfg.run.name = "fixture"
    cfg.teacher.vllm.extra = {"hf_token": FAKE_SECRET}
    cfg.teacher.openai.base_urls = [f"http://user:{URL_PASSWORD}@127.0.0.1:8000/v1"]
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    rng = random.Random(0)
    pool_vecs = _embed([s.instruction for s in seeds[:POOL]])
    pool_ids = [s.id for s in seeds[:POOL]]
    for r in range(1, rounds + 1):
        cands = _candidates(seeds, r, rng)
        for t in cands:
            t.round, t.teacher, t.parents = r, "fixture", rng.sample(pool_ids, 3)
        accepted, rejected, pool_vecs = _filter(cands, pool_vecs, pool_ids, cfg)
        _write_round(run / f"round-{r}", r, accepted, rejected)
    if hostile:  # a last, tiny round, so the report's samples are sure to show these records
        r = rounds = rounds + 1
        bad = Task(instruction=XSS_INSTRUCTION, round=r, teacher="fixture", parents=pool_ids[:2],
                   instances=[Instance("</pre><b>bold?</b>", XSS_OUTPUT)], is_classification=False)
        accepted, rejected, _ = _filter([bad], pool_vecs, pool_ids, cfg)
        if not accepted:
            raise AssertionError("the hostile record must be accepted for the test to mean anything")
        rejected = [Task(instruction=XSS_OUTPUT, round=r, teacher="fixture",
                         reject_reason=f"parse_error({XSS_OUTPUT})")]
        _write_round(run / f"round-{r}", r, accepted, rejected)
    _write_json(run / "manifest.json", {"name": "fixture", "fingerprint": cfg.fingerprint(),
                                        "created": "2025-01-01T00:00:00", "rounds_done": rounds,
                                        "commands": [f"selfinstruct generate --seeds {seed_path}"]})
    _write_eval_and_audit(run)
    return run


def _write_eval_and_audit(run: Path) -> None:
    """eval.json as `selfinstruct eval` writes it (CI from the real paired bootstrap) and an audit
    summarised by the real audit code, so the report's gain and audit sections have data."""
    from selfinstruct.audit import QUESTIONS, summarize
    from selfinstruct.evaluate.paired import paired_bootstrap

    base, student = [0.1, 0.2, 0.3, 0.2], [0.3, 0.3, 0.4, 0.2]
    rows = [{"model": "base", "n": 4, "rouge_l": 0.2},
            {"model": "round-1", "n": 4, "rouge_l": 0.3, **paired_bootstrap(student, base)}]
    _write_json(run / "eval" / "eval.json", {"heldout": "heldout.jsonl", "rows": rows})
    verdicts = [{"id": t.id, "task": t.instruction, "round": t.round,
                 **{f"{q}_valid": k % 3 != 0 or q != "output" for q in QUESTIONS},
                 **{f"{q}_why": "fixture reason" for q in QUESTIONS}}
                for k, t in enumerate(Task.from_dict(r) for r in ChunkStore(run / "round-1" / "accepted.jsonl"))]
    for v in verdicts:
        v["all_valid"] = all(v[f"{q}_valid"] for q in QUESTIONS)
    (run / "audit").mkdir(exist_ok=True)
    (run / "audit" / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    _write_json(run / "audit" / "audit.json", summarize(verdicts, "fixture-judge"))


def _write_round(d: Path, r: int, accepted: list[Task], rejected: list[Task]) -> None:
    ChunkStore(d / "accepted.jsonl").write_chunk("0", [t.to_dict() for t in accepted])
    ChunkStore(d / "rejected.jsonl").write_chunk("0", [t.to_dict() for t in rejected])
    cands = accepted + rejected
    kinds: dict[str, int] = {}
    for t in rejected:
        k = t.reject_reason.split("(")[0]
        kinds[k] = kinds.get(k, 0) + 1
    usage = ChunkStore(d / "instructions.usage.jsonl")
    for c in range(2):  # synthetic, two chunks
        usage.write_chunk(str(c), [{"teacher": "fixture", "requests": 4, "wall_s": 3.0 + r + c,
                                    "prompt_tokens": 1800 + 100 * r, "completion_tokens": 900 + 50 * c,
                                    "errors": 0, "truncated": c}])
    ChunkStore(d / "instances.usage.jsonl").write_chunk("0", [{
        "teacher": "fixture", "requests": len(cands), "wall_s": 5.0, "prompt_tokens": 40 * len(cands),
        "completion_tokens": 25 * len(cands), "errors": 0, "truncated": 0}])
    _write_json(d / "stats.json", {"round": r, "prompts": 8, "generated": len(cands) + 2, "candidates": len(cands),
                                   "accepted": len(accepted), "acceptance_rate": len(accepted) / len(cands),
                                   "rejected": kinds, "wall_s": 12.0 + r,
                                   "teacher": {"prompt_tokens": 0, "completion_tokens": 0, "wall_s": 0}})
    if r == 1:
        _write_json(d / "student" / "metrics.json", {"train_loss_first": 2.9, "train_loss_last": 1.7, "steps": 5})


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


_BUILT: list[Path] = []


def cached_run(dest: Path, seeds_file: Path) -> Path:
    """build_run(hostile=True) once per test session (embedding is the slow part); each caller gets
    its own copy under dest. Report and export tests share it, hostile record included."""
    import atexit
    import shutil
    import tempfile

    if not _BUILT:
        root = Path(tempfile.mkdtemp(prefix="si-runfixture-"))
        atexit.register(shutil.rmtree, root, True)
        _BUILT.append(build_run(root, hostile=True, seeds_file=seeds_file))
    shutil.copytree(_BUILT[0].parent.parent, dest)  # root: seeds.jsonl + runs/
    return dest / "runs" / "fixture"
