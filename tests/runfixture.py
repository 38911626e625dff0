"""A small but real run directory for the report and export tests, built deterministically
with the real code: RunDir writes the manifest and config, each round goes through the real
filter (quality heuristics, MiniLM novelty against the growing pool, faiss) and is committed by
Round.commit with its RoundStats, so every file is where and what a generate run leaves.

The rounds are cut from the public Self-Instruct seed set in a fixed shuffled order (the file
lists its classification tasks last): the first 60 are the seed pool (round 0), the next 45 the
"generated" candidates of three rounds, plus a few planted near duplicates, blacklisted and
instance-less tasks, so nn_sim and every reject reason are real. Only what a teacher or a
trainer would make is synthetic and marked teacher="fixture": the usage rows (through the
real usage sidecar of each step store) and the student's metrics. The config carries a fake
token and a URL password so tests can check neither leaks."""

from __future__ import annotations

import json
import random
from collections import Counter
from contextlib import chdir
from pathlib import Path

from selfinstruct.config import Config
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.formats import read_tasks, write_tasks
from selfinstruct.records import Instance, Reject, Task
from selfinstruct.round_dir import METRICS, Round, RoundStats
from selfinstruct.rundir import RunDir, sha256_file
from selfinstruct.store import usage_store
from selfinstruct.testing import PUBLIC_SEEDS

FAKE_SECRET = "hf_FIXTUREsecret0123456789"
URL_PASSWORD = "pa55word-fixture"
POOL, PER_ROUND = 60, 15  # small: embedding is the slow part of building it
XSS_INSTRUCTION = "<script>document.title='pwned'</script>"
XSS_OUTPUT = '<img src=x onerror="document.body.dataset.pwned=1">'


def _candidates(seeds: list[Task], r: int, rng: random.Random) -> list[Task]:
    fresh = seeds[POOL + PER_ROUND * (r - 1) : POOL + PER_ROUND * r]
    out = [
        Task(
            instruction=s.instruction,
            instances=[Instance(i.input, i.output) for i in s.instances],
            is_classification=s.is_classification,
        )
        for s in fresh
    ]
    for s in rng.sample(seeds[:POOL], 3):  # near duplicates of pool tasks
        out.append(
            Task(
                instruction="Please " + s.instruction[0].lower() + s.instruction[1:],
                instances=list(s.instances),
                is_classification=s.is_classification,
            )
        )
    out.append(Task(instruction=f"Describe the image shown in picture number {r}.", instances=[Instance("", "A cat.")]))
    out.append(Task(instruction=f"Write a haiku about round {r} of a loop.", instances=[]))
    return out


def build_run(root: Path, hostile: bool = False, rounds: int = 3, seeds_file: Path | None = None) -> Path:
    """Writes root/seeds.jsonl (outside the run) and root/runs/fixture/; returns the run path."""
    seeds = read_tasks(seeds_file or PUBLIC_SEEDS)
    random.Random(1).shuffle(seeds)
    seed_path = root / "seeds.jsonl"
    write_tasks(seed_path, seeds[:POOL])
    cfg = Config()
    cfg.seeds = str(seed_path)
    cfg.run.name = "fixture"  # run.root stays "runs": copies of the fixture resolve it from their own root
    cfg.teacher.vllm.extra = {"hf_token": FAKE_SECRET}
    cfg.teacher.openai.base_urls = [f"http://user:{URL_PASSWORD}@127.0.0.1:8000/v1"]
    rng = random.Random(0)
    pool = list(seeds[:POOL])
    seed_file = (seed_path, sha256_file(seed_path))  # as generate records them: the hash is in the manifest
    with chdir(root), RunDir(cfg, command=f"selfinstruct generate --seeds {seed_path}", seeds=seed_file) as run:
        for r in range(1, rounds + 1):
            cands = _candidates(seeds, r, rng)
            for t in cands:
                t.round, t.teacher, t.parents = r, "fixture", rng.sample([p.id for p in pool], 3)
            accepted, rejected, stats = filter_tasks(cands, pool, cfg.filter, cache_dir=run.embeddings)
            for t in accepted:
                t.checks = _checks(t)
            _commit(run.round(r), accepted, rejected, len(cands) + 2)
            pool += accepted
        if hostile:  # a last, tiny round, so the report's samples are sure to show these records
            # Committed as a teacher's output that got through (the real quality check would stop
            # an instruction that starts with "<"): the report must show it escaped either way.
            r = rounds = rounds + 1
            bad = Task(
                instruction=XSS_INSTRUCTION,
                round=r,
                teacher="fixture",
                parents=[p.id for p in pool[:2]],
                instances=[Instance("</pre><b>bold?</b>", XSS_OUTPUT)],
                is_classification=False,
            )
            odd = Task(instruction=XSS_OUTPUT, round=r, teacher="fixture", reject=Reject("parse_error", XSS_OUTPUT))
            _commit(run.round(r), [bad], [odd], 2)
        run.update_manifest(rounds_done=rounds)
        _write_eval_and_audit(run)
    return root / run.path


