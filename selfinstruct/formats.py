"""Readers and writers for the task formats people already have.

- Self-Instruct seed JSONL: {id, name, instruction, instances: [{input, output}], is_classification}
- Alpaca JSON: a list of {instruction, input, output} (also accepted one per line as JSONL)
- Chat JSONL: {"messages": [{role, content}, ...]}, one conversation per line (turns after the first
  reply are the task's later turns)

Every error is one line naming the file and line, so a user can open the file at the spot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .records import InputError, Instance, Task
from .store import write_atomic

FORMATS = ("self-instruct", "alpaca", "chat")


def read_tasks(path: str | Path) -> list[Task]:
    """Reads any supported file into tasks; the format is detected from the content."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "no such file")
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise InputError(path, None, "binary file, expected UTF-8 JSON or JSONL")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(path, line, "not valid UTF-8 text") from None
    if not text.strip():
        raise InputError(path, None, "empty file: no tasks in it")
    if text.lstrip().startswith("["):
        return _read_json_array(path, text)
    return list(_read_jsonl(path, text))


def _read_json_array(path: Path, text: str) -> list[Task]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"malformed JSON: {e.msg}") from None
    # A JSON array gives no per-record line numbers; report the record's index instead.
    tasks = []
    for n, row in enumerate(rows):
        try:
            tasks.append(task_from_row(row))
        except ValueError as e:
            raise InputError(path, None, f"record {n}: {e}") from None
    if not tasks:
        raise InputError(path, None, "empty list: no tasks in it")
    return tasks


def _read_jsonl(path: Path, text: str) -> Iterator[Task]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, lineno, f"malformed JSON: {e.msg} (column {e.colno})") from None
        try:
            yield task_from_row(row)
        except ValueError as e:
            raise InputError(path, lineno, str(e)) from None


def task_from_row(row: Any) -> Task:
    """One record in any supported format -> Task. ValueError names the bad field."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    _text_only(row)
    if "messages" in row:
        return _from_chat(row["messages"])
    instruction = row.get("instruction")
    if instruction is None:
        raise ValueError("missing 'instruction'")
    if not isinstance(instruction, str):
        raise ValueError(f"'instruction' must be a string, got {type(instruction).__name__}")
    if not instruction.strip():
        raise ValueError("'instruction' is empty")
    if "instances" in row:
        if not isinstance(row["instances"], list):
            raise ValueError("'instances' must be a list")
        is_cls = row.get("is_classification")
        if is_cls is not None and not isinstance(is_cls, bool):
            raise ValueError(f"'is_classification' must be true/false, got {is_cls!r}")
        if "id" in row and not isinstance(row["id"], str):
            row = {**row, "id": str(row["id"])}
        return Task.from_dict(row)
    # Alpaca: one instance inline.
    for k in ("input", "output"):
        if row.get(k) is not None and not isinstance(row[k], str):
            raise ValueError(f"'{k}' must be a string, got {type(row[k]).__name__}")
    inst = Instance(row.get("input") or "", row.get("output") or "")
    return Task(instruction=instruction, instances=[inst])


def _text_only(row: dict) -> None:
    """A lone surrogate ("\\ud800" is valid JSON) is half a character, not text: every store write of
    the task would fail later, mid-round and again on each relaunch."""
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        half = e.object[e.start : e.end].encode("unicode_escape").decode()
        raise ValueError(
            f"holds a lone surrogate ({half}: half of a UTF-16 pair), which is not text; "
            "remove it or give the whole character"
        ) from None


def _from_chat(messages: Any) -> Task:
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    user = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)
    reply = next((m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"), None)
    if user is None or not isinstance(user.get("content"), str):
        raise ValueError("'messages' has no user message with string content")
    output = reply.get("content", "") if reply else ""
    later = messages[messages.index(reply) + 1 :] if reply else []
    turns = [{"role": m.get("role"), "content": m.get("content")} for m in later if isinstance(m, dict)]
    try:
        return Task.from_dict(
            {"instruction": user["content"], "instances": [{"input": "", "output": output or ""}], "turns": turns}
        )
    except ValueError as e:
        raise ValueError(f"'messages' after the first reply must alternate user and assistant ({e})") from None


def task_to_row(task: Task, fmt: str) -> dict[str, Any] | list[dict[str, Any]]:
    if fmt == "self-instruct":
        return task.to_dict()
    if fmt == "alpaca":
        insts = task.instances or [Instance()]
        return [{"instruction": task.instruction, "input": i.input, "output": i.output} for i in insts]
    if fmt == "chat":
        return [{"messages": conversation(task, i)} for i in task.instances]
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def chat_messages(instruction: str, inst: Instance) -> list[dict[str, str]]:
    """The user turn is the instruction, with the input below it when there is one."""
    prompt = instruction if not inst.input.strip() else f"{instruction}\n\n{inst.input}"
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": inst.output}]


def conversation(task: Task, inst: Instance | None = None) -> list[dict[str, str]]:
    """All of a task's turns as messages: the first instance (or `inst`) as user turn and reply, then the later
    turns, which continue the first instance's conversation only."""
    first = task.instances[0] if task.instances else Instance()
    inst = first if inst is None else inst
    return chat_messages(task.instruction, inst) + ([dict(m) for m in task.turns] if inst is first else [])


def write_tasks(path: str | Path, tasks: Iterable[Task], fmt: str = "self-instruct") -> int:
    """Writes tasks; Alpaca goes out as one JSON array, the others as JSONL. Returns rows written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for t in tasks:
        r = task_to_row(t, fmt)
        rows.extend(r if isinstance(r, list) else [r])
    if fmt == "alpaca" and path.suffix == ".json":
        write_atomic(path, json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)
