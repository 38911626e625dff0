"""Distill data and scoring, fast: the loss mask on real token ids, templates, inputs, judge parsing."""

from __future__ import annotations

import json

import pytest

from selfinstruct.config import StudentConfig
from selfinstruct.distill.data import build_examples, format_prompt, load_tokenizer, load_training_tasks
from selfinstruct.evaluate.command import models_to_eval, rouge_l
from selfinstruct.evaluate.judge import judge_requests, verdict
from selfinstruct.formats import read_tasks
from selfinstruct.models import resolve_model
from selfinstruct.records import InputError, Instance, Task
from selfinstruct.store import ChunkStore


@pytest.fixture(scope="module")
def smol_tok():
    return load_tokenizer(resolve_model("embedded:smollm2-135m"))


def test_loss_mask_covers_exactly_the_response_tokens(public_seeds, tmp_path):
    """labels are -100 on every prompt token and on padding, and equal the input ids on the answer."""
    from selfinstruct.distill.train import build_trainer

    tasks = read_tasks(public_seeds)[:8]
    cfg = StudentConfig(batch_size=4, max_length=256, max_steps=1)
    trainer, rows = build_trainer(tasks, tmp_path / "out", cfg, device="cpu")
    tok = trainer.processing_class
    assert rows == build_examples(tasks, tok)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    for i, row in enumerate(rows[:4]):
        prompt_ids = tok(row["prompt"])["input_ids"]
        full_ids = tok(row["prompt"] + row["completion"])["input_ids"]
        n_prompt, n_full = len(prompt_ids), min(len(full_ids), 256)
        assert ids[i, :n_full].tolist() == full_ids[:n_full]
        assert ids[i, :n_prompt].tolist() == prompt_ids  # the prompt is a prefix: no merge at the boundary
        assert (labels[i, :n_prompt] == -100).all()
        assert labels[i, n_prompt:n_full].tolist() == full_ids[n_prompt:n_full]
        assert (labels[i, n_full:] == -100).all() and (mask[i, n_full:] == 0).all()
        if len(full_ids) <= 256:  # the answer ends with the end-of-turn token, so the student learns to stop
            assert labels[i, n_full - 1].item() == tok.convert_tokens_to_ids("<|im_end|>")


def test_packed_sequences_keep_the_mask(public_seeds, tmp_path):
    """Packing (best-fit, padding-free) trains on exactly the answer tokens of every packed example."""
    from selfinstruct.distill.train import build_trainer

    tasks = read_tasks(public_seeds)[:12]
    cfg = StudentConfig(batch_size=2, max_length=256, max_steps=1, packing=True)
    trainer, rows = build_trainer(tasks, tmp_path / "out", cfg, device="cpu")
    tok = trainer.processing_class
    data = trainer.train_dataset
    assert len(data) < len(rows)  # really packed
    answer_tokens = 0
    for r in rows:
        full, start = len(tok(r["prompt"] + r["completion"])["input_ids"]), len(tok(r["prompt"])["input_ids"])
        answer_tokens += full - start
    assert sum(sum(lb != -100 for lb in ex["labels"]) for ex in data) == answer_tokens
    batch = trainer.data_collator([data[0], data[1]])
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) == len(data[0]["seq_lengths"]) + len(data[1]["seq_lengths"])
    assert all(batch["labels"][0, s].item() == -100 for s in starts)  # no example starts inside an answer


def test_prompt_is_the_students_chat_template(smol_tok):
    prompt = format_prompt(smol_tok, "Name a color.", "sky")
    assert prompt.endswith("<|im_start|>user\nName a color.\n\nsky<|im_end|>\n<|im_start|>assistant\n")
    rows = build_examples([Task("Name a color.", [Instance("", "Blue."), Instance("x", "   ")])], smol_tok)
    assert [r["completion"] for r in rows] == ["Blue.<|im_end|>"]  # the empty answer teaches nothing


