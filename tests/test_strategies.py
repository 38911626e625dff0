"""Evol-Instruct and Magpie rounds (generate/strategies/): the strategy mix, evolutions that keep
their parent and are eliminated when they copy it, Magpie's prompt being exactly the teacher's
user-turn prefix (token ids, for every embedded model), and a mixed run that survives SIGKILL.
Round logic runs against the instant teacher (scripted); the prefixes against the real tokenizers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from selfinstruct.config import DEFAULT_CONFIG, ConfigError, load_config
from selfinstruct.formats import read_tasks
from selfinstruct.generate.round import run_round
from selfinstruct.generate.strategies.evol import EVOLUTIONS, clean_evolution, eliminate
from selfinstruct.generate.strategies.magpie import user_turn_prefix
from selfinstruct.generate.strategy import split
from selfinstruct.records import Instance, Task
from selfinstruct.rundir import RunDir
from selfinstruct.teachers.base import Completion
from selfinstruct.teachers.instant import InstantTeacher
from selfinstruct.testing import DEFAULT_SEEDS, accepted_ids, instant_overrides

MIX = "generate.strategy={self_instruct: 1, evol: 1, magpie: 1}"
CHATML = 'generate.magpie_prefix="<|im_start|>user\\n"'  # no tokenizer needed by the instant teacher


def _setup(tmp_path, *sets):
    cfg = load_config(
        DEFAULT_CONFIG,
        [
            f"run.root={tmp_path}",
            "run.name=r",
            "teacher.backend=instant",
            "student.enabled=false",
            "generate.per_round=12",
            "generate.prompts_per_round=8",
            "generate.max_batches=3",
            "generate.heldout_share=0",
            CHATML,
            "generate.strategy=self_instruct",
            "filter.verify.enabled=false",
            *sets,
        ],
    )  # the verify step is off: the instant teacher writes no programs
    seeds = read_tasks(DEFAULT_SEEDS)
    for s in seeds:
        s.round = 0
    return cfg, seeds


def test_the_mix_splits_a_need_by_share_and_rounds_can_differ():
    # 3.5, 1.75, 1.75: the floors, then the two largest remainders one more each
    assert split(7, {"self_instruct": 0.5, "evol": 0.25, "magpie": 0.25}) == {
        "self_instruct": 3,
        "evol": 2,
        "magpie": 2,
    }
    assert sum(split(13, {"evol": 1 / 3, "magpie": 1 / 3, "self_instruct": 1 / 3}).values()) == 13
    cfg = load_config(None, ["generate.strategy=[self_instruct, {evol: 3, magpie: 1}]"])
    assert cfg.generate.shares(1) == {"self_instruct": 1.0}
    assert cfg.generate.shares(2) == cfg.generate.shares(5) == {"evol": 0.75, "magpie": 0.25}
    with pytest.raises(ConfigError, match="generate.strategy"):
        load_config(None, ["generate.strategy=wizard"])


def test_a_mixed_round_keeps_each_strategy_and_each_evolution_its_parent(tmp_path):
    cfg, seeds = _setup(tmp_path, MIX)
    teacher = InstantTeacher(cfg.teacher, restate_share=0.0, malformed_share=0.0)
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], teacher)
        stored = run.round(1).tasks("accepted")
    by = {s: [t for t in stored if t.strategy == s] for s in ("self_instruct", "evol", "magpie")}
    assert all(by.values()) and len(accepted) == 12, {s: len(v) for s, v in by.items()}
    seed_ids = {s.id for s in seeds}
    for t in by["evol"]:
        assert len(t.parents) == 1 and t.parents[0] in seed_ids and t.evolution in EVOLUTIONS
        assert t.instances[0].input == "" and t.instances[0].output  # answered directly
    assert all(t.parents == [] and t.instances[0].output for t in by["magpie"])
    assert stats.counts["evol_prompts"] > 0 and stats.counts["magpie_prompts"] > 0
    assert {s: r["accepted"] for s, r in stats.by_strategy.items()} == {s: len(v) for s, v in by.items()}
    # The provenance goes out with the data.
    from selfinstruct.export import export_run

    rows = json.loads(export_run(tmp_path / "r", "alpaca").read_text())
    assert {(r["id"], r["strategy"], r["evolution"], tuple(r["parents"])) for r in rows} == {
        (t.id, t.strategy, t.evolution, tuple(t.parents)) for t in stored
    }


def test_an_evolution_that_copies_its_parent_is_rejected_with_its_reason(tmp_path):
    parent = Task("Write a poem about the sea.", [Instance("", "Waves...")])
    copy = Task("write a poem about the Sea", strategy="evol")
    assert eliminate(copy, parent).kind == "evol_copy" and f"of={parent.id}" in eliminate(copy, parent).detail
    deeper = Task("Write a poem about the sea in exactly four lines, where every line rhymes.", strategy="evol")
    assert eliminate(deeper, parent) is None
    assert eliminate(Task("Rewritten prompt: a poem", strategy="evol"), parent).kind == "evol_failed"
    assert (
        clean_evolution('Rewrite the task into a harder version of it: "Write a poem about the sea at dawn.')
        == "Write a poem about the sea at dawn."
    )
    # Its parent's input alone, or its instruction without the input, is a copy too.
    poem = Task("Continue the poem in the same metre.", [Instance("Waves crash on the shore at night,", "x")])
    assert eliminate(Task("Waves crash on the shore at night,"), poem).kind == "evol_copy"
    assert eliminate(Task("Continue the poem in the same metre."), poem).kind == "evol_copy"
    # In a round: a teacher that only ever copies gets every evolution eliminated, none accepted.
    cfg, seeds = _setup(tmp_path, "generate.strategy=evol", "generate.max_batches=1")
    copier = InstantTeacher(cfg.teacher, restate_share=1.0, malformed_share=0.0)
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], copier)
        rejected = run.round(1).tasks("rejected")
    assert not accepted and stats.rejected["evol_copy"] == len(rejected) > 0
    assert all(t.reject.detail.startswith(f"of={t.parents[0]}") for t in rejected)


def test_an_evolution_the_teacher_declines_is_eliminated(tmp_path):
    class Declines(InstantTeacher):
        def complete(self, requests):
            out = super().complete(requests)
            return [
                Completion(o.request_id, "I'm sorry, I can't help with that.", "stop", 5, 9)
                if "respond" in r.meta
                else o
                for r, o in zip(requests, out)
            ]

    cfg, seeds = _setup(tmp_path, "generate.strategy=evol", "generate.max_batches=1")
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], Declines(cfg.teacher, 0.0, 0.0))
    assert not accepted and stats.rejected.get("evol_failed", 0) > 0


# The user-turn prefix as each embedded model's own chat template writes it.
PREFIXES = {
    "smollm2-135m": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\n",
    "qwen2.5-coder-0.5b": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\n<|im_start|>user\n",
    "qwen2.5-coder-1.5b": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\n<|im_start|>user\n",
    "gemma3-270m": None,  # a base model: its GGUF has no chat template, and Magpie needs an aligned one
}


@pytest.mark.parametrize("model", sorted(PREFIXES))
def test_the_magpie_prompt_is_exactly_the_templates_user_turn_prefix(model):
    from transformers import AutoTokenizer

    from selfinstruct.models import ModelError, resolve_model

    if PREFIXES[model] is None:
        with pytest.raises(ModelError, match="no chat template|has none"):
            user_turn_prefix(f"embedded:{model}")
        return
    prefix, end = user_turn_prefix(f"embedded:{model}")
    assert prefix == PREFIXES[model]
    tok = AutoTokenizer.from_pretrained(resolve_model(f"embedded:{model}"))
    full = tok.apply_chat_template([{"role": "user", "content": "Hello"}], tokenize=True)
    full = full["input_ids"] if isinstance(full, dict) or hasattr(full, "keys") else full
    ids = tok(prefix).input_ids  # what every backend feeds for a completion prompt
    assert ids == full[: len(ids)] and tok.decode(full[len(ids) :]).startswith("Hello")
    assert full[len(ids) : len(ids) + 1] == tok("Hello", add_special_tokens=False).input_ids[:1]
    assert end in ("<|im_end|>", "<end_of_turn>")


def test_magpie_requests_carry_that_prefix_alone(tmp_path):
    cfg, seeds = _setup(
        tmp_path,
        "generate.strategy=magpie",
        "generate.max_batches=1",
        "teacher.model=embedded:smollm2-135m",
        "generate.magpie_prefix=null",
    )
    seen = []

    class Keeps(InstantTeacher):
        def complete(self, requests):
            seen.extend(requests)
            return super().complete(requests)

    with RunDir(cfg) as run:
        run_round(cfg, run, 1, seeds, [], Keeps(cfg.teacher, 0.0, 0.0))
    asked = [r for r in seen if "magpie" in r.meta]
    assert asked and all(r.prompt == PREFIXES["smollm2-135m"] and r.stop == ["<|im_end|>"] for r in asked)
    assert len({r.seed for r in asked}) == len(asked)  # each query its own sample


def test_a_mixed_run_killed_and_relaunched_keeps_each_task_once(tmp_path):
    per_round, rounds = 60, 3
    base = [CHATML, "generate.strategy=[self_instruct, {self_instruct: 1, evol: 1, magpie: 1}]"]  # mixed from round 2
    cmd = [sys.executable, "-m", "selfinstruct.cli", "generate"]
    for o in instant_overrides(tmp_path / "killed", per_round, rounds, 16) + base:
        cmd += ["--set", o]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    run = tmp_path / "killed" / "scale"
    deadline = time.time() + 300
    # Killed once round 2 (the first mixed one) has teacher answers on disk: a fixed sleep after round 1 let a fast
    # machine finish all three rounds before the kill.
    while not list((run / "round-2").glob("*.usage.jsonl")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(accepted_ids(run)) < per_round * rounds
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
    ids = accepted_ids(run)
    assert len(ids) == len(set(ids)) == per_round * rounds
    assert sorted(ids) == sorted(accepted_ids(tmp_path / "clean" / "scale"))  # as if never killed
    rows = [json.loads(line) for f in run.glob("round-*/accepted.jsonl") for line in f.read_text().splitlines()]
    assert {r["strategy"] for r in rows if r["round"] > 1} == {"self_instruct", "evol", "magpie"}
