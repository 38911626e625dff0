"""The verifiers: which kind of check a task gets, and one example per kind through the real verify
step (a scripted teacher writes the tests and programs; the sandbox really runs them)."""

import pytest

from selfinstruct.config import load_config
from selfinstruct.generate.steps import StepContext
from selfinstruct.records import Instance, Task
from selfinstruct.store import ChunkStore
from selfinstruct.teachers.base import Completion
from selfinstruct.verify.kinds import agrees, computes, kind_of, python_code, repaired
from selfinstruct.verify.step import verify_tasks


@pytest.mark.parametrize(
    "instruction, input, output, kind",
    [
        (
            "Write a Python function that reverses a string.",
            "",
            "```python\ndef rev(s):\n    return s[::-1]\n```",
            "code",
        ),
        ("Write a Python function that reverses a string.", "", "You can use slicing.", "code"),
        ("Write a JavaScript function that reverses a string.", "", "function r(s) {}", "open"),
        ("What is the sum of the even numbers from 1 to 100?", "", "5050", "compute"),
        ("Count the number of words in the sentence.", "The quick brown fox.", "4", "compute"),
        ("Explain why the sky is blue.", "", "Rayleigh scattering.", "open"),
        ("Classify the sentiment of the sentence.", "I love it.", "Positive", "open"),
    ],
)
def test_kind_of(instruction, input, output, kind):
    assert kind_of(instruction, input, output, is_classification="Classify" in instruction) == kind


def test_values_agree_at_the_precision_shown_and_words_in_order():
    assert agrees("The sum is 2,550.", "2550")
    assert agrees("About 3.33 hours", "3.3333333")
    assert not agrees("The sum is 5050.", "2550")
    # A number must be the one the output states as its answer, not any number it mentions.
    assert not agrees("15 friends in 10 groups of 3. Total number of groups = 15 * 10 * 4 = 600", "3")
    assert agrees("The average is 3.33 (rounded to 2 decimal places)", "3.3333")
    assert not agrees('The longest word in the given sentence is "calm".', "sentence,")
    assert agrees("elephant is the longest word.", "elephant")
    assert agrees("Yes, it is.", "True") and not agrees("No.", "True")
    assert agrees("The longest word is 'elephant'.", "elephant")
    assert agrees("[1, 2, 3]", "[1, 2, 3]") and not agrees("[3, 2, 1]", "[1, 2, 3]")


def test_a_program_that_only_prints_a_literal_computes_nothing():
    assert not computes('print("Paris")') and not computes("x = 5050\nprint(x)")
    assert computes("print(sum(range(0, 101, 2)))") and computes("s = 'a b'\nprint(len(s.split()))")


def test_repair_replaces_a_lone_number_in_place_or_gives_the_value():
    assert repaired("The sum is 5050.", "2550") == "The sum is 2550."
    assert repaired("5 and 6", "11") == "11"
    assert python_code("Sure:\n```python\nprint(1)\n```\nDone.") == "print(1)"


