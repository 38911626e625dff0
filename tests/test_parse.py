"""Parsers on messy teacher output: hand-made edge cases, and real outputs saved from the embedded teachers."""

import json
from pathlib import Path

import pytest

from selfinstruct.generate.parse import parse_instance, parse_instructions, parse_is_classification

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    "text,finish,expected",
    [
        (
            " Write a poem.\nTask 10: Sort the list.\nTask 11: Name a fruit.",
            "stop",
            ["Write a poem.", "Sort the list.", "Name a fruit."],
        ),
        # numbering errors, missing numbers, other styles
        (
            " Write a poem.\nTask 12: Sort the list.\n10. Name a fruit.\nTask: Add two numbers.\n- Spell cat.",
            "stop",
            ["Write a poem.", "Sort the list.", "Name a fruit.", "Add two numbers.", "Spell cat."],
        ),
        # trailing partial item when the teacher ran out of tokens
        (" Write a poem.\nTask 10: Sort the list.\nTask 11: Name a fru", "length", ["Write a poem.", "Sort the list."]),
        # an item continued on the next line, quotes, a blank line ends an item
        (
            ' "Explain gravity\nto a child."\n\nSome rambling text\nTask 10: **Count vowels.**',
            "stop",
            ["Explain gravity to a child.", "Some rambling text", "Count vowels."],
        ),
        ("", "stop", []),
        ("Task 10:\nTask 11:   ", "stop", []),
        # the next item on the same line
        (
            " Compute a factorial. Task 11: Compute a square root.",
            "stop",
            ["Compute a factorial.", "Compute a square root."],
        ),
        # markdown markers and a quoted item before the next one (both seen from Qwen2.5-Coder-1.5B)
        (
            ' Is "I am tired" a statement? **Task 1**: Name a fruit.\n**Task 2:** Spell cat.',
            "stop",
            ['Is "I am tired" a statement?', "Name a fruit.", "Spell cat."],
        ),
        (
            ' "Can you list my bills?" Task 11: How many days are in a week?',
            "stop",
            ["Can you list my bills?", "How many days are in a week?"],
        ),
        (" Summarize the text in 100 words or fewer. **Task 1:", "stop", ["Summarize the text in 100 words or fewer."]),
    ],
)
def test_parse_instructions(text, finish, expected):
    assert parse_instructions(text, finish) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        (" Yes", True),
        ("no.", False),
        (" YES, it is", True),
        ("True", True),
        (" Maybe", None),
        ("", None),
        ("\n No", False),
    ],
)
def test_parse_is_classification(text, expected):
    assert parse_is_classification(text) == expected


def test_parse_input_first_instance():
    inst, why = parse_instance(" The cat sat.\nOutput: Le chat s'est assis.\n\nTask: next", output_first=False)
    assert why == "" and (inst.input, inst.output) == ("The cat sat.", "Le chat s'est assis.")
    inst, _ = parse_instance(" <noinput>\nOutput: Paris is the capital of France.", output_first=False)
    assert inst.input == "" and inst.output.startswith("Paris")
    inst, _ = parse_instance(" x\nOutput: line one\nline two\nTask: other", output_first=False)
    assert inst.output == "line one\nline two"
    assert parse_instance(" just rambling with no output", output_first=False) == (None, "missing_field(output)")
    assert parse_instance(" a\nOutput:   \n", output_first=False) == (None, "empty_output")
    assert parse_instance(" a\nOutput: cut off mid", output_first=False, finish_reason="length") == (None, "truncated")


def test_parse_output_first_instance():
    inst, why = parse_instance(" positive\nInput: I loved every minute of it.\n\nTask: x", output_first=True)
    assert why == "" and (inst.input, inst.output) == ("I loved every minute of it.", "positive")
    inst, _ = parse_instance(" Spam.\nInput: WIN A FREE PHONE NOW", output_first=True)
    assert inst.output == "Spam"
    assert parse_instance(" positive and negative\nand more\nInput: x", output_first=True)[0] is None
    assert parse_instance(" positive", output_first=True) == (None, "missing_field(input)")


def _fixtures():
    rows = []
    for p in sorted(FIXTURES.glob("teacher_outputs_*.jsonl")):
        rows += [dict(json.loads(line), file=p.name) for line in p.read_text().splitlines() if line.strip()]
    return rows


def test_real_teacher_outputs_parse_without_losing_items():
    """Real completions saved from the embedded teachers (tests/helpers/capture_teacher_outputs.py)."""
    rows = _fixtures()
    assert rows, "fixtures missing"
    proposed = [r for r in rows if r["step"] == "propose"]
    assert proposed
    for r in proposed:
        items = parse_instructions(r["text"], r["finish_reason"])
        # Every parsed item is one line of clean text, never a numbering artefact.
        for it in items:
            assert it and "\n" not in it and not it.lower().startswith("task ")
        if r["finish_reason"] == "stop" and r["text"].strip():
            assert items, f"a finished answer gave no instruction: {r['text']!r}"
    for r in rows:
        if r["step"] == "classify":
            parse_is_classification(r["text"])  # never raises
        elif r["step"].startswith("instances"):
            inst, why = parse_instance(r["text"], r["step"].endswith("output_first"), r["finish_reason"])
            assert (inst is None) == bool(why)


def test_a_chat_teachers_written_input_loses_its_label_and_quotes():
    from selfinstruct.generate.parse import parse_input

    assert parse_input('Input: "The cat sat on the mat."') == "The cat sat on the mat."
    assert parse_input("**Input:** 42, 17, 8") == "42, 17, 8"
    assert parse_input("<noinput>") == "" and parse_input("Input: N/A") == ""
    assert parse_input("Dear Tom,\nthe draft looks good.") == "Dear Tom,\nthe draft looks good."
    # A whole input in a code fence is its content (it used to lose one backtick a side: "``python\n...``").
    assert parse_input('```python\n"Hi there! How are you?"\n```') == '"Hi there! How are you?"'
    assert parse_input("```\n[3, 1, 2]\n```") == "[3, 1, 2]"
    assert parse_input("Use `x`, then ```y```") == "Use `x`, then ```y```"  # not one fenced block: kept


def test_chat_answers_that_name_their_fields_parse_like_completions():
    inst, why = parse_instance("Input: 5\nOutput: 120", output_first=False)
    assert why == "" and (inst.input, inst.output) == ("5", "120")
    inst, why = parse_instance("**Class label:** positive\n**Input:** I loved it.", output_first=True)
    assert why == "" and (inst.input, inst.output) == ("I loved it.", "positive")
