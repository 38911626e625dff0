"""The `ray` backend: a chunk of requests as a Ray Dataset, answered by N actor replicas.

Each replica is an actor holding its own inner teacher (`teacher.ray.inner`: transformers,
vllm or openai, configured by the same teacher section); `map_batches` spreads the rows over
them. Rows carry the request id (its content hash), and completions come back in request
order, so `run_step` durability and resume work as with any backend: a restarted job finds the
committed chunks in the run directory and asks only for the rest.

    teacher: {backend: ray, ray: {inner: vllm, replicas: 8, gpus_per_replica: 1, address: auto}}

Each `complete` call is one Dataset job and starts its replicas (the inner model loads once per
call), so use a large `teacher.chunk_size` with this backend. Here Ray runs a local instance
(`ray.init(num_cpus=...)`); with `address` it joins a cluster. On GPU clusters, `ray.data.llm`
(vLLM inside Ray Data) is the other route; see docs/scaling.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from ..config import TeacherConfig
from ..models import ModelError
from .base import Completion, Request
from .common import model_label, require
from .registry import register, takes_adapters


class _Replica:
    """One actor: an inner teacher, built once, answering batches of JSON-encoded requests."""

    def __init__(self, cfg: dict[str, Any], seed: int, threads: int):
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import torch

            torch.set_num_threads(threads)  # replicas share the machine: each gets its share
        except ImportError:
            pass
        from . import make_teacher

        self.teacher = make_teacher(TeacherConfig(**cfg), seed)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        reqs = [Request(**json.loads(s)) for s in batch["request"]]
        outs = self.teacher.complete(reqs)
        return {"id": list(batch["id"]), "completion": [json.dumps(o.to_dict()) for o in outs]}


@register("ray")
class RayDataTeacher:
    adapters = True  # handed to the inner teacher; refused here at once where it cannot take them

    def __init__(self, cfg: TeacherConfig, seed: int = 0):
        require("ray", "pip install 'selfinstruct[ray]'  (ray[data])")
        self.cfg, self.opts, self.seed = cfg, cfg.ray, seed
        if self.opts.replicas < 1:
            raise ValueError("teacher.ray.replicas must be at least 1")
        inner = cfg.model_dump()
        inner["backend"] = self.opts.inner
        self._inner = inner
        self.name = f"ray:{self.opts.inner}:" + model_label(cfg.model)
        self._started = False

    def _ray(self):
        import ray

        if not ray.is_initialized():
            if self.opts.address:
                ray.init(address=self.opts.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=self.opts.num_cpus,
                    include_dashboard=False,
                    log_to_driver=False,
                    object_store_memory=256 * 2**20,
                )  # requests and texts only: keep it small
            self._started = True
        ray.data.DataContext.get_current().enable_progress_bars = False
        return ray

    def complete(self, requests: list[Request]) -> list[Completion]:
        if not requests:
            return []
        named = next((r.adapter for r in requests if r.adapter), None)
        if named and not takes_adapters(self.opts.inner):
            raise ModelError(
                f"{self.name}: a request names the LoRA adapter {named}, which the inner backend "
                f"{self.opts.inner!r} cannot answer with"
            )
        ray = self._ray()
        rows = [{"id": r.id, "request": json.dumps(asdict(r))} for r in requests]
        # One block per batch, so every replica gets work even on a small chunk.
        ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // self.opts.batch_size)))
        ds = ds.map_batches(
            _Replica,
            batch_size=self.opts.batch_size,
            batch_format="numpy",
            fn_constructor_kwargs={"cfg": self._inner, "seed": self.seed, "threads": self.opts.threads_per_replica},
            compute=ray.data.ActorPoolStrategy(size=self.opts.replicas),
            num_cpus=self.opts.cpus_per_replica,
            num_gpus=self.opts.gpus_per_replica or None,
        )
        by_id = {row["id"]: Completion(**json.loads(row["completion"])) for row in ds.take_all()}
        missing = [r.id for r in requests if r.id not in by_id]
        if missing:
            raise RuntimeError(f"{self.name}: the Ray job returned no row for {len(missing)} requests")
        return [by_id[r.id] for r in requests]

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayDataTeacher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
