"""One rank of the two-process distill test: `accelerate launch --multi_gpu --num_processes 2 ddp_distill.py TASKS OUT`
(ACCELERATE_USE_CPU=1 on CPU).

Calls train_student like `selfinstruct distill` does, and writes what this rank saw (its rank,
the world size of the process group the Trainer trained in, its metrics) to OUT.rank<R>.json.
"""

import json
import sys
from pathlib import Path

import torch.distributed as dist

from selfinstruct.config import StudentConfig
from selfinstruct.distill.train import train_student
from selfinstruct.formats import read_tasks

tasks_path, out = Path(sys.argv[1]), Path(sys.argv[2])
cfg = StudentConfig(batch_size=2, max_length=256, epochs=2, learning_rate=1e-3, logging_steps=1)
metrics = train_student(read_tasks(tasks_path), out, cfg, seed=0, threads=1)
rank = dist.get_rank() if dist.is_initialized() else 0
world = dist.get_world_size() if dist.is_initialized() else 1
backend = dist.get_backend() if dist.is_initialized() else None
Path(f"{out}.rank{rank}.json").write_text(
    json.dumps({"rank": rank, "world_size": world, "backend": backend, "metrics": metrics})
)
