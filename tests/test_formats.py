"""Readers/writers for the supported formats, and one-line errors naming file and line."""

import json
import time

import pytest

from selfinstruct.formats import read_tasks, write_tasks
from selfinstruct.records import InputError, Instance, Task


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text) if isinstance(text, str) else p.write_bytes(text)
    return p


def test_reads_the_public_self_instruct_seed_file(public_seeds):
    tasks = read_tasks(public_seeds)
    assert len(tasks) == 175
    assert sum(bool(t.is_classification) for t in tasks) > 20
    assert all(t.instances and t.instruction for t in tasks)
    assert len({t.id for t in tasks}) == 175


@pytest.mark.parametrize("fmt,suffix", [("self-instruct", ".jsonl"), ("alpaca", ".json"), ("chat", ".jsonl")])
def test_round_trip_each_format(tmp_path, fmt, suffix):
    tasks = [
        Task("Name the capital.", [Instance("France", "Paris")], is_classification=False),
        Task("Write a haiku about rain.", [Instance("", "Soft rain on the roof...")]),
    ]
    p = tmp_path / f"out{suffix}"
    write_tasks(p, tasks, fmt)
    back = read_tasks(p)
    if fmt == "chat":  # a chat turn holds instruction and input together, below each other
        tasks = [
            Task(
                t.instruction + (f"\n\n{t.instances[0].input}" if t.instances[0].input else ""),
                [Instance("", t.instances[0].output)],
            )
            for t in tasks
        ]
    assert [(t.instruction, [(i.input, i.output) for i in t.instances]) for t in back] == [
        (t.instruction, [(i.input, i.output) for i in t.instances]) for t in tasks
    ]


def test_alpaca_jsonl_lines_are_accepted(tmp_path):
    p = _write(tmp_path, "a.jsonl", json.dumps({"instruction": "Add.", "input": "2+2", "output": "4"}) + "\n")
    (t,) = read_tasks(p)
    assert t.instances[0].output == "4"


@pytest.mark.parametrize(
    "text,where,what",
    [
        ('{"instruction": "ok", "instances": []}\n{"instruction": "x",\n', ":2:", "malformed JSON"),
        ('{"instruction": "ok", "instances": []}\n\n{"input": "a", "instances": []}\n', ":3:", "missing 'instruction'"),
        ('{"instruction": 5, "instances": []}\n', ":1:", "'instruction' must be a string"),
        (
            '{"instruction": "a", "instances": [{"input": 1, "output": "b"}]}\n',
            ":1:",
            "instances[0].input must be a string",
        ),
        ('{"instruction": "a", "instances": "nope"}\n', ":1:", "'instances' must be a list"),
        ('{"instruction": "a", "instances": [], "is_classification": "yes"}\n', ":1:", "is_classification"),
        ("[1, 2]\n", "", "expected a JSON object"),
        ('["x"\n', ":2:", "malformed JSON"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(tmp_path, text, where, what):
    p = _write(tmp_path, "bad.jsonl", text)
    with pytest.raises(InputError) as e:
        read_tasks(p)
    msg = str(e.value)
    assert msg.startswith(str(p) + where) and what in msg and "\n" not in msg


def test_empty_binary_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="empty file"):
        read_tasks(_write(tmp_path, "e.jsonl", "\n  \n"))
    with pytest.raises(InputError, match="binary file"):
        read_tasks(_write(tmp_path, "b.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00"))
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_tasks(_write(tmp_path, "l.jsonl", b'{"instruction": "caf\xe9"}\n'))
    with pytest.raises(InputError, match="no such file"):
        read_tasks(tmp_path / "missing.jsonl")


def test_a_hundred_thousand_tasks_load_in_seconds(tmp_path):
    row = {
        "id": "",
        "name": "n",
        "instruction": "",
        "instances": [{"input": "some input", "output": "an output"}],
        "is_classification": False,
    }
    lines = []
    for i in range(100_000):
        row["id"], row["instruction"] = f"t{i}", f"Do task number {i} with care."
        lines.append(json.dumps(row))
    p = _write(tmp_path, "big.jsonl", "\n".join(lines) + "\n")
    t0 = time.perf_counter()
    tasks = read_tasks(p)
    elapsed = time.perf_counter() - t0
    assert len(tasks) == 100_000
    # Not a speed goal (those live in bench/): a guard against an accidental quadratic loader.
    assert elapsed < 30, elapsed
