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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..formats import chat_messages, read_tasks
from ..records import InputError, Instance, Task
from ..rundir import RunDir, warn_damaged

FALLBACK_TEMPLATE = "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"


def load_tokenizer(model_path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # batches are padded; pad positions never count in the loss
    return tok


def format_prompt(tok: Any, instruction: str, input_text: str = "") -> str:
    """The text the student sees before its answer: chat template, or the fallback for base models."""
    if tok.chat_template:
        user = chat_messages(instruction, Instance(input_text, ""))[0]
        text = tok.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
    else:
        input_block = f"### Input:\n{input_text}\n\n" if input_text.strip() else ""
        # Gemma's tokenizer does not add <bos> itself, and Gemma degrades badly without it.
        text = (tok.bos_token or "") + FALLBACK_TEMPLATE.format(instruction=instruction, input_block=input_block)
    if tok.bos_token and text.startswith(tok.bos_token) and _adds_bos(tok):
        text = text[len(tok.bos_token):]  # trl tokenizes with special tokens: one <bos>, not two
    return text


def _adds_bos(tok: Any) -> bool:
    ids = tok("x")["input_ids"]
    return bool(ids) and ids[0] == tok.bos_token_id


def end_of_turn(tok: Any) -> str:
    """The token that closes an answer: the tokenizer's eos, which for chat models is the end-of-turn."""
    return tok.eos_token or ""


def build_examples(tasks: list[Task], tok: Any) -> list[dict[str, str]]:
    """One {prompt, completion, task_id} per instance; instances with an empty output teach nothing."""
    eot = end_of_turn(tok)
    rows = []
    for task in tasks:
        for inst in task.instances:
            if not inst.output.strip():
                continue
            rows.append({"prompt": format_prompt(tok, task.instruction, inst.input),
                         "completion": inst.output + eot, "task_id": task.id})
    return rows


def tokenize_example(tok: Any, prompt: str, completion: str) -> tuple[list[int], int]:
    """Token ids of prompt+completion and where the completion starts (as trl's SFTTrainer does it)."""
    prompt_ids = tok(prompt)["input_ids"]
    ids = tok(prompt + completion)["input_ids"]
    n = 0
    while n < min(len(prompt_ids), len(ids)) and prompt_ids[n] == ids[n]:
        n += 1  # tokens may merge across the boundary: the completion starts where they diverge
    return ids, n


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
