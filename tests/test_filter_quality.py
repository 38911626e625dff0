"""Self-Instruct's heuristics, the judge's prompt and score parsing (a real judge run: test_teachers_vllm.py)."""

from __future__ import annotations

import pytest

from selfinstruct.config import QualityConfig
from selfinstruct.filter.quality import check_instances, check_instruction, judge_requests, parse_score
from selfinstruct.records import Instance, Reject, Task

CFG = QualityConfig()


@pytest.mark.parametrize(
    "text,reason",
    [
        ("Write a haiku about autumn leaves.", None),
        ("Say hi", "too_short(2 words)"),
        ("word " * 151, "too_long(151 words)"),
        ("Describe the image below in detail.", "blacklist(image)"),
        ("Please GO TO the store and buy milk.", "blacklist(go to)"),
        ("Draw a diagram of the water cycle.", "blacklist(draw)"),
        ("Explain why drawing helps children learn.", None),  # word boundary: "drawing" is not "draw"
        ("Summarize the profile of this user.", None),  # "file" inside "profile" is not a hit
        ("- List three fruits that are red.", "bad_start(punctuation)"),
        ("¿Cómo se dice hello en inglés?", "non_ascii_start"),
        ("25% off the jacket", "unfinished(no closing punctuation)"),  # a fragment, not a task
        ('Translate this sentence into French: "Good night"', None),
    ],
)
def test_instruction_heuristics(text, reason):
    why = check_instruction(text, CFG)
    assert (str(why) if why else None) == reason


def test_instance_checks():
    ok = Task("Add the two numbers.", [Instance("2, 3", "5"), Instance("2, 3", "5"), Instance("1, 1", "")])
    assert check_instances(ok) == (None, 2)  # the duplicate and the empty one are dropped
    assert ok.instances == [Instance("2, 3", "5")]
    conflict = Task("Add the two numbers.", [Instance("2, 3", "5"), Instance("2, 3", "6")])
    assert check_instances(conflict)[0] == Reject("conflicting_outputs")
    empty = Task("Write a slogan for a cafe.", [Instance("", "  ")])
    assert check_instances(empty)[0] == Reject("empty_output")
    assert empty.instances == [Instance("", "  ")]  # a rejected task keeps what was wrong with it
    assert check_instances(Task("Write a slogan for a cafe."))[0] == Reject("no_instances")
    assert check_instances(Task("Copy it.", [Instance("abc", "abc")]))[0] == Reject("output_equals_input")
    assert check_instances(Task("List them.", [Instance("", "Here are the items:")]))[0] == Reject("truncated_instance")


@pytest.mark.parametrize(
    "instruction,inp,out,classification,leak",
    [
        # from hand-labelled runs: the input gives the answer away, or the output restates the input
        ("How many legs does an octopus have?", "An octopus has 8 legs.", "8", False, True),
        ('Translate "Hello, World!" into Spanish.', "Hola, mundo!", "¡Hola, Mundo!", False, True),
        (
            "What is the significance of the sun?",
            "The sun keeps the Earth warm and gives it light.",
            "The significance of the sun is that it keeps the Earth warm and gives it light.",
            False,
            True,
        ),
        # extracting from given material is the task; a label is one of the listed options
        (
            "What is the profession of the person in the text?",
            "A carpenter works with wood.",
            "Carpenter",
            False,
            False,
        ),
        ("Which one is a fruit?", "apple, car, chair", "apple", True, False),
        ("Add the two numbers.", "2, 3", "5", False, False),
        ("Convert the temperature to Fahrenheit.", "25 C", "77 F", False, False),
        # a seed: the output transforms its input, as long as it or longer (not a question)
        (
            "Rank these countries by their population.",
            "Brazil, China, US, Japan, Canada, Australia",
            "China, US, Brazil, Japan, Canada, Australia",
            False,
            False,
        ),
    ],
)
def test_an_answer_given_away_by_the_input_is_rejected(instruction, inp, out, classification, leak):
    task = Task(instruction, [Instance(inp, out)], is_classification=classification)
    assert (check_instances(task)[0] == Reject("answer_in_input")) is leak


@pytest.mark.parametrize(
    "instruction,inp,out,reason",
    [
        # from the hand-labelled default run (docs/default-run-hand-labels.jsonl), all invalid by hand
        (
            "Remove all non-alphabetic characters from the text.",
            "Here's a realistic, concrete input for this task:\n\nThis is a test! 42",
            "This is a test",
            "chatter(input)",
        ),
        ("Count the words in the text.", "Sure! Here is an example input:\nHello world", "2", "chatter(input)"),
        ("Explain why the weather is cloudy.", "", "The weather is cloudy.", "echoes_instruction(output)"),
        ("Who or whom is on this stage?", "", "The stage is on the stage.", "echoes_instruction(output)"),
        (
            "Write a Python function that returns the number of unique characters in a string.",
            '"Write a Python function that returns the number of unique characters in a string.',
            "len(set(s))",
            "echoes_instruction(input)",
        ),
        # kept: an answer that adds a word ("Yes"), an input that only begins with "Here", a short label
        ("Can the manager share the report with the public?", "", "Yes, the manager can share the report.", None),
        ("Summarize the text.", "Here the river bends east before the old mill.", "The river bends near a mill.", None),
        ("Is the review positive or negative?", "I loved it.", "positive", None),
    ],
)
def test_chatter_and_echoes_of_the_instruction_are_rejected(instruction, inp, out, reason):
    why = check_instances(Task(instruction, [Instance(inp, out)]))[0]
    assert (str(why) if why else None) == reason


