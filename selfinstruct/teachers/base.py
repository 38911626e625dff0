"""The one teacher interface: a batch of requests in, completions out.

Every backend (vLLM engine, OpenAI-compatible server, local transformers) implements
`Teacher.complete(requests) -> completions`, same order, one completion per request, with
token counts and a finish reason. A request that failed for good comes back with
finish_reason "error" and the reason in `error`: a step never dies on one bad answer, only
when every one of its requests failed (TeacherError, with the first reason).

`run_step` is how the pipeline calls a teacher: it cuts the step's requests into chunks,
skips chunks already committed in the step's store (so a relaunch never asks the teacher
again for a finished prompt), and appends each finished chunk durably with token accounting.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..store import ChunkStore, asked_log, usage_store, write_error


@dataclass
class Request:
    prompt: str | None = None  # completion style (base models)
    messages: list[dict[str, str]] | None = None  # chat style (instruction-tuned models)
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # carried through untouched (e.g. task ids)
    id: str = ""
    adapter: str | None = None  # a LoRA adapter folder of the teacher's model to answer with (Teacher.adapters)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a request has either a prompt or messages")
        if not self.id:
            body = [
                self.prompt,
                self.messages,
                self.max_tokens,
                self.temperature,
                self.top_p,
                self.stop,
                self.seed,
                self.meta,
            ] + ([self.adapter] if self.adapter else [])
            self.id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Completion:
    request_id: str
    text: str
    finish_reason: str  # "stop", "length", or "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Teacher(Protocol):
    name: str
    # Whether it answers a request's LoRA adapter (Request.adapter); one that cannot raises a ModelError
    # naming the adapter rather than answer with the plain model.
    adapters: bool

    def complete(self, requests: list[Request]) -> list[Completion]: ...

    def close(self) -> None: ...

    # Optional: `status() -> {"in_flight": 8}`, live figures for the progress line (openai backend).


class TeacherError(RuntimeError):
    """Every request of a step failed: the teacher is down or refuses everything, and going on
    would only make an empty round (Curator #213: a user saw nothing but an empty file)."""


# The kind of a failed request, for the round table: first pattern that matches its error text.
ERROR_KINDS = [
    ("prompt too long", re.compile(r"longer than the maximum model length|maximum context length|too long", re.I)),
    ("timeout", re.compile(r"time ?out|timed out", re.I)),
    ("rate limited", re.compile(r"\b429\b|rate limit", re.I)),
    ("connection", re.compile(r"connect", re.I)),
    ("server error", re.compile(r"\b5\d\d\b", re.I)),
]


def error_kind(message: str | None) -> str:
    return next((kind for kind, pattern in ERROR_KINDS if pattern.search(message or "")), "other")


def chunk_key(requests: list[Request]) -> str:
    return hashlib.sha256("".join(r.id for r in requests).encode()).hexdigest()[:16]


def _log_asked(store: ChunkStore, chunk: list[Request]) -> None:
    """An audit trail of what was sent to the teacher, by which process: it shows that a relaunch
    never re-asks a committed prompt (only the chunk in flight at a crash is asked again)."""
    path = asked_log(store)
    try:
        with open(path, "a") as f:
            f.writelines(f"{os.getpid()} {r.id}\n" for r in chunk)
    except OSError as e:
        raise write_error(path, e) from None


def run_step(
    teacher: Teacher,
    requests: list[Request],
    store: ChunkStore,
    chunk_size: int,
    on_chunk: Callable[[list[Completion], float], None] | None = None,
) -> list[Completion]:
    """Answers `requests` through `teacher`, chunk by chunk, durably; returns all completions in order.

    Committed chunks are read back, not re-asked. Token usage and wall time of every chunk are
    stored beside the completions in the store's usage sidecar (store.usage_store).
    """
    usage = usage_store(store)
    # On a relaunch, requests whose stored answer is an error are asked once more.
    last = {row["request_id"]: row["finish_reason"] for row in store}
    retry = [r for r in requests if last.get(r.id) == "error"]
    chunks = [requests[i : i + chunk_size] for i in range(0, len(requests), chunk_size)]
    chunks += [retry[i : i + chunk_size] for i in range(0, len(retry), chunk_size)]
    for n, chunk in enumerate(chunks):
        key = chunk_key(chunk)
        if n >= len(chunks) - (len(retry) + chunk_size - 1) // chunk_size:
            key = f"retry{len(store.chunks)}-{key}"
        if store.has(key):
            continue
        _log_asked(store, chunk)
        t0 = time.perf_counter()
        outs = teacher.complete(chunk)
        wall = time.perf_counter() - t0
        for req, out in zip(chunk, outs):
            out.meta = {**req.meta, **out.meta}
        store.write_chunk(key, [o.to_dict() for o in outs])
        usage.write_chunk(
            key,
            [
                {
                    "teacher": teacher.name,
                    "requests": len(chunk),
                    "wall_s": round(wall, 3),
                    "prompt_tokens": sum(o.prompt_tokens for o in outs),
                    "completion_tokens": sum(o.completion_tokens for o in outs),
                    "errors": sum(o.finish_reason == "error" for o in outs),
                    "truncated": sum(o.finish_reason == "length" for o in outs),
                }
            ],
        )
        if on_chunk:
            on_chunk(outs, wall)
    by_id = {}
    for row in store:  # later rows (retries) override earlier ones
        by_id[row["request_id"]] = Completion(**row)
    outs = [by_id[r.id] for r in requests if r.id in by_id]
    # A prompt too long fails alone (a 100 KB seed): the round goes on without it and names it.
    if outs and all(o.finish_reason == "error" and error_kind(o.error) != "prompt too long" for o in outs):
        raise _all_failed(teacher, store, outs)
    return outs


def _all_failed(teacher: Teacher, store: ChunkStore, outs: list[Completion]) -> TeacherError:
    # Stored first, so nothing is lost: a relaunch asks exactly these again.
    error = " ".join((outs[0].error or "no reason given").split())
    error = error if len(error) <= 400 else error[:400] + "..."
    return TeacherError(
        f"teacher {teacher.name}: every request of step {store.path.stem!r} failed ({len(outs)} of "
        f"{len(outs)}): {error} (kept in {store.path}: a relaunch asks them again)"
    )
