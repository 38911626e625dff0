"""The student trained by two processes: `accelerate launch --multi_gpu --num_processes 2` on CPU (DDP, gloo).

`accelerate launch --cpu --num_processes 2` starts ONE process on a single machine (its CPU
launcher only fans out through mpirun with a hostfile), so the torchrun launcher (`--multi_gpu`)
starts the two ranks and ACCELERATE_USE_CPU=1 (with use_cpu in the trainer) makes them gloo CPU ranks.

Each rank trains on its half of every batch; rank 0 alone writes the adapter. Same entry as
`selfinstruct distill` (train_student), one thread per process on this 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from selfinstruct.config import StudentConfig
from selfinstruct.distill.hard_examples import task_losses
from selfinstruct.formats import read_tasks, write_tasks
from selfinstruct.testing import free_port

from conftest import PUBLIC_SEEDS, ROOT

pytestmark = pytest.mark.slow
N_TASKS, BATCH, EPOCHS = 8, 2, 2  # must match tests/helpers/ddp_distill.py


def test_two_processes_train_the_student_and_the_loss_falls(tmp_path):
    tasks = read_tasks(PUBLIC_SEEDS)[:N_TASKS]
    tasks_path, out = tmp_path / "tasks.jsonl", tmp_path / "student"
    write_tasks(tasks_path, tasks)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(ROOT / "tests" / "helpers" / "ddp_distill.py"),
        str(tasks_path),
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"student.rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["backend"]) for r in ranks] == [(0, 2, "gloo"), (1, 2, "gloo")]
    # 8 examples, 2 per process per step, 2 processes: 2 steps an epoch (one process would take 4).
    steps = EPOCHS * N_TASKS // (BATCH * 2)
    assert all(r["metrics"]["steps"] == steps for r in ranks)
    assert (out / ".done").exists() and (out / "adapter_model.safetensors").exists()
    assert not (tmp_path / "student.tmp").exists()
    cfg = StudentConfig(max_length=256)
    before, after = task_losses(None, tasks, cfg), task_losses(out, tasks, cfg)
    mean = lambda losses: sum(losses.values()) / len(losses)  # noqa: E731
    assert mean(after) < mean(before) - 0.1, (before, after)
