"""A new teacher backend is one file: it registers itself, the config takes its name, and make_teacher and
a whole generate round use it, with no edit anywhere else. The `echo` backend below is that file."""

from __future__ import annotations

import json
from contextlib import closing

import pytest

from selfinstruct.config import DEFAULT_CONFIG, ConfigError, TeacherConfig, load_config
from selfinstruct.generate.loop import run_generate
from selfinstruct.models import ModelError
from selfinstruct.teachers import (
    Completion,
    Request,
    backend_names,
    make_teacher,
    register,
)


@register("echo")
class EchoTeacher:
    """Answers each request with the last line it was given: a backend in a dozen lines."""

    adapters = False  # no model, so no LoRA adapter: a request naming one is refused

    def __init__(self, cfg: TeacherConfig, seed: int = 0):
        self.name, self.asked = f"echo:{cfg.model}", 0

    def complete(self, requests: list[Request]) -> list[Completion]:
        if any(r.adapter for r in requests):
            raise ModelError(f"{self.name}: cannot answer with a LoRA adapter")
        self.asked += len(requests)
        texts = [(r.prompt if r.prompt is not None else r.messages[-1]["content"]).splitlines()[-1:] for r in requests]
        return [Completion(r.id, " ".join(t), "stop", 1, 1) for r, t in zip(requests, texts)]

    def close(self) -> None:
        pass


def _cfg(tmp_path, *sets: str):
    return load_config(
        DEFAULT_CONFIG,
        [
            f"run.root={tmp_path}",
            "run.name=r",
            "teacher.backend=echo",
            "teacher.model=parrot",
            "student.enabled=false",
            "generate.strategy=self_instruct",
            "filter.verify.enabled=false",
            "filter.novelty.method=rouge",
            "generate.classify_with=teacher",
            "generate.rounds=1",
            "generate.max_batches=1",
            "generate.prompts_per_round=4",
            "generate.heldout_share=0",
            *sets,
        ],
    )


def test_the_config_takes_a_registered_name_and_refuses_others(tmp_path):
    assert "echo" in backend_names() and {"vllm", "openai", "transformers", "ray", "instant"} <= set(backend_names())
    assert _cfg(tmp_path).teacher.backend == "echo"
    with pytest.raises(ConfigError, match=r"teacher.backend: 'ehco' is not a teacher backend; allowed: .*echo"):
        _cfg(tmp_path, "teacher.backend=ehco")
    with pytest.raises(ConfigError, match=r"teacher.ray.inner: 'ray' is not a teacher backend"):
        _cfg(tmp_path, "teacher.ray.inner=ray")


def test_make_teacher_builds_it_and_a_round_runs_on_it(tmp_path):
    cfg = _cfg(tmp_path)
    with closing(make_teacher(cfg.teacher)) as t:  # a backend need not be a context manager itself
        assert isinstance(t, EchoTeacher)
        [c] = t.complete([Request(prompt="Task 1: say hi\nTask 2:")])
        assert c.text == "Task 2:"
    result = run_generate(cfg)
    round_1 = tmp_path / "r" / "round-1"
    usage = [json.loads(x) for f in round_1.glob("*.usage.jsonl") for x in f.read_text().splitlines()]
    # Every request of the round went to the echo backend, through the durable step stores.
    assert usage and {u["teacher"] for u in usage} == {"echo:parrot"}
    assert sum(u["requests"] for u in usage) >= 4 and (round_1 / "stats.json").exists()
    assert result["rounds"][0]["prompts"] == 4


def test_a_backend_that_takes_no_adapter_says_so(tmp_path):
    cfg = _cfg(tmp_path, "teacher.adapter=runs/x/round-1/student")
    with pytest.raises(ModelError, match="'echo' cannot answer with a LoRA adapter .*use one that can: .*transformers"):
        make_teacher(cfg.teacher)


def test_the_adapter_of_a_stored_config_moves_to_teacher_adapter():
    # Every run before teacher.adapter stored teacher.{vllm,transformers}.lora_adapter (mostly null).
    old = TeacherConfig(backend="transformers", vllm={"lora_adapter": None}, transformers={"lora_adapter": "s/student"})
    assert old.adapter == "s/student" and "lora_adapter" not in old.transformers.model_dump()
    assert TeacherConfig(vllm={"lora_adapter": None}).adapter is None


def test_teacher_adapter_reaches_every_request_and_names_the_teacher():
    cfg = TeacherConfig(backend="instant", model="m", adapter="runs/r/round-1/student/")
    with make_teacher(cfg) as t:
        plain = make_teacher(TeacherConfig(backend="instant", model="m"))
        req = Request(prompt="Write a haiku.", meta={"respond": True})
        own = Request(prompt="Write a haiku.", meta={"respond": True}, adapter="elsewhere")
        assert t.name == "instant:m+student" and t.adapters
        # The instant teacher's text follows the adapter a request is answered with: the default, or its own.
        [a], [b], [c] = t.complete([req]), plain.complete([req]), t.complete([own])
        assert a.request_id == b.request_id == req.id  # a request keeps its id (the step stores stay the same)
        assert a.text != b.text and c.text == plain.complete([own])[0].text


def test_the_openai_backend_refuses_an_adapter_before_asking_the_server():
    teacher = make_teacher(TeacherConfig(backend="openai", openai={"base_urls": ["http://127.0.0.1:9/v1"]}))
    assert not teacher.adapters
    with pytest.raises(ModelError, match="names the LoRA adapter a/student.*--lora-modules"):
        teacher.complete([Request(prompt="Hi", adapter="a/student")])


def test_a_run_stored_with_the_old_adapter_keys_resumes(tmp_path):
    import yaml

    from selfinstruct.rundir import RunDir

    cfg = _cfg(tmp_path, "teacher.backend=instant")
    with RunDir(cfg) as run:
        pass
    stored = yaml.safe_load(run.config_path.read_text())
    del stored["teacher"]["adapter"]
    stored["teacher"]["vllm"]["lora_adapter"] = stored["teacher"]["transformers"]["lora_adapter"] = None
    run.config_path.write_text(yaml.safe_dump(stored))
    run.update_manifest(fingerprint="from-before")
    with RunDir(cfg) as again:  # not refused as drift: a dropped key left at null is no change
        assert again.manifest()["fingerprint"] == cfg.fingerprint()
    stored["teacher"]["vllm"]["max_num_seqs"] = 3
    run.config_path.write_text(yaml.safe_dump(stored))
    run.update_manifest(fingerprint="from-before")
    with pytest.raises(Exception, match="max_num_seqs: 3 -> 64"):
        RunDir(cfg).open()
