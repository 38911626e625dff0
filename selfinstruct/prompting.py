"""Prompts: the one template loader and the one request builder, for every step that asks a model
(generate's steps, the filter's judge, the audit, eval's pairwise judge).

Templates live in prompts/ (or a folder the config names, searched first, so a user can override
one template and keep the rest). A step has a completion-style template for base models,
`<step>.jinja`, and a `<step>_chat.jinja` one for instruction-tuned teachers; the style decides
both the template and the request's form (a text to continue, or one user turn).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from .config import PACKAGE_DIR
from .teachers.base import Request


@lru_cache(maxsize=8)
def _env(folder: str) -> jinja2.Environment:
    paths = [folder] if Path(folder).is_absolute() else [folder, str(PACKAGE_DIR / folder)]
    paths.append(str(PACKAGE_DIR / "prompts"))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths), undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=False
    )


def template(name: str, folder: str = "prompts") -> jinja2.Template:
    """A template by file name (searched in `folder`, then prompts/), or by absolute path."""
    if Path(name).is_absolute():
        return _env(str(Path(name).parent)).get_template(Path(name).name)
    return _env(folder).get_template(name)


def render(folder: str, step: str, style: str, **ctx: Any) -> str:
    return template(f"{step}.jinja" if style == "completion" else f"{step}_chat.jinja", folder).render(**ctx)


def make_request(
    text: str,
    style: str,
    *,
    max_tokens: int,
    temperature: float,
    top_p: float = 1.0,
    stop: list[str] | None = None,
    seed: int | None = None,
    meta: dict[str, Any] | None = None,
    adapter: str | None = None,
) -> Request:
    """A completion request (stop strings apply) or a chat request of one user turn (the chat
    template ends the turn, so no stop strings). adapter: a LoRA folder to answer with (eval)."""
    common: dict[str, Any] = dict(
        max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, meta=dict(meta or {}), adapter=adapter
    )
    if style == "completion":
        return Request(prompt=text, stop=list(stop or []), **common)
    return Request(messages=[{"role": "user", "content": text}], stop=[], **common)
