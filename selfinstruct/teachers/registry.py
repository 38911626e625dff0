"""The teacher backends by name. A backend is one file that registers its class:

    @register("echo")
    class EchoTeacher:
        adapters = False  # it cannot answer with a LoRA adapter (Request.adapter): make_teacher refuses one
        def __init__(self, cfg: TeacherConfig, seed: int = 0): ...
        def complete(self, requests): ...
        def close(self): ...

A module of this package is found and imported the first time the registry is read, so a new
backend here needs no other edit; one elsewhere (a plugin, a test) registers itself when it is
imported. `teacher.backend` is checked against these names when the config loads.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..models import ModelError
from .base import Completion, Request, Teacher
from .common import adapter_label

BACKENDS: dict[str, type] = {}
_found = False


def register(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        if BACKENDS.get(name, cls) is not cls:
            raise ValueError(
                f"teacher backend {name!r} is registered twice ({BACKENDS[name].__module__}, {cls.__module__})"
            )
        BACKENDS[name] = cls
        return cls

    return add


def _discover() -> None:
    """Imports every backend module of this package once. They import their heavy packages (vllm,
    torch, httpx) only when a teacher is made, so this costs milliseconds."""
    global _found
    if _found:
        return
    _found = True
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__package__}.{mod.name}")


def backend_names() -> list[str]:
    _discover()
    return sorted(BACKENDS)


def backend_class(name: str) -> type:
    _discover()
    if name not in BACKENDS:
        raise ValueError(f"unknown teacher backend {name!r}; known: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]


def takes_adapters(name: str) -> bool:
    """Whether the backend answers a request's LoRA adapter (its class says `adapters = True`)."""
    return bool(getattr(backend_class(name), "adapters", False))


def make_teacher(cfg: Any, seed: int = 0) -> Teacher:
    """The backend `cfg.backend` names; with `cfg.adapter`, every request it gets without an adapter of
    its own is answered with that one."""
    cls = backend_class(cfg.backend)
    if cfg.adapter and not takes_adapters(cfg.backend):
        raise ModelError(
            f"teacher backend {cfg.backend!r} cannot answer with a LoRA adapter (teacher.adapter: "
            f"{cfg.adapter}); use one that can: {', '.join(n for n in BACKENDS if takes_adapters(n))}"
        )
    teacher = cls(cfg, seed)
    return WithAdapter(teacher, cfg.adapter) if cfg.adapter else teacher


class WithAdapter:
    """A teacher whose requests default to one adapter (the student_teacher loop's student). A request
    keeps its id: the step stores of a round are the same whichever model answers them."""

    adapters = True

    def __init__(self, teacher: Teacher, adapter: str):
        self.teacher, self.adapter = teacher, adapter
        self.name = f"{teacher.name}+{adapter_label(adapter)}"  # transformers:gemma3-270m+student

    def complete(self, requests: list[Request]) -> list[Completion]:
        return self.teacher.complete([r if r.adapter else replace(r, adapter=self.adapter) for r in requests])

    def close(self) -> None:
        self.teacher.close()

    def __getattr__(self, attr: str) -> Any:  # status() and the like, where the backend has them
        if attr == "teacher":
            raise AttributeError(attr)
        return getattr(self.teacher, attr)

    def __enter__(self) -> WithAdapter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
