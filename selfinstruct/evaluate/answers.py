"""Each model's greedy answers to the held-out items, in the student's own prompt format, cached.

Every model answers through a teacher backend (`student.eval_backend`, teachers/): one teacher
on the base model, every trained student a LoRA adapter named per request (Request.adapter), so
the base and all rounds' students are answered by one engine start.
- vllm: the offline engine, all requests of a call at once.
- transformers: the transformers teacher (batches with left padding, adapters unmerged): the
  fallback where vLLM is missing. Its answers are the ones this module's own generate() loop gave.
Both send exactly `format_prompt` (distill/data.py) and clean the answer the same way.

Answers are cached in <cache>/eval/<key>.jsonl, the key a hash of the items, the model's identity
(an adapter's weight bytes; a base model's resolved path, file sizes and times) and the settings
that change an answer. A second eval of the same base on the same held-out file asks no model.
The requests themselves go through run_step into <cache>/eval/requests/, durably chunk by chunk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..config import StudentConfig
from ..distill.data import format_prompt
from ..models import ADAPTER_CONFIG, base_model_of, cache_dir, is_adapter, load_tokenizer, resolve_model
from ..store import write_atomic

Item = tuple[str, str, str]  # instruction, input, reference output
CALL_SIZE = 128  # requests per engine call (two engine batches): the progress bar moves between calls
CALLS = {"vllm": 0, "transformers": 0}  # models answered per backend in this process (tests read it)


def model_identity(path: str | Path | None, cfg: StudentConfig) -> str:
    """What makes a model's answers what they are: an adapter's bytes, or a base model's files."""
    if is_adapter(path):
        h = hashlib.sha256(base_model_of(Path(path), cfg.model).encode())
        for name in (ADAPTER_CONFIG, "adapter_model.safetensors"):
            f = Path(path) / name
            if f.exists():
                h.update(f.read_bytes())
        return "adapter:" + h.hexdigest()[:16]
    folder = Path(resolve_model(str(path) if path else cfg.model))
    stats = (
        sorted(
            (p.name, p.stat().st_size, int(p.stat().st_mtime))
            for p in folder.glob("*")
            if p.suffix in (".json", ".safetensors")
        )
        if folder.is_dir()
        else []
    )
    return "model:" + hashlib.sha256(json.dumps([str(folder), stats]).encode()).hexdigest()[:16]


def cache_key(items: list[Item], identity: str, cfg: StudentConfig) -> str:
    body = json.dumps([items, identity, cfg.eval_max_new_tokens, "greedy", "format_prompt-v1"])
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def _cache_path(key: str) -> Path:
    return cache_dir() / "eval" / f"{key}.jsonl"


def cached(key: str, n: int) -> list[str] | None:
    path = _cache_path(key)
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["answer"] for r in rows] if len(rows) == n else None


def store(key: str, answers: list[str]) -> None:
    write_atomic(_cache_path(key), "".join(json.dumps({"answer": a}, ensure_ascii=False) + "\n" for a in answers))


def clean(text: str, tok: Any) -> str:
    if not tok.chat_template:
        text = text.split("\n### ")[0]  # a base model runs on into the next fallback-template turn
    return text.strip()


def eval_backend(cfg: StudentConfig) -> str:
    """student.eval_backend, or transformers where vLLM is not installed (the documented fallback)."""
    import importlib.util

    return (
        "transformers" if cfg.eval_backend == "vllm" and importlib.util.find_spec("vllm") is None else cfg.eval_backend
    )


def answer_models(
    models: dict[str, str | Path | None],
    items: list[Item],
    cfg: StudentConfig,
    threads: int,
    progress,
    backend: str | None = None,
) -> dict[str, list[str]]:
    """{label: greedy answers}, every model through the teacher path: one teacher per base model, each
    student an adapter on it named per request (a merged student is a base of its own)."""
    backend = backend or eval_backend(cfg)
    CALLS[backend] = CALLS.get(backend, 0) + len(models)
    groups: dict[str, dict[str, str | None]] = {}  # base model -> {label: adapter}
    for label, path in models.items():
        base = base_model_of(Path(path), cfg.model) if is_adapter(path) else str(path or cfg.model)
        groups.setdefault(base, {})[label] = str(path) if is_adapter(path) else None
    out: dict[str, list[str]] = {}
    for base, adapters in groups.items():
        out.update(_answer_on(base, adapters, items, cfg, threads, progress, backend))
    return {label: out[label] for label in models}