@pytest.mark.parametrize(
    "text,score",
    [
        ("4", 4.0),
        (" 4/5", 4.0),
        ("Score: 4.5", 4.5),
        ("**3**", 3.0),
        ("I would rate it 2.", 2.0),
        ("10", None),
        ("0", None),
        ("", None),
        ("five", None),
        ("5.0 out of 5", 5.0),
    ],
)
def test_parse_score(text, score):
    assert parse_score(text) == score


def test_judge_prompts():
    task = Task("Give an antonym of the word.", [Instance("happy", "sad")])
    comp = judge_requests([task], CFG, "completion")[0]
    assert comp.prompt.endswith("Instruction: Give an antonym of the word.\nInput: happy\nOutput: sad\nScore:")
    assert comp.stop == ["\n"] and comp.temperature == 0.0
    chat = judge_requests([task], CFG, "chat")[0]
    assert chat.messages[0]["role"] == "user" and "Output: sad" in chat.messages[0]["content"]


def test_repetitive_loops_of_small_teachers_are_rejected():
    from selfinstruct.filter.repeats import repetition

    assert repetition("one p: what a p: what a p: what a p: what a p: what a p: what a p:").kind == "repetitive"
    looped = "Give a simple example of a person who is not a person who is not a person who is not a person who"
    assert str(repetition(looped)).startswith("repetitive(0.")
    assert repetition("Write a short story about a lighthouse keeper who finds a message in a bottle.") is None
    assert repetition("Add 2 and 2.") is None


def test_an_answer_that_repeats_a_line_or_item_is_rejected():
    from selfinstruct.filter.repeats import repeated_line

    assert repeated_line("1. The Garden\n2. Moonlight\n3. the garden.") == "'the garden' twice"
    assert repeated_line("* Emily\n* Sarah\n* Tom\n* Sarah") == "'sarah' twice"
    poem = "The sea is wide and blue.\nThe gulls cry out above.\nThe sea is wide and blue."
    assert repeated_line(poem) == "'the sea is wide and blue' twice"
    prose = "I love the rain in spring. It smells new. I love the rain in spring."
    assert repeated_line(prose) == "'i love the rain in spring' twice"
    # distinct items, short sentences said twice, and code are not repeats
    assert repeated_line("1. Emily\n2. Sarah\n3. Tom") is None
    assert repeated_line("Yes. Yes. It is.") is None
    code = "```python\nx = 1\nreturn x\nreturn x\n```\nThe function returns x.\nIt is short.\nDone."
    assert repeated_line(code) is None
    assert repeated_line("total = 0\nprint(total)\nprint(total)") is None


def test_placeholder_instances_copied_from_the_answer_form_are_rejected():
    from selfinstruct.records import Instance, Task

    for inst in (
        Instance("...", "..."),
        Instance("", "Output: ..."),
        Instance("<the input>", "fine"),
        Instance("", "<one label>"),
    ):
        assert check_instances(Task("Write a haiku about snow.", [inst]))[0] == Reject("placeholder"), inst
    assert check_instances(Task("Add the numbers.", [Instance("2, 3", "5")]))[0] is None


def test_refusals_and_tasks_missing_the_material_they_point_at_are_rejected():
    from selfinstruct.records import Instance, Task

    assert check_instances(Task("Write a short story about a cat.", [Instance("", "I'm sorry, but I can't.")]))[
        0
    ] == Reject("refusal")
    assert check_instances(Task("Find the longest word in the text.", [Instance("", "noinput")]))[0] == Reject(
        "missing_input"
    )
    assert check_instances(Task("Find the longest word in the text.", [Instance("a bb ccc", "ccc")]))[0] is None
    assert check_instances(Task("Write a poem about the sea.", [Instance("", "Waves.")]))[0] is None


def test_the_instance_rules_on_public_seeds_reject_only_the_known_five(public_seeds):
    """The seeds are valid tasks: what the instance rules reject among them is each rule's false alarm. Five are
    known (an input ending in ":", "the word"/"this sentence" given in the instruction itself); none by the leak,
    chatter or echo rules."""
    from selfinstruct.formats import read_tasks

    verdicts = {t.instruction[:30]: check_instances(t)[0] for t in read_tasks(public_seeds)}
    rejected = {k: str(v) for k, v in verdicts.items() if v}
    assert sorted(rejected.values()) == ["missing_input"] * 3 + ["truncated_instance"] * 2, rejected


def test_each_rule_is_named_by_its_reject_switched_off_by_name_and_counted():
    from collections import Counter

    from pydantic import ValidationError

    from selfinstruct.filter.quality import INSTANCE_RULES

    assert list(INSTANCE_RULES) == [
        "empty_output",
        "refusal",
        "missing_input",
        "placeholder",
        "output_equals_input",
        "answer_in_input",
        "truncated_instance",
        "chatter",
        "echoes_instruction",
        "repetitive",
        "repeated_lines",
    ]
    task = Task("Add the two numbers.", [Instance("2, 3", "5"), Instance("1, 1", ""), Instance("4, 4", "...")])
    counts = Counter()
    assert check_instances(task, CFG, counts) == (None, 2) and counts == {"empty_output": 1, "placeholder": 1}
    lenient = QualityConfig(skip=["placeholder", "unfinished"])
    assert check_instances(Task("Add the two numbers.", [Instance("4, 4", "...")]), lenient)[0] is None
    assert check_instruction("25% off the jacket", lenient) is None
    with pytest.raises(ValidationError, match="unknown rule 'placeholders'"):
        QualityConfig(skip=["placeholders"])
