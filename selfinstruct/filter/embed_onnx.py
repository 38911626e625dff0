"""The same sentence embedding through ONNX Runtime, for CPUs: ~1.2x the texts/s of torch for MiniLM
on one thread here (184/s vs 153/s), with vectors equal to sentence-transformers' to ~2e-7.

Only the plain sentence-transformers layout is taken (a Transformer, mean pooling, optionally
Normalize), which covers all-MiniLM-L6-v2 and most embedding models; anything else stays on torch.
The graph is exported once from the loaded model and cached next to the other converted models.
Worker processes load onnxruntime and the tokenizer only: they start in about a second, not the
~5-10 s an import of torch takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np


def model_dim(model) -> int:
    """The sentence embedding size of a sentence-transformers model (the method's name changed in 5.x)."""
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(dim_of())


def supported(model) -> bool:
    """A Transformer (BERT-like: input ids, type ids, mask), mean pooling, and at most a Normalize."""
    kinds = [type(m).__name__ for m in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    names = getattr(model.tokenizer, "model_input_names", [])
    return getattr(model[1], "pooling_mode", None) == "mean" and set(names) == {
        "input_ids",
        "token_type_ids",
        "attention_mask",
    }


def _export_dir(name: str) -> Path:
    """Keyed by the model's files (names, sizes, mtimes): a package update with new weights exports anew."""
    from ..models import cache_dir, resolve_model

    src = Path(resolve_model(name))
    files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else []
    stats = [(str(p.relative_to(src)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return cache_dir() / "onnx" / hashlib.sha256(f"{name}|{src}|{stats}".encode()).hexdigest()[:12]


def cached_spec(name: str) -> dict | None:
    """The spec of an earlier export of this model, without loading it (saves ~5 s of start-up)."""
    path = _export_dir(name) / "spec.json"
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: export (again)
        return None
    return spec if Path(spec.get("onnx", "")).is_file() and Path(spec.get("tokenizer", "")).is_file() else None


def export(model, name: str) -> dict:
    """-> the spec a worker needs (onnx path, tokenizer.json, max length, normalise, dim); exported once."""
    import torch

    tok = model.tokenizer
    tok_dir = _export_dir(name)
    onnx_path = tok_dir / "model.onnx"
    spec = {
        "onnx": str(onnx_path),
        "tokenizer": str(tok_dir / "tokenizer.json"),
        "pad_id": tok.pad_token_id or 0,
        "max_length": int(model[0].max_seq_length),
        "normalize": len(model) == 3,
        "dim": model_dim(model),
    }
    tok_dir.mkdir(parents=True, exist_ok=True)
    tok.backend_tokenizer.save(str(tok_dir / f"tokenizer.{os.getpid()}.tmp"))
    os.replace(tok_dir / f"tokenizer.{os.getpid()}.tmp", tok_dir / "tokenizer.json")

    class Encoder(torch.nn.Module):  # keyword arguments, so the graph's inputs are exactly these
        def __init__(self, bert):
            super().__init__()
            self.bert = bert  # a submodule: its weights are the graph's initializers, not traced constants

        def forward(self, input_ids, token_type_ids, attention_mask):
            return self.bert(
                input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
            ).last_hidden_state

    sample = tok(["an example sentence", "two"], padding=True, return_tensors="pt")
    args = tuple(sample[k] for k in ("input_ids", "token_type_ids", "attention_mask"))
    axes = {k: {0: "batch", 1: "seq"} for k in ("input_ids", "token_type_ids", "attention_mask", "hidden")}
    tmp = onnx_path.with_name(f"model.{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes: it is pinned with torch
        torch.onnx.export(
            Encoder(model[0].auto_model).eval(),
            args,
            str(tmp),
            input_names=["input_ids", "token_type_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, onnx_path)  # whole or absent: a crash mid-export leaves no half graph behind
    (tok_dir / f"spec.{os.getpid()}.tmp").write_text(json.dumps(spec))
    os.replace(tok_dir / f"spec.{os.getpid()}.tmp", tok_dir / "spec.json")  # written last: it marks a whole export
    return spec


class OnnxEncoder:
    def __init__(self, spec: dict, threads: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(spec["onnx"], opts, providers=["CPUExecutionProvider"])
        self.tok = Tokenizer.from_file(spec["tokenizer"])
        self.tok.enable_truncation(spec["max_length"])
        self.tok.enable_padding(pad_id=spec["pad_id"])
        self.normalize, self.dim = spec["normalize"], spec["dim"]

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # As sentence-transformers does: batches of like length (little padding), original order back.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            enc = self.tok.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            types = np.array([e.type_ids for e in enc], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask})[0]
            m = mask[..., None].astype(np.float32)
            vecs = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            if self.normalize:
                vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            out[rows] = vecs
        return out
