"""Small helpers shared by the teacher backends."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ..models import ModelError
from .base import Request


def require(module: str, install: str) -> None:
    """Raises ModelError naming what to install when an optional package is missing."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or the module blanked out
        found = False
    if not found:
        raise ModelError(f"this teacher backend needs the Python package {module!r}: {install}")


def request_seed(req: Request, seed: int) -> int:
    """The sampling seed of one request: its own, or one derived from the run seed and its id.

    Deriving it from the id (not the position) keeps a request's answer the same however the
    step is cut into chunks or batches, and across a relaunch.
    """
    if req.seed is not None:
        return req.seed
    return int(hashlib.sha256(f"{seed}:{req.id}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def model_label(model: str) -> str:
    """A short, path-free name for logs and usage records: gemma3-270m, Qwen2.5-7B-Instruct."""
    return model.split(":", 1)[1] if model.startswith("embedded:") else Path(model.rstrip("/")).name or model


def adapter_label(adapter: str) -> str:
    """An adapter folder's name, as a teacher's name shows it after a "+": student."""
    return Path(adapter.rstrip("/")).name


def truncate_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Cuts `text` at the earliest stop string (which is left out, as vLLM and OpenAI do)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