def test_base_model_without_template_gets_the_fallback():
    tok = load_tokenizer(resolve_model("embedded:gemma3-270m"))
    assert not tok.chat_template
    prompt = format_prompt(tok, "Add the numbers.", "2 3")
    assert prompt == "<bos>### Instruction:\nAdd the numbers.\n\n### Input:\n2 3\n\n### Response:\n"
    ids = tok(prompt + "5" + tok.eos_token)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id and ids[-1] == tok.eos_token_id


def test_run_dir_gives_all_rounds_accepted_tasks(tmp_path):
    run = tmp_path / "run"
    a, b = Task("First task here.", [Instance("", "one")]), Task("Second task here.", [Instance("", "two")])
    ChunkStore(run / "round-1" / "accepted.jsonl").write_chunk("c1", [a.to_dict()])
    ChunkStore(run / "round-2" / "accepted.jsonl").write_chunk("c1", [b.to_dict(), a.to_dict()])
    tasks, out = load_training_tasks(run)
    assert [t.instruction for t in tasks] == ["First task here.", "Second task here."]
    assert out == run / "student"
    f = tmp_path / "tasks.jsonl"
    f.write_text(json.dumps({"instruction": "Say hi.", "input": "", "output": "hi"}) + "\n")
    assert load_training_tasks(f)[1] == tmp_path / "tasks.jsonl.student"
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(InputError, match="no accepted tasks"):
        load_training_tasks(tmp_path / "empty-run")


def test_distill_refuses_data_with_no_answers(tmp_path):
    from selfinstruct.config import Config
    from selfinstruct.distill.train import distill_path

    f = tmp_path / "noanswers.jsonl"
    f.write_text(json.dumps({"instruction": "Say hi.", "input": "", "output": ""}) + "\n")
    with pytest.raises(InputError, match="noanswers.jsonl: no instance has an output"):
        distill_path(f, Config())


def test_eval_lists_base_then_finished_rounds_in_order(tmp_path):
    for n in (10, 2, 1):
        (tmp_path / f"round-{n}" / "student").mkdir(parents=True)
        if n != 2:
            (tmp_path / f"round-{n}" / "student" / ".done").write_text("")
    assert list(models_to_eval(tmp_path, [])) == ["base", "round-1", "round-10"]
    with pytest.raises(InputError, match="no such adapter"):
        models_to_eval(None, [tmp_path / "missing"])


def test_rouge_l_scores_overlap():
    assert rouge_l(["the cat sat"], ["the cat sat"]) == [1.0]
    assert rouge_l(["dogs bark"], ["the cat sat"]) == [0.0]
    assert 0 < rouge_l(["the cat ran"], ["the cat sat"])[0] < 1


def test_judge_asks_both_orders_and_parses_verdicts():
    items = [("Say hi.", "", "hi"), ("Count.", "", "1 2")]
    reqs = judge_requests(items, ["hello", "1 2"], ["hey", "1 2"], style="completion")
    assert [r.meta["student_is"] for r in reqs] == ["A", "B"]  # the identical pair is not asked
    assert "Response A:\nhello" in reqs[0].prompt and "Response A:\nhey" in reqs[1].prompt
    assert [verdict(t) for t in (" A", "B.", "Response B", "neither", "")] == ["A", "B", "B", None, None]


def test_distill_refuses_a_run_that_generate_holds(tmp_path):
    import fcntl

    from selfinstruct.rundir import RunError

    run = tmp_path / "run"
    ChunkStore(run / "round-1" / "accepted.jsonl").write_chunk("c1", [Task("A task.", [Instance("", "x")]).to_dict()])
    with open(run / ".lock", "w") as holder:
        holder.write("4242")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # flock locks belong to the open file, so a second open in this process conflicts like another process.
        with pytest.raises(RunError, match="pid 4242"):
            load_training_tasks(run)
    assert len(load_training_tasks(run)[0]) == 1  # released: readable again
