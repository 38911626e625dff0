"""Instance writing with generate.answer_step, against a scripted teacher (the round logic is the
subject; the real teachers run in test_run_faults.py, test_round_golden.py and test_student_loop.py).

One request writes a task's input, a second answers the task on it, at generate.answer_temperature;
a relaunch reads both back from the stores and asks nothing.
"""

from __future__ import annotations

from selfinstruct.config import DEFAULT_CONFIG, PACKAGE_DIR, load_config
from selfinstruct.generate.steps import StepContext, write_instances
from selfinstruct.records import Instance, Task
from selfinstruct.store import ChunkStore
from selfinstruct.teachers.base import Completion


class ScriptedTeacher:
    """Answers an input-writing prompt with a sentence and an answer prompt with its word count."""

    name = "scripted"

    def __init__(self) -> None:
        self.requests = []

    def complete(self, requests):
        self.requests += requests
        outs = []
        for r in requests:
            text = r.messages[-1]["content"]
            if "You write test inputs" in text:
                reply = 'Input: "The cat sat on the mat."' if "Count the words" in text else "<noinput>"
            else:
                reply = "six words" if "The cat sat" in text else "Paris is the capital."
            outs.append(
                Completion(request_id=r.id, text=reply, finish_reason="stop", prompt_tokens=10, completion_tokens=3)
            )
        return outs

    def close(self) -> None:
        pass


def _ctx(teacher, temperature):
    cfg = load_config(
        DEFAULT_CONFIG,
        [f"generate.answer_temperature={temperature}", f"generate.templates={PACKAGE_DIR / 'prompts'}"],
    )
    seeds = [
        Task(
            id=f"s{i}",
            instruction=f"Seed task {i}.",
            instances=[Instance(input="", output="ok")],
            is_classification=i % 2 == 0,
        )
        for i in range(8)
    ]
    return StepContext(cfg, teacher, 1, seeds, [])


def _tasks():
    return [
        Task(id="a", instruction="Count the words in the sentence.", is_classification=False),
        Task(id="b", instruction="Name the capital of France.", is_classification=False),
    ]


def test_input_then_answer_at_the_answer_temperature_and_a_relaunch_asks_nothing(tmp_path):
    teacher = ScriptedTeacher()
    tasks = _tasks()
    stores = ChunkStore(tmp_path / "instances.jsonl"), ChunkStore(tmp_path / "answers.jsonl")
    done, failed = write_instances(_ctx(teacher, 0.0), tasks, *stores)

    assert failed == []
    assert [(t.instances[0].input, t.instances[0].output) for t in done] == [
        ("The cat sat on the mat.", "six words"),
        ("", "Paris is the capital."),
    ]
    assert all(not t.instances for t in tasks)  # new records: the instruction-only tasks are left as they were
    assert [t.id for t in done] == [t.key() for t in done] != [t.id for t in tasks]
    answers = [r for r in teacher.requests if "You write test inputs" not in r.messages[-1]["content"]]
    inputs = [r for r in teacher.requests if r not in answers]
    assert len(answers) == len(inputs) == 2
    assert {r.temperature for r in answers} == {0.0} and {r.top_p for r in answers} == {1.0}
    assert {r.temperature for r in inputs} == {0.8}  # inputs keep the teacher's temperature: variety

    again = ScriptedTeacher()
    relaunched = _tasks()
    redone, _ = write_instances(
        _ctx(again, 0.0), relaunched, ChunkStore(tmp_path / "instances.jsonl"), ChunkStore(tmp_path / "answers.jsonl")
    )
    assert again.requests == [] and [t.instances for t in redone] == [t.instances for t in done]


def test_answer_temperature_unset_follows_the_teacher(tmp_path):
    teacher = ScriptedTeacher()
    write_instances(_ctx(teacher, "null"), _tasks(), ChunkStore(tmp_path / "i.jsonl"), ChunkStore(tmp_path / "a.jsonl"))
    assert {r.temperature for r in teacher.requests} == {0.8}


def test_a_task_that_names_its_material_is_not_offered_noinput(tmp_path):
    teacher = ScriptedTeacher()
    tasks = [
        Task(id="c", instruction="Summarize the text in one sentence.", is_classification=False),
        Task(id="d", instruction="Name the capital of France.", is_classification=False),
    ]
    write_instances(_ctx(teacher, 0.0), tasks, ChunkStore(tmp_path / "i.jsonl"), ChunkStore(tmp_path / "a.jsonl"))
    prompts = {
        r.messages[-1]["content"].rsplit("Task: ", 1)[-1]: r.messages[-1]["content"]
        for r in teacher.requests
        if "You write test inputs" in r.messages[-1]["content"]
    }
    assert "<noinput>" not in prompts["Summarize the text in one sentence."]
    assert "<noinput>" in prompts["Name the capital of France."]


def test_a_self_contained_question_is_answered_without_an_input_request(tmp_path):
    tasks = [
        Task(id="q", instruction="How many legs does an octopus have?", is_classification=False),
        Task(id="t", instruction="What is the main idea of the text?", is_classification=False),
        Task(id="c", instruction="Count the words in the sentence.", is_classification=False),
    ]
    teacher = ScriptedTeacher()
    stores = ChunkStore(tmp_path / "i.jsonl"), ChunkStore(tmp_path / "a.jsonl")
    done, failed = write_instances(_ctx(teacher, 0.0), tasks, *stores)
    asked = [
        r.messages[-1]["content"].rsplit("Task: ", 1)[-1].split("\n")[0]
        for r in teacher.requests
        if "You write test inputs" in r.messages[-1]["content"]
    ]
    assert asked == ["What is the main idea of the text?", "Count the words in the sentence."]
    octopus = next(t for t in done if t.instruction.startswith("How many legs"))
    assert octopus.instances == [Instance("", "Paris is the capital.")]  # the scripted answer, on no input
    assert len(teacher.requests) == 5  # 2 inputs + 3 answers

    again = ScriptedTeacher()  # a relaunch reads the question's answer back too
    redone, _ = write_instances(
        _ctx(again, 0.0),
        [Task(id=t.id, instruction=t.instruction) for t in tasks],
        ChunkStore(tmp_path / "i.jsonl"),
        ChunkStore(tmp_path / "a.jsonl"),
    )
    assert again.requests == [] and sorted(t.key() for t in redone) == sorted(t.key() for t in done)

    asks = ScriptedTeacher()
    write_instances(_ctx(asks, 0.0), tasks[:1], ChunkStore(tmp_path / "i2.jsonl"), ChunkStore(tmp_path / "a2.jsonl"))
    on = ScriptedTeacher()
    ctx = _ctx(on, 0.0)
    ctx.cfg.generate.input_for_questions = True
    write_instances(ctx, tasks[:1], ChunkStore(tmp_path / "i3.jsonl"), ChunkStore(tmp_path / "a3.jsonl"))
    assert len(asks.requests) == 1 and len(on.requests) == 2  # with input_for_questions: the input request too
