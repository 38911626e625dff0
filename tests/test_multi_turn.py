"""The multi_turn strategy (generate/strategies/multi_turn.py): conversations of generate.turns exchanges, the
record that holds them, the per-turn filter, the chat exports and the student's label mask, and a
relaunch after SIGKILL that asks the teacher nothing twice. Rounds run against the instant teacher."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from selfinstruct.config import PROJECT_ROOT, ConfigError, load_config
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.formats import read_tasks, write_tasks
from selfinstruct.generate.round import run_round
from selfinstruct.generate.strategies.multi_turn import clean_follow_up
from selfinstruct.records import Instance, Task
from selfinstruct.rundir import RunDir
from selfinstruct.teachers.instant import InstantTeacher

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
from engine_scale import accepted_ids, overrides  # noqa: E402

from selfinstruct.config import DEFAULT_CONFIG
from selfinstruct.testing import DEFAULT_SEEDS

USER, BOT = "user", "assistant"


def _setup(tmp_path, *sets):
    cfg = load_config(
        DEFAULT_CONFIG,
        [
            f"run.root={tmp_path}",
            "run.name=r",
            "teacher.backend=instant",
            "student.enabled=false",
            "generate.per_round=10",
            "generate.prompts_per_round=8",
            "generate.max_batches=3",
            "generate.heldout_share=0",
            "generate.strategy=multi_turn",
            "generate.turns=3",
            "filter.verify.enabled=false",
            *sets,
        ],
    )
    seeds = read_tasks(DEFAULT_SEEDS)
    for s in seeds:
        s.round = 0
    return cfg, seeds


class Counting(InstantTeacher):
    def __init__(self, cfg, *a, **kw):
        super().__init__(cfg, *a, **kw)
        self.asked = []

    def complete(self, requests):
        self.asked += requests
        return super().complete(requests)


@pytest.fixture(scope="module")
def mt_run(tmp_path_factory):
    """One round of 3-turn conversations; the second run_round of it on the same folder is a relaunch."""
    tmp = tmp_path_factory.mktemp("mt")
    cfg, seeds = _setup(tmp)
    first, again = Counting(cfg.teacher, 0.1, 0.03), Counting(cfg.teacher, 0.1, 0.03)
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], first)
        _, accepted_again, _ = run_round(cfg, run, 1, seeds, [], again)
        rejected = run.round(1).tasks("rejected")
    return tmp / "r", stats, accepted, rejected, first.asked, again.asked, accepted_again


def test_a_round_makes_conversations_of_the_configured_turns(mt_run):
    run, stats, accepted, rejected, asked, _, _ = mt_run
    assert len(accepted) == 10 and all(t.strategy == "multi_turn" for t in accepted)
    for t in accepted:
        assert [m["role"] for m in t.turns] == [USER, BOT, USER, BOT]
        assert t.instances[0].output and all(m["content"] for m in t.turns) and t.parents
    # per accepted conversation: one answer, then a follow-up and a reply for each of turns 2 and 3
    steps = Counter(next((k for k in ("respond", "follow_up", "reply", "parents") if k in r.meta), None) for r in asked)
    assert steps["follow_up"] >= 2 * 10 and steps["reply"] >= 2 * 10 and steps["respond"] >= 10
    # the user's message: the conversation so far in the teacher's chat template, continued at a new user turn
    follow = [r for r in asked if "follow_up" in r.meta]
    assert all(r.prompt.endswith("<|im_end|>\n<|im_start|>user\n") and r.stop == ["<|im_end|>"] for r in follow)
    assert all(r.prompt.count("<|im_start|>assistant\n") == r.meta["turn"] - 1 for r in follow)
    replies = [r for r in asked if "reply" in r.meta and r.meta["turn"] == 3]
    assert replies and all([m["role"] for m in r.messages] == [USER, BOT, USER, BOT, USER] for r in replies)
    assert stats.by_strategy["multi_turn"]["accepted"] == 10 and stats.by_strategy["multi_turn"]["tokens"] > 0
    # the instant teacher slips: those conversations are rejected naming the turn that failed
    later = [str(t.reject) for t in rejected if "turn " in str(t.reject) and "turn 1" not in str(t.reject)]
    assert later and all(" user" in r or " assistant" in r for r in later), later


def test_a_relaunch_asks_the_teacher_nothing_again(mt_run):
    _, _, accepted, _, _, asked_again, accepted_again = mt_run
    assert asked_again == []
    assert [t.id for t in accepted_again] == [t.id for t in accepted]


def test_a_mix_keeps_one_turn_tasks_as_they_were(tmp_path):
    cfg, seeds = _setup(tmp_path, "generate.strategy={self_instruct: 1, multi_turn: 1}", "generate.turns=2")
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], InstantTeacher(cfg.teacher, 0.0, 0.0))
    by = Counter(t.strategy for t in accepted)
    assert by["self_instruct"] and by["multi_turn"], by
    assert all(len(t.turns) == (2 if t.strategy == "multi_turn" else 0) for t in accepted)
    with pytest.raises(ConfigError, match="generate.turns: 1 is out of range; allowed: 2 <= turns <= 8"):
        load_config(None, ["generate.turns=1"])


def test_the_record_round_trips_and_one_turn_ids_stay_as_they_were():
    talk = Task(
        "Write a Python function that adds two numbers.",
        [Instance("", "def add(a, b): return a + b")],
        strategy="multi_turn",
        turns=[
            {"role": USER, "content": "Make it add three."},
            {"role": BOT, "content": "def add(a, b, c): return a + b + c"},
        ],
    )
    back = Task.from_dict(json.loads(json.dumps(talk.to_dict())))
    assert back == talk and back.id == talk.id
    one = Task("Write a haiku about rain.", [Instance("", "Soft rain ...")])
    body = json.dumps(["write a haiku about rain.", [["", "Soft rain ..."]]])  # the key as it always was
    assert one.id == hashlib.sha256(body.encode()).hexdigest()[:16]
    assert "turns" not in one.to_dict() and Task.from_dict(one.to_dict()) == one  # old records unchanged
    assert talk.id != Task(talk.instruction, talk.instances).id  # the turns are part of what the task is
    with pytest.raises(ValueError, match=r"turns\[0\] must be \{role: user"):
        Task.from_dict({**talk.to_dict(), "turns": [{"role": BOT, "content": "hi"}]})


def test_the_chat_file_holds_every_turn(tmp_path):
    talk = Task(
        "Name a prime number.",
        [Instance("", "7")],
        turns=[{"role": USER, "content": "Name a larger one."}, {"role": BOT, "content": "11"}],
    )
    write_tasks(tmp_path / "c.jsonl", [talk], "chat")
    assert len(json.loads((tmp_path / "c.jsonl").read_text())["messages"]) == 4
    back = read_tasks(tmp_path / "c.jsonl")[0]
    assert (back.instruction, back.instances, back.turns) == (talk.instruction, talk.instances, talk.turns)


def _talk(*turns: str) -> Task:
    return Task(
        "Write a Python function that reverses a string.",
        [Instance("", "def rev(s):\n    return s[::-1]")],
        is_classification=False,
        strategy="multi_turn",
        turns=[{"role": (USER, BOT)[n % 2], "content": c} for n, c in enumerate(turns)],
    )


def test_the_filter_checks_every_turn_and_names_the_one_that_failed():
    from selfinstruct.config import Config

    cfg = Config().filter
    cfg.novelty.method = "rouge"
    good = _talk(
        "Can you make it ignore spaces in the string?",
        "def rev(s):\n    return s.replace(' ', '')[::-1]",
        "Now explain why slicing with a step of -1 reverses it.",
        "The step -1 walks the string backwards.",
    )
    cases = {
        "echoes_turn(turn 2 user, of turn 1 user": _talk("Write a Python function that reverses the string.", "ok"),
        "chatter(turn 2 assistant)": _talk(
            "Can you add a docstring to the function?", "Sure! Let me know if you need anything else."
        ),
        "empty_output(turn 3 assistant)": _talk(
            "Can you make it ignore spaces in the string?",
            "def rev(s): ...",
            "Now add type hints to the function.",
            "  ",
        ),
        "chatter(turn 2 user)": _talk("Sure! Here is the user's next message about the function.", "ok fine then"),
        "too_short(turn 3 user, 1 word)": _talk(
            "Can you make it ignore spaces in the string?", "Yes: replace them.", "Why?", "Because."
        ),
        "echoes_turn(turn 3 assistant, of turn 2 assistant)": _talk(
            "Can you make it ignore spaces in the string?",
            "Use s.replace(' ', '') first, then reverse it.",
            "Could you show that as a complete function?",
            "Use s.replace(' ', '') first, then reverse it.",
        ),
    }
    tasks = [good] + list(cases.values())
    accepted, rejected, stats = filter_tasks(tasks, [], cfg)
    assert [t.id for t in accepted] == [good.id]
    got = {str(t.reject): t for t in rejected}
    for want, task in cases.items():
        assert any(g.startswith(want) and t is task for g, t in got.items()), (want, list(got))
    assert stats["rejected"]["echoes_turn"] == 2


def test_the_follow_up_prompt_continues_the_teachers_chat_template(tmp_path):
    from transformers import AutoTokenizer

    from selfinstruct.generate.steps import StepContext
    from selfinstruct.generate.strategies.multi_turn import follow_up_request
    from selfinstruct.models import resolve_model

    talk = _talk()
    cfg, _ = _setup(tmp_path)
    req = follow_up_request(StepContext(cfg, InstantTeacher(cfg.teacher), 1, [], []), talk, 2)
    tok = AutoTokenizer.from_pretrained(resolve_model(cfg.teacher.model))
    messages = [{"role": USER, "content": talk.instruction}, {"role": BOT, "content": talk.instances[0].output}]
    assert req.prompt == tok.apply_chat_template(messages, tokenize=False) + "<|im_start|>user\n"
    # a teacher with no local chat template (a hosted model) is asked for the message in a transcript
    cfg, _ = _setup(tmp_path, "teacher.model=someone/hosted-model", "run.name=hosted")
    req = follow_up_request(StepContext(cfg, InstantTeacher(cfg.teacher), 1, [], []), talk, 2)
    assert req.prompt is None and "USER:\n" + talk.instruction in req.messages[0]["content"]
    assert "Write the user's next message" in req.messages[0]["content"]


def test_a_follow_up_is_cleaned_of_what_the_teacher_wraps_it_in():
    assert clean_follow_up('Sure! Here is the user\'s next message:\n\n"Can you add tests?"') == "Can you add tests?"
    assert clean_follow_up("USER: Can you add tests?\n\nASSISTANT: Of course, here they are.") == "Can you add tests?"
    assert clean_follow_up("**User:** Can you add tests?") == "Can you add tests?"


def _export_rows(run, fmt, tmp_path):
    import datasets

    from selfinstruct.export import export_run

    path = export_run(run, fmt)
    return path, datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / fmt))


def test_sharegpt_and_openai_exports_carry_every_turn(mt_run, tmp_path):
    run, _, accepted, _, _, _, _ = mt_run
    by_id = {t.id: t for t in accepted}
    path, share = _export_rows(run, "sharegpt", tmp_path)
    assert len(json.loads(path.read_text())) == len(share) == 10
    for row in share:
        t = by_id[row["id"]]
        assert [c["from"] for c in row["conversations"]] == ["human", "gpt"] * 3
        assert [c["value"] for c in row["conversations"]] == [t.instruction, t.instances[0].output] + [
            m["content"] for m in t.turns
        ]
    _, chat = _export_rows(run, "openai-chat", tmp_path)
    for row in chat:
        t = by_id[row["metadata"]["id"]]
        assert (
            row["messages"]
            == [{"role": USER, "content": t.instruction}, {"role": BOT, "content": t.instances[0].output}] + t.turns
        )
        assert row["metadata"]["strategy"] == "multi_turn"


def test_hf_export_has_the_turns_column(mt_run):
    import datasets

    from selfinstruct.export import export_run

    run, _, accepted, _, _, _, _ = mt_run
    ds = datasets.load_from_disk(str(export_run(run, "hf")))
    ds = ds["train"] if isinstance(ds, datasets.DatasetDict) else ds  # the folder may hold its splits
    assert {r["id"]: r["turns"] for r in ds} == {t.id: t.turns for t in accepted}


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_the_student_learns_every_reply_and_no_user_turn(model):
    """Labels: each reply (and its end-of-turn) as ids, everything the user says -100, whether the student
    has a chat template (SmolLM2) or the fallback (Gemma 3 270M base)."""
    from selfinstruct.distill.data import build_examples, encode, load_tokenizer
    from selfinstruct.models import resolve_model

    tok = load_tokenizer(resolve_model(f"embedded:{model}"))
    talk = _talk(
        "Can you make it ignore spaces?",
        "def rev(s):\n    return s.replace(' ', '')[::-1]",
        "Explain the slice in one sentence.",
        "A step of -1 walks the string from its end.",
    )
    ids, labels = encode(tok, build_examples([talk], tok)[0])
    assert len(ids) == len(labels)
    spans, before = [], False  # the labelled stretches
    for i, lab in zip(ids, labels):
        if lab != -100:
            assert lab == i
            spans += [] if before else [[]]
            spans[-1].append(i)
        before = lab != -100
    replies = [talk.instances[0].output] + [m["content"] for m in talk.turns if m["role"] == BOT]
    assert [tok.decode(s) for s in spans] == [r + tok.eos_token for r in replies]
    masked = tok.decode([i for i, lab in zip(ids, labels) if lab == -100])
    assert all(m["content"] in masked for m in talk.turns if m["role"] == USER) and talk.instruction in masked


def test_the_trainer_keeps_that_mask(tmp_path):
    from selfinstruct.config import StudentConfig
    from selfinstruct.distill.data import encode
    from selfinstruct.distill.train import build_trainer

    one = Task("Name a primary colour.", [Instance("", "Red.")])
    talk = _talk("Can you make it ignore spaces?", "def rev(s):\n    return s.replace(' ', '')[::-1]")
    trainer, rows = build_trainer(
        [one, talk], tmp_path / "out", StudentConfig(max_length=512, max_steps=1), device="cpu"
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    tok = trainer.processing_class
    for i, row in enumerate(rows):
        ids, labels = encode(tok, row)
        assert batch["input_ids"][i, : len(ids)].tolist() == ids
        assert batch["labels"][i, : len(ids)].tolist() == labels
        assert (batch["labels"][i, len(ids) :] == -100).all()


def test_a_conversation_run_killed_and_relaunched_asks_nothing_twice(tmp_path):
    base = ["generate.strategy=multi_turn", "generate.turns=3"]
    cmd = [sys.executable, "-m", "selfinstruct.cli", "generate"]
    for o in overrides(tmp_path / "killed", 40, 2, 8) + base:
        cmd += ["--set", o]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    run = tmp_path / "killed" / "scale"
    deadline = time.time() + 300
    # killed once round 2 has a reply on disk: mid-conversation
    while not (run / "round-2" / "reply.usage.jsonl").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    clean = subprocess.run(
        [c.replace(str(tmp_path / "killed"), str(tmp_path / "clean")) for c in cmd],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert sorted(accepted_ids(run)) == sorted(accepted_ids(tmp_path / "clean" / "scale"))  # as if never killed
    for step in ("follow_up", "reply"):  # only the chunk in flight at the kill may be asked again
        pids = {}
        for line in (run / "round-2" / f"{step}.asked.log").read_text().splitlines():
            pid, rid = line.split()
            pids.setdefault(rid, set()).add(pid)
        assert sum(len(p) > 1 for p in pids.values()) <= 8, step
