"""Real LoRA training of the embedded student on CPU: a few steps on real seed tasks.

One module-scoped training run (8 examples, batch 4, 4 steps) feeds every test here: the loss on
the training examples drops, the saved adapter reloads with peft and gives the same loss, a
relaunch does not train again, and `eval` scores base vs the trained round.
"""

from __future__ import annotations

import json
import time

import pytest

from selfinstruct.config import Config, StudentConfig
from selfinstruct.distill.hard_examples import task_losses
from selfinstruct.distill.train import train_student
from selfinstruct.formats import read_tasks, write_tasks

from conftest import PUBLIC_SEEDS

pytestmark = pytest.mark.slow

CFG = StudentConfig(batch_size=4, max_length=256, max_steps=4, learning_rate=1e-3, eval_max_new_tokens=24)


@pytest.fixture(scope="module")
def seeds():
    tasks = read_tasks(PUBLIC_SEEDS)
    return tasks[:8], tasks[8:11]


@pytest.fixture(scope="module")
def trained(seeds, tmp_path_factory):
    """(adapter dir, training metrics, per-task loss before, per-task loss after reloading the adapter)."""
    train, heldout = seeds
    before = task_losses(None, train + heldout, CFG)
    out = tmp_path_factory.mktemp("run") / "round-1" / "student"
    metrics = train_student(train, out, CFG, seed=0, threads=2)
    after = task_losses(out, train + heldout, CFG)  # peft reload from the saved folder
    return out, metrics, before, after


def test_training_lowers_loss_on_training_examples(trained, seeds):
    out, metrics, before, after = trained
    train = seeds[0]
    assert all(len(t.instances) == 1 for t in train)  # so a task's loss is its one example's loss
    mean = lambda losses: sum(losses[t.id] for t in train) / len(train)  # noqa: E731
    assert metrics["steps"] == 4 and metrics["examples"] == 8 and metrics["tokens"] > 0
    assert mean(after) < mean(before) - 0.1, (before, after)
    # The reloaded adapter is the trained model: same loss as computed in memory right after training.
    assert mean(after) == pytest.approx(metrics["fit_loss"], abs=1e-4)


def test_output_folder_is_complete_and_a_relaunch_does_not_retrain(trained, seeds):
    out, metrics, _, _ = trained
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "config.yaml",
        "metrics.json",
        ".done",
        "tokenizer.json",
    ):
        assert (out / name).exists(), name
    assert not out.with_name("student.tmp").exists()
    assert json.loads((out / "adapter_config.json").read_text())["r"] == CFG.lora.r
    t0 = time.perf_counter()
    assert train_student(seeds[0], out, CFG) == metrics
    assert time.perf_counter() - t0 < 2.0


def test_distill_command_keeps_a_finished_student(trained, seeds, tmp_path):
    from typer.testing import CliRunner

    from selfinstruct.cli import app

    out, metrics, _, _ = trained
    data = tmp_path / "tasks.jsonl"
    write_tasks(data, seeds[0])
    result = CliRunner().invoke(app, ["distill", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_task_losses_rank_tasks_by_the_students_loss(trained, seeds):
    _, _, before, after = trained
    train, heldout = seeds
    assert set(after) == {t.id for t in train + heldout}
    # The tasks it was trained on got easier, and by more than the ones it never saw.
    drop = {t.id: before[t.id] - after[t.id] for t in train + heldout}
    assert all(drop[t.id] > 0 for t in train), drop
    assert min(drop[t.id] for t in train) > max(drop[t.id] for t in heldout), drop


def test_eval_scores_base_and_the_round(trained, seeds, tmp_path):
    from selfinstruct.evaluate.command import eval_command

    out, _, _, _ = trained
    heldout = tmp_path / "heldout.jsonl"
    write_tasks(heldout, seeds[1])
    cfg = Config(student=CFG)
    rows = eval_command(heldout, cfg, run=out.parent.parent)
    assert [r["model"] for r in rows] == ["base", "round-1"]
    assert all(0.0 <= r["rouge_l"] <= 1.0 and r["n"] == 3 for r in rows)
    table = json.loads((out.parent.parent / "eval" / "eval.json").read_text())
    assert table["rows"] == rows
    answers = (out.parent.parent / "eval" / "answers-round-1.jsonl").read_text().splitlines()
    assert len(answers) == 3 and all(json.loads(a)["answer"] for a in answers)