def _checks(task: Task) -> dict[str, str]:
    """What the verify step would record: the real kind, a synthetic outcome (no teacher wrote tests or
    programs here), one repaired output among the computations."""
    from selfinstruct.verify.kinds import kind_of

    inst = task.instances[0] if task.instances else Instance()
    kind = kind_of(task.instruction, inst.input, inst.output, task.is_classification)
    if kind == "code":
        return {"kind": kind, "execution": "passed 3 tests"}
    if kind == "compute":
        return {"kind": kind, "computation": f"repaired: 12 -> {inst.output[:40]}", "teacher_output": "12"}
    return {"kind": kind}


def _commit(rnd: Round, accepted: list[Task], rejected: list[Task], proposed: int) -> None:
    """Synthetic teacher usage in the steps' real usage sidecars, then the round's real commit."""
    r, cands = rnd.n, len(accepted) + len(rejected)
    propose = usage_store(rnd.store("propose"))
    for c in range(2):  # two chunks
        propose.write_chunk(
            str(c),
            [
                {
                    "teacher": "fixture",
                    "requests": 4,
                    "wall_s": 3.0 + r + c,
                    "prompt_tokens": 1800 + 100 * r,
                    "completion_tokens": 900 + 50 * c,
                    "errors": 0,
                    "truncated": c,
                }
            ],
        )
    usage_store(rnd.store("instances")).write_chunk(
        "0",
        [
            {
                "teacher": "fixture",
                "requests": cands,
                "wall_s": 5.0,
                "prompt_tokens": 40 * cands,
                "completion_tokens": 25 * cands,
                "errors": 0,
                "truncated": 0,
            }
        ],
    )
    teacher = {
        k: sum(s.get(k, 0) for s in rnd.usage().values()) for k in ("prompt_tokens", "completion_tokens", "wall_s")
    }
    stats = RoundStats(
        round=r,
        prompts=8,
        proposed=proposed,
        candidates=cands,
        accepted=len(accepted),
        acceptance_rate=round(len(accepted) / cands, 4),
        rejected=dict(Counter(t.reject.kind for t in rejected)),
        classification=sum(bool(t.is_classification) for t in accepted),
        wall_s=12.0 + r,
        teacher=teacher,
        tokens_per_accepted=round((teacher["prompt_tokens"] + teacher["completion_tokens"]) / max(len(accepted), 1)),
    )
    rnd.commit(accepted, rejected, [], stats)
    if r == 1:
        _write_json(rnd.student / METRICS, {"train_loss_first": 2.9, "train_loss_last": 1.7, "steps": 5})