def _answer_on(
    base: str,
    adapters: dict[str, str | None],
    items: list[Item],
    cfg: StudentConfig,
    threads: int,
    progress,
    backend: str,
) -> dict[str, list[str]]:
    """One teacher on `base`. Every model's requests go to it together, item by item, in chunks: vLLM
    batches across adapters, and a call ends only once, so few sequences run alone at its tail
    (measured on 96 items: one call 23 s against 32 s in chunks of 32 for the base; base and
    adapter mixed 52 s against 80 s one after the other: LoRA prefill is slow on CPU). The
    transformers teacher answers a chunk adapter by adapter in batches of eval_batch_size, cut from
    each model's items in order, so a chunk holds a multiple of that per model. Chunks go through
    run_step into a store, as generate's steps do: a killed eval asks only what it had not stored."""
    from ..prompting import make_request
    from ..store import ChunkStore
    from ..teachers import run_step

    tok = load_tokenizer(base)
    stop = [] if tok.chat_template else ["\n### "]
    # The student's own prompt format, already applied: sent as text to continue.
    asks = [
        make_request(
            format_prompt(tok, ins, inp),
            "completion",
            max_tokens=cfg.eval_max_new_tokens,
            temperature=0.0,
            stop=stop,
            seed=0,
            adapter=adapter,
            meta={"model": label},
        )
        for ins, inp, _ in items
        for label, adapter in adapters.items()
    ]
    who = {label: model_identity(adapter or base, cfg) for label, adapter in adapters.items()}
    key = hashlib.sha256(json.dumps([who, [r.id for r in asks]]).encode()).hexdigest()[:24]
    if backend == "transformers":
        import torch

        torch.set_num_threads(threads)
    teacher = _Lazy(_teacher_config(backend, base, adapters.values(), cfg))

    def tick(outs, wall: float) -> None:
        for c in outs:
            progress(c.meta["model"], 1)

    try:
        done = run_step(
            teacher,
            asks,
            ChunkStore(cache_dir() / "eval" / "requests" / f"{key}.jsonl"),
            _call_size(backend, len(adapters), cfg.eval_batch_size),
            on_chunk=tick,
        )
    finally:
        teacher.close()
    out: dict[str, list[str]] = {label: [] for label in adapters}
    for c in done:
        out[c.meta["model"]].append(clean(c.text, tok))
    return out


class _Lazy:
    """The eval's teacher, started at the first chunk not yet stored: a resumed eval with every answer
    stored starts no engine."""

    adapters = True  # both eval backends answer with an adapter per request (_teacher_config turns it on)

    def __init__(self, cfg):
        from ..teachers.common import model_label

        self.cfg, self.name, self._teacher = cfg, f"{cfg.backend}:{model_label(cfg.model)}", None

    def complete(self, requests):
        from ..teachers import make_teacher

        self._teacher = self._teacher or make_teacher(self.cfg, seed=0)
        return self._teacher.complete(requests)

    def close(self) -> None:
        if self._teacher is not None:
            self._teacher.close()


def _call_size(backend: str, models: int, batch_size: int) -> int:
    if backend != "transformers":
        return CALL_SIZE
    per_model = max(batch_size, CALL_SIZE // models // batch_size * batch_size)
    return per_model * models


def _teacher_config(backend: str, base: str, adapters, cfg: StudentConfig):
    from ..config import TeacherConfig
    from ..teachers.vllm_engine import lora_rank

    tcfg = TeacherConfig(backend=backend, model=base, prompt_style="completion")
    tcfg.vllm.max_lora_rank = max([lora_rank(a) for a in adapters if a] or [0])
    tcfg.vllm.max_num_seqs, tcfg.vllm.kv_cache_space_gb = 64, 1
    tcfg.transformers.batch_size, tcfg.transformers.device = cfg.eval_batch_size, cfg.device
    return tcfg
