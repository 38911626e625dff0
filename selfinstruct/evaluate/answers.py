"""Each model's greedy answers to the held-out items, in the student's own prompt format, cached.

Backends (`student.eval_backend`):
- vllm: one engine for the base model; every trained student is a LoRA adapter named per request,
  so the base and all rounds' students are answered by one engine start.
- transformers: `generate()` with left padding, batch by batch: the fallback where vLLM is missing.
Both send exactly `format_prompt` (distill/data.py) and clean the answer the same way.

Answers are cached in <cache>/eval/<key>.jsonl, the key a hash of the items, the model's identity
(an adapter's weight bytes; a base model's resolved path, file sizes and times) and the settings
that change an answer. A second eval of the same base on the same held-out file asks no model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..config import StudentConfig
from ..distill.data import format_prompt
from ..models import (ADAPTER_CONFIG, base_model_of, cache_dir, is_adapter, load_student, load_tokenizer,
                      pick_device, resolve_model)
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
    stats = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in folder.glob("*")
                   if p.suffix in (".json", ".safetensors")) if folder.is_dir() else []
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


def answer_vllm(models: dict[str, str | Path | None], items: list[Item], cfg: StudentConfig, threads: int,
                progress) -> dict[str, list[str]]:
    """One engine on the base model; each student an adapter on it. -> {label: answers}.

    Every model's requests go to the engine together, item by item, in calls of CALL_SIZE: vLLM
    batches across adapters, and a call ends only once, so few sequences run alone at its tail
    (measured on 96 items: one call 23 s against 32 s in chunks of 32 for the base; base and
    adapter mixed 52 s against 80 s one after the other: LoRA prefill is slow on CPU)."""
    from ..config import TeacherConfig
    from ..prompting import make_request
    from ..teachers.vllm_engine import VllmTeacher, lora_rank

    adapters = {label: str(p) for label, p in models.items() if p is not None}
    bases = {base_model_of(Path(p), cfg.model) for p in adapters.values()}
    if len(bases - {cfg.model}) or not all(is_adapter(p) for p in adapters.values()):
        raise ValueError("the vllm eval path takes LoRA adapters of student.model; use eval_backend=transformers")
    tok = load_tokenizer(cfg.model)
    prompts = [format_prompt(tok, ins, inp) for ins, inp, _ in items]
    tcfg = TeacherConfig(backend="vllm", model=cfg.model, prompt_style="completion")
    tcfg.vllm.max_lora_rank = max([lora_rank(p) for p in adapters.values()] or [0])
    tcfg.vllm.max_num_seqs, tcfg.vllm.kv_cache_space_gb = 64, 1
    stop = [] if tok.chat_template else ["\n### "]
    # The student's own prompt format, already applied: sent as text to continue.
    asks = [(label, make_request(p, "completion", max_tokens=cfg.eval_max_new_tokens, temperature=0.0, stop=stop,
                                 seed=0, adapter=str(path) if path else None))
            for p in prompts for label, path in models.items()]
    out: dict[str, list[str]] = {label: [] for label in models}
    CALLS["vllm"] += len(models)
    with VllmTeacher(tcfg, seed=0) as engine:
        for i in range(0, len(asks), CALL_SIZE):
            part = asks[i:i + CALL_SIZE]
            for (label, _), c in zip(part, engine.complete([r for _, r in part])):
                out[label].append(clean(c.text, tok))
            for label in models:
                progress(label, sum(lb == label for lb, _ in part))
    return out


def answer_transformers(models: dict[str, str | Path | None], items: list[Item], cfg: StudentConfig,
                        threads: int, progress) -> dict[str, list[str]]:
    import torch

    torch.set_num_threads(threads)
    CALLS["transformers"] += len(models)
    out = {}
    for label, path in models.items():
        model, tok = load_student(path, cfg.model, pick_device(cfg.device))
        out[label] = generate_answers(model, tok, items, max_new_tokens=cfg.eval_max_new_tokens,
                                      batch_size=cfg.eval_batch_size, on_batch=lambda n, lb=label: progress(lb, n))
        del model
    return out


def generate_answers(model: Any, tok: Any, items: list[Item], *, max_new_tokens: int = 128,
                     batch_size: int = 8, on_batch=None) -> list[str]:
    """Greedy answers, batched with left padding (the answer must start right after the prompt)."""
    import torch

    device = next(model.parameters()).device
    tok.padding_side = "left"
    answers: list[str] = []
    for i in range(0, len(items), batch_size):
        prompts = [format_prompt(tok, ins, inp) for ins, inp, _ in items[i:i + batch_size]]
        enc = tok(prompts, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        answers += [clean(tok.decode(row, skip_special_tokens=True), tok) for row in out[:, enc["input_ids"].shape[1]:]]
        if on_batch:
            on_batch(len(prompts))
    return answers
