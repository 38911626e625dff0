"""The unit tier's promise, checked: a test in it loads no model and starts no engine.

Each entry point below loads model weights or starts an inference engine. `install()` wraps them
as their modules are imported (an import hook, so that importing torch or vllm costs nothing until
a test does it) and `forbidden()` makes every call to one, while it is active, raise and be
recorded: the raise stops the load at once, the record fails the test even where code catches the
error and falls back (the embedder falls back from ONNX to sentence-transformers).

What it cannot see: a model loaded by a child process the test starts (`python -m selfinstruct.cli
...`). Such tests take seconds and belong to the integration tier anyway (tests/tiers.py).
"""

from __future__ import annotations

import functools
import importlib.abc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# module -> (class or None for a module-level function, attribute)
LOADERS: dict[str, tuple[str | None, str]] = {
    "transformers.modeling_utils": ("PreTrainedModel", "from_pretrained"),  # every AutoModel*, peft's base
    "sentence_transformers.sentence_transformer.model": ("SentenceTransformer", "__init__"),
    "onnxruntime.capi.onnxruntime_inference_collection": ("InferenceSession", "__init__"),
    "vllm.entrypoints.llm": ("LLM", "__init__"),
    "selfinstruct.teachers.vllm_engine": ("VllmTeacher", "_start_host"),  # the engine's host process
    "selfinstruct.teachers.ray_data": ("RayDataTeacher", "__init__"),  # Ray workers that each load the model
    "selfinstruct.testing": (None, "start_vllm_server"),
}


class ModelLoadInUnitTest(RuntimeError):
    pass


_active: str | None = None  # the node id of the unit test running now
_calls: list[str] = []  # loader calls while it ran


def _guarded(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _active is not None:
            _calls.append(name)
            raise ModelLoadInUnitTest(
                f"{_active} is in the unit tier but called {name}, which loads a model "
                "or starts an engine: list it as integration in tests/tiers.py"
            )
        return fn(*args, **kwargs)

    wrapper.__model_guard__ = True
    return wrapper


def _patch(module) -> None:
    owner_name, attr = LOADERS[module.__name__]
    owner = getattr(module, owner_name) if owner_name else module
    raw = owner.__dict__[attr] if owner_name else getattr(module, attr)
    if getattr(getattr(raw, "__func__", raw), "__model_guard__", False):
        return
    name = f"{module.__name__}.{owner_name + '.' if owner_name else ''}{attr}"
    if isinstance(raw, classmethod):
        setattr(owner, attr, classmethod(_guarded(name, raw.__func__)))
    else:
        setattr(owner, attr, _guarded(name, raw))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in LOADERS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module)

        # On the loader instance (one per module file), so the module keeps its real loader type.
        loader.exec_module = exec_module
        return spec


def install() -> None:
    if not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
    for name in LOADERS:
        if name in sys.modules:
            _patch(sys.modules[name])


@contextmanager
def forbidden(test: str) -> Iterator[list[str]]:
    """While active, loader calls raise ModelLoadInUnitTest; yields the (live) list of those calls."""
    global _active, _calls
    outer = _active, _calls
    _active, _calls = test, []
    try:
        yield _calls
    finally:
        _active, _calls = outer