class Scripted:
    """Answers each verify request with the text its task's instruction maps to."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]):
        self.answers, self.asked = answers, []

    def complete(self, requests):
        self.asked += requests
        out = []
        for r in requests:
            text = next(a for k, a in self.answers.items() if k in r.messages[0]["content"])
            out.append(Completion(r.id, text, "stop", 10, 10))
        return out

    def close(self):
        pass


def _verify(tmp_path, tasks, answers, **over):
    cfg = load_config(None, ["filter.verify.enabled=true", *[f"filter.verify.{k}={v}" for k, v in over.items()]])
    teacher = Scripted(answers)
    ctx = StepContext(cfg, teacher, 1, [], [])
    tmp_path.mkdir(parents=True, exist_ok=True)
    kept, rejected = verify_tasks(
        ctx, tasks, ChunkStore(tmp_path / "verify.jsonl"), ChunkStore(tmp_path / "agree.jsonl")
    )
    return kept, rejected, teacher


def test_code_runs_against_the_teachers_tests(tmp_path):
    good = Task(
        "Write a Python function add(a, b) that adds two numbers.",
        [Instance("", "```python\ndef add(a, b):\n    return a + b\n```")],
    )
    bad = Task(
        "Write a Python function mul(a, b) that multiplies two numbers.",
        [Instance("", "```python\ndef mul(a, b):\n    return a + b\n```")],
    )
    prose = Task("Write a Python function that squares a number.", [Instance("", "Use the ** operator.")])
    answers = {
        "add(a, b)": "```python\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\n```",
        "mul(a, b)": "```python\nassert mul(2, 3) == 6\n```",
    }
    kept, rejected, teacher = _verify(tmp_path, [good, bad, prose], answers)
    assert [t.instruction for t in kept] == [good.instruction]
    assert kept[0].checks["execution"] == "passed 2 tests"
    reasons = {t.instruction: t.reject for t in rejected}
    assert reasons[bad.instruction].kind == "failed_execution" and "AssertionError" in reasons[bad.instruction].detail
    assert reasons[prose.instruction].kind == "failed_execution"
    assert len(teacher.asked) == 2  # no tests are asked for code that is not there


def test_a_computed_value_checks_the_output_and_repairs_it(tmp_path):
    right = Task("How many words are in the sentence?", [Instance("The quick brown fox.", "4")])
    wrong = Task("What is the sum of the even numbers from 1 to 100?", [Instance("", "The sum is 5050.")])
    answers = {
        "How many words": "```python\nprint(len(data.split()))\n```",  # the input, as `data`
        "even numbers": "```python\nprint(sum(range(2, 101, 2)))\n```",
    }
    kept, rejected, _ = _verify(tmp_path, [right, wrong], answers, repair="true")
    assert not rejected
    assert kept[0].checks["computation"] == "agrees: 4" and kept[0].id == right.id
    fixed = kept[1]
    assert fixed.instances[0].output == "The sum is 2550." and fixed.id != wrong.id
    assert fixed.checks["teacher_output"] == "The sum is 5050." and fixed.checks["computation"].startswith("repaired")
    kept, rejected, _ = _verify(tmp_path / "no-repair", [wrong], answers)  # the default: no repair
    assert not kept and str(rejected[0].reject) == "wrong_value(expected=2550)"


def test_open_tasks_are_kept_or_rejected_as_unverified(tmp_path):
    essay = Task("Explain why the sky is blue.", [Instance("", "Because of Rayleigh scattering.")])
    kept, _, teacher = _verify(tmp_path, [essay], {}, unverified="keep")
    assert kept[0].checks == {"kind": "open"} and not teacher.asked
    _, rejected, _ = _verify(tmp_path / "r", [essay], {})  # the default config rejects them
    assert str(rejected[0].reject) == "unverified(open)"


def test_a_relaunch_asks_the_teacher_nothing_again(tmp_path):
    task = Task("What is 17 times 23?", [Instance("", "391")])
    answers = {"17 times": "```python\nprint(17 * 23)\n```"}
    _verify(tmp_path, [task], answers)
    kept, _, teacher = _verify(tmp_path, [Task(task.instruction, list(task.instances))], answers)
    assert not teacher.asked and kept[0].checks["computation"] == "agrees: 391"


def test_a_task_no_program_could_check_is_rejected_before_its_instance_is_written(tmp_path):
    from selfinstruct.filter.pipeline import filter_tasks
    from selfinstruct.verify.kinds import may_verify

    assert may_verify("Count the vowels in the given sentence.") and may_verify("Write a Python function to add.")
    assert not may_verify("Write a poem about the sea.")
    cfg = load_config(None)  # the default stack rejects unverified tasks
    tasks = [Task("Write a poem about the sea."), Task("Count the vowels in the given sentence.")]
    kept, rejected, stats = filter_tasks(tasks, [], cfg.filter, cache_dir=tmp_path, check_instances=False)
    assert [t.instruction for t in kept] == ["Count the vowels in the given sentence."]
    assert str(rejected[0].reject) == "unverified(open)" and stats["rejected"] == {"unverified": 1}
    keep = load_config(None, ["filter.verify.unverified=keep"])
    assert len(filter_tasks(tasks, [], keep.filter, cache_dir=tmp_path, check_instances=False)[0]) == 2


def test_a_constraint_the_instruction_states_is_checked_with_the_ifeval_checkers(tmp_path):
    from selfinstruct.verify.stated import stated

    assert [s["id"] for s in stated("Describe the sea in under 12 words, in all capital letters.")] == [
        "length_constraints:number_words",
        "change_case:english_capital",
    ]
    assert stated("Describe the sea.") == []
    short = Task(
        "Describe the sea in under 12 words, in all capital letters.",
        [Instance("", "THE SEA IS VAST, DEEP AND FULL OF LIFE.")],
    )
    long = Task(
        "Summarize the history of Rome in no more than 5 words.",
        [Instance("", "Rome grew from a small village into a vast empire over centuries.")],
    )
    kept, rejected, _ = _verify(tmp_path, [short, long], {}, unverified="keep")
    assert kept[0].checks["constraints"].startswith("met") and kept[0].instruction == short.instruction
    assert str(rejected[0].reject) == "constraint_unmet(in no more than 5 words)"


def test_open_tasks_kept_only_where_a_second_answer_agrees(tmp_path):
    sky = Task(
        "Explain why the sky is blue.",
        [Instance("", "Sunlight is scattered by the air, and blue light scatters most.")],
    )
    capital = Task("Name the capital of France.", [Instance("", "Paris")])
    haiku = Task(
        "Write a haiku about autumn leaves.",
        [Instance("", "Red leaves drift and fall / the cold wind carries them home / branches stand bare now")],
    )
    answers = {
        "sky is blue": "Blue light is scattered more by the air than other colours of sunlight.",
        "capital of France": "The capital of France is Paris.",
        "haiku": "def add(a, b):\n    return a + b",
    }
    same = {"unverified": "agree", "agree_with": "embedded:qwen2.5-coder-0.5b"}  # the teacher's own model
    kept, rejected, teacher = _verify(tmp_path, [sky, capital, haiku], answers, **same)
    assert sorted(t.instruction for t in kept) == sorted([sky.instruction, capital.instruction])
    assert kept[0].checks["agreement"].startswith("agrees (cos=")
    assert rejected[0].reject.kind == "disagree" and rejected[0].reject.detail.startswith("cos=")
    assert len(teacher.asked) == 3 and all(r.temperature > 0 for r in teacher.asked)  # the teacher, sampled
    again = _verify(tmp_path, [Task(t.instruction, list(t.instances)) for t in (sky, capital, haiku)], answers, **same)[
        2
    ]
    assert not again.asked  # a relaunch finds the second answers in the store


def test_a_request_for_code_gets_no_input_request_when_verification_is_on():
    from selfinstruct.generate.steps import _no_input

    code, essay = Task("Write a Python function that reverses a string."), Task("Summarize the given paragraph.")
    for task in (code, essay):
        task.is_classification = False
    on = StepContext(load_config(None), Scripted({}), 1, [], [])  # the default: verify on
    off = StepContext(load_config(None, ["filter.verify.enabled=false"]), Scripted({}), 1, [], [])
    assert _no_input(on, code) and not _no_input(off, code)  # its tests bring the inputs
    assert not _no_input(on, essay) and not _no_input(off, essay)
    assert _no_input(on, Task("How many legs does an octopus have?")) is True


def test_an_attached_constraint_verifies_an_open_task_where_its_answer_keeps_it(tmp_path):
    import json
    import random

    from selfinstruct import constraints

    poem = "Write a short poem about the sea."
    text, specs = constraints.attach(poem, random.Random(1), pool="train", types=("length_constraints:number_words",))
    assert text.startswith(poem) and text != poem and constraints.detach(text, specs) == poem
    limit = specs[0]["kwargs"]["num_words"]
    short, long = ("word " * (limit - 5)).strip(), ("word " * (limit + 5)).strip()
    wanted = "less than" == specs[0]["kwargs"]["relation"]
    kept_answer, broken_answer = (short, long) if wanted else (long, short)
    tasks = [Task(text, [Instance("", a)], checks={"specs": json.dumps(specs)}) for a in (kept_answer, broken_answer)]
    kept, rejected, teacher = _verify(tmp_path, tasks, {})  # the default: unverified open tasks rejected
    assert [t.instances[0].output for t in kept] == [kept_answer] and kept[0].checks["kind"] == "open"
    assert kept[0].checks["constraints"] == f"met: {specs[0]['text']}"
    assert str(rejected[0].reject) == f"constraint_unmet({specs[0]['text']})"
    assert not teacher.asked  # the constraint's number ("20 words in total") makes no computation of a poem
    bare = Task(poem, [Instance("", kept_answer)])
    assert str(_verify(tmp_path / "bare", [bare], {})[1][0].reject) == "unverified(open)"


def test_a_task_that_sets_its_own_length_gets_a_word_constraint_and_its_length_checked():
    from selfinstruct.config import load_config
    from selfinstruct.generate.strategies.constrained import _asks_to_write, with_constraint
    from selfinstruct.verify.stated import outcome

    ctx = StepContext(load_config(None), Scripted({}), 1, [], [])
    for n in range(8):  # whatever the draw, never a second length for a four-sentence story
        task = with_constraint(ctx, Task(f"Write a four-sentence story about a lighthouse number {n}."))
        assert '"keywords:' in task.checks["specs"]
    assert outcome("Write a four-sentence story.", "It rained. We stayed in.") == "unmet: four-sentence"
    assert not _asks_to_write(Task("Write a series of writing tasks that anyone can do."))
    assert not _asks_to_write(Task("What is your favourite colour?"))
