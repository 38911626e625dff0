"""Training data for the student: tasks -> prompt/completion pairs in the student's own format.

Each instance of each task is one example. The prompt is the student's chat template applied
to the user turn with the generation prompt appended, exactly what the student sees when it
answers at inference time; the completion is the reference output followed by the end-of-turn
token, so the student learns to stop. The loss covers the completion only (trl's
`completion_only_loss` on prompt/completion data).

A base model with no chat template (Gemma 3 270M base) gets a plain documented template:

    <bos>### Instruction:
    {instruction}

    ### Input:            <- only when the instance has an input
    {input}

    ### Response:
    {output}<eos>

A conversation (a task with later turns) is one example with a label on every assistant turn: its
first turn exactly as above, then each later turn the way the template continues it (the chat
template rendered with the history; the fallback's "### Instruction:" block again after the last
<eos>), and the user turns masked (-100). `encode` tokenizes a row so for training and scoring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..formats import chat_messages, conversation, read_tasks
from ..models import load_tokenizer  # noqa: F401  the student's tokenizer, where its callers have found it
from ..records import InputError, Instance, Task
from ..rundir import RunDir, warn_damaged

FALLBACK_TEMPLATE = "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"


def format_prompt(tok: Any, instruction: str, input_text: str = "") -> str:
    """The text the student sees before its answer: chat template, or the fallback for base models."""
    if tok.chat_template:
        user = chat_messages(instruction, Instance(input_text, ""))[0]
        text = tok.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
    else:
        input_block = f"### Input:\n{input_text}\n\n" if input_text.strip() else ""
        # Gemma's tokenizer does not add <bos> itself, and Gemma degrades badly without it.
        text = (tok.bos_token or "") + FALLBACK_TEMPLATE.format(instruction=instruction, input_block=input_block)
    return _no_double_bos(tok, text)


def _no_double_bos(tok: Any, text: str) -> str:
    if tok.bos_token and text.startswith(tok.bos_token) and _adds_bos(tok):
        text = text[len(tok.bos_token) :]  # trl tokenizes with special tokens: one <bos>, not two
    return text


def _adds_bos(tok: Any) -> bool:
    ids = tok("x")["input_ids"]
    return bool(ids) and ids[0] == tok.bos_token_id


def end_of_turn(tok: Any) -> str:
    """The token that closes an answer: the tokenizer's eos, which for chat models is the end-of-turn."""
    return tok.eos_token or ""


def build_examples(tasks: list[Task], tok: Any) -> list[dict[str, Any]]:
    """One {prompt, completion, task_id} per instance; instances with an empty output teach nothing. The
    instance a conversation continues also has its `segments`: [text, trained] of every turn, in order."""
    eot = end_of_turn(tok)
    rows = []
    for task in tasks:
        for k, inst in enumerate(task.instances):
            if not inst.output.strip():
                continue
            row: dict[str, Any] = {
                "prompt": format_prompt(tok, task.instruction, inst.input),
                "completion": inst.output + eot,
                "task_id": task.id,
            }
            if k == 0 and task.turns:
                row["segments"] = conversation_segments(tok, task, row["prompt"], row["completion"])
            rows.append(row)
    return rows


def conversation_segments(tok: Any, task: Task, prompt: str, completion: str) -> list[list[Any]]:
    """[text, is it the assistant's] for each turn: the first as a one-turn example has it, then each
    follow-up as the student's template writes it after the text so far, then its reply and end-of-turn."""
    segments: list[list[Any]] = [[prompt, False], [completion, True]]
    text, messages = prompt + completion, conversation(task)
    for at in range(2, len(messages), 2):
        if tok.chat_template:
            full = _no_double_bos(
                tok, tok.apply_chat_template(messages[: at + 1], tokenize=False, add_generation_prompt=True)
            )
            if not full.startswith(text):
                raise ValueError(
                    "the student's chat template does not write a conversation as the continuation "
                    "of its earlier turns, so its assistant turns cannot be labelled one by one"
                )
            user = full[len(text) :]
        else:
            user = FALLBACK_TEMPLATE.format(instruction=messages[at]["content"], input_block="")
        segments.append([user, False])
        text += user
        if at + 1 < len(messages):
            segments.append([messages[at + 1]["content"] + end_of_turn(tok), True])
            text += segments[-1][0]
    return segments


def encode(tok: Any, row: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(token ids, labels) of a row: -100 on the prompt and every user turn, the ids on every reply."""
    if "segments" not in row:
        ids, start = tokenize_example(tok, row["prompt"], row["completion"])
        return ids, [-100] * start + ids[start:]
    ids = tok("".join(text for text, _ in row["segments"]))["input_ids"]
    labels: list[int] = []
    text = ""
    for part, trained in row["segments"]:
        text += part
        end = _common_prefix(tok(text)["input_ids"], ids)  # a token across the boundary goes with the turn before
        labels += ids[len(labels) : end] if trained else [-100] * (end - len(labels))
    return ids, labels + [-100] * (len(ids) - len(labels))


def tokenize_example(tok: Any, prompt: str, completion: str) -> tuple[list[int], int]:
    """Token ids of prompt+completion and where the completion starts (as trl's SFTTrainer does it)."""
    ids = tok(prompt + completion)["input_ids"]
    # tokens may merge across the boundary: the completion starts where they diverge
    return ids, _common_prefix(tok(prompt)["input_ids"], ids)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def load_training_tasks(data: Path) -> tuple[list[Task], Path]:
    """A run dir (all rounds' accepted tasks) or a task file -> (tasks, default output dir)."""
    data = Path(data)
    if data.is_dir():
        run = RunDir.reader(data)
        with run.reading("distill"):
            warn_damaged(run)
            tasks = run.accepted_tasks()
        if not tasks:
            raise InputError(data, None, "no accepted tasks in the run's rounds; run generate first")
        return tasks, run.student
    tasks = read_tasks(data)
    return tasks, data.with_name(data.name + ".student")