def _eval_rows() -> tuple[list[dict], dict]:
    """eval's rows from hand-made answers through the real measures: ROUGE-L with length control,
    the verifiable checkers, and the pairwise judge with the instant teacher as judge."""
    from selfinstruct.config import TeacherConfig
    from selfinstruct.evaluate import verifiable as V
    from selfinstruct.evaluate.command import rouge_l
    from selfinstruct.evaluate.judge import win_rate
    from selfinstruct.evaluate.lengths import length_control
    from selfinstruct.evaluate.paired import paired_bootstrap
    from selfinstruct.teachers.instant import InstantTeacher

    refs = ["red", "a dog", "the sea is blue", "seven"]
    said = {
        "base": ["red is a colour of fire and of roses", "a dog, or a cat", "blue", "seven or eight"],
        "round-1": ["red", "a dog", "the sea is blue today", "eight"],
    }
    s = {m: rouge_l(a, refs) for m, a in said.items()}
    rows = [
        {"model": "base", "n": 4, "rouge_l": round(sum(s["base"]) / 4, 4)},
        {
            "model": "round-1",
            "n": 4,
            "rouge_l": round(sum(s["round-1"]) / 4, 4),
            **paired_bootstrap(s["round-1"], s["base"]),
            **length_control(said["base"], said["round-1"], refs, s["base"], s["round-1"], rouge_l),
        },
    ]
    vrows = [
        {
            "id": str(i),
            "instruction": "x",
            "input": "",
            "specs": [{"id": "punctuation:no_comma", "kwargs": {}, "text": ""}],
        }
        for i in range(4)
    ]
    fields, found = V.score(vrows, said)
    items = [(f"task {i}", "", r) for i, r in enumerate(refs)]
    judged = win_rate(
        InstantTeacher(TeacherConfig(backend="instant")), items, said["round-1"], said["base"], style="completion"
    )
    rows[0].update(fields["base"])
    rows[1].update({**fields["round-1"], **judged})
    return rows, {
        "verifiable": {
            "n": 4,
            "constraints": 4,
            "by_type": V.by_type(vrows, found),
            "training_tasks_with_eval_phrasings": [],
        },
        "answer_max_new_tokens": 128,
    }


def _write_eval_and_audit(run: RunDir) -> None:
    """eval.json as `selfinstruct eval` writes it (its own writer, the CI from the real paired
    bootstrap) and an audit summarised by the real audit code, so the gain and audit sections have data."""
    from selfinstruct.audit import QUESTIONS, summarize
    from selfinstruct.evaluate.command import write_table

    rows, extra = _eval_rows()
    write_table(rows, run.eval, Path("heldout.jsonl"), None, extra)
    verdicts = [
        {
            "id": t.id,
            "task": t.instruction,
            "round": t.round,
            **{f"{q}_valid": k % 3 != 0 or q != "output" for q in QUESTIONS},
            **{f"{q}_why": "fixture reason" for q in QUESTIONS},
        }
        for k, t in enumerate(run.round(1).tasks("accepted"))
    ]
    for v in verdicts:
        v["all_valid"] = all(v[f"{q}_valid"] for q in QUESTIONS)
    run.audit.path.mkdir(exist_ok=True)
    run.audit.verdicts.write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    _write_json(run.audit.summary, summarize(verdicts, "fixture-judge"))
    _write_labels(run)


def _write_labels(run: RunDir) -> None:
    """Hand labels as `selfinstruct review` saves them (its real store), on accepted and rejected
    tasks of round 1, so the report's labels section has rejects and judge verdicts to compare."""
    from selfinstruct.review.store import LabelStore

    store, rnd = LabelStore(run.review_labels, run.review_lock), run.round(1)
    for k, t in enumerate(rnd.tasks("accepted")[:6] + rnd.tasks("rejected")[:3]):
        inst = t.instances[0] if t.instances else Instance()
        store.set(
            {
                "id": t.id,
                "round": t.round,
                "instruction": t.instruction,
                "input": inst.input,
                "output": inst.output,
                "accepted": t.reject is None,
            },
            {"instruction_ok": True, "input_ok": k % 2 == 0, "output_ok": k % 3 != 1},
            "fixture",
        )


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
