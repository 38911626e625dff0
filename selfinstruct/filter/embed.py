"""Sentence embeddings for the novelty filter: one model per process, big batches spread over processes,
and a per-run cache so a resumed run never re-encodes what it already has (saved in parts: a
save costs what was added).

On CPU, MiniLM at ~20 tokens a text is compute-bound: its matmuls run at ~60-70% of this machine's
fp32 peak. What helps, measured on 2 cores: ONNX Runtime instead of torch (~1.2x, same vectors to
~1e-6; embed_onnx.py), one process per core with one thread each (+10-16% over one process with
two threads), and batches of 32 (+20% over 256). Lower precision was measured and refused: int8
dynamic quantisation moved cosine similarities by up to 0.09 and bf16 by up to 0.004, which flips
near-threshold decisions (3% of the pairs at >= 0.85 for bf16).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..config import NoveltyConfig
from ..records import Task
from ..store import StoreError, write_atomic
from . import embed_onnx  # light: onnxruntime and torch load only when a graph is built or run


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _load(name: str):
    import torch
    from sentence_transformers import SentenceTransformer

    from ..models import resolve_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(resolve_model(name), device=device)


def _st_encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    vecs = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.ascontiguousarray(vecs, dtype=np.float32)


_WORKER: dict = {}  # the model inside a worker process


def _worker_init(name: str, threads: int, onnx_spec: dict | None) -> None:
    # Before torch starts its thread pool: a worker must not spin up threads for cores it doesn't own.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if onnx_spec:
        _WORKER["onnx"] = embed_onnx.OnnxEncoder(onnx_spec, threads)
        return
    import torch

    torch.set_num_threads(threads)
    _WORKER["model"] = _load(name)


def _worker_encode(texts: list[str], batch_size: int) -> np.ndarray:
    if "onnx" in _WORKER:
        return _WORKER["onnx"].encode(texts, batch_size)
    return _st_encode(_WORKER["model"], texts, batch_size)


def _onnx_spec(embedder: Embedder, backend: str) -> dict | None:
    """The ONNX export of the model when asked for and possible (plain layout, onnxruntime there)."""
    import importlib.util

    if backend != "onnx" or importlib.util.find_spec("onnxruntime") is None:
        return None
    spec = embed_onnx.cached_spec(embedder.name)
    if spec is None and embed_onnx.supported(embedder.model):
        spec = embed_onnx.export(embedder.model, embedder.name)
    return spec


class Embedder:
    """A sentence-transformers model; `encoded` counts texts embedded (the cache's saving shows there).
    Calls of at least `parallel_above` texts on CPU are spread over `workers` processes."""

    def __init__(
        self, name: str, batch_size: int = 32, workers: int = 1, parallel_above: int = 5000, backend: str = "onnx"
    ):
        import torch

        self.name, self.batch_size, self.encoded = name, batch_size, 0
        self._model: Any = None
        on_gpu = torch.cuda.is_available()  # then one process, on torch: the GPU is the speed-up
        self.workers = 1 if on_gpu else (workers or usable_cores())
        self.parallel_above = parallel_above
        self.onnx_spec = None if on_gpu else _onnx_spec(self, backend)
        self.backend = "onnx" if self.onnx_spec else "torch"
        self.dim = self.onnx_spec["dim"] if self.onnx_spec else embed_onnx.model_dim(self.model)
        self._onnx: embed_onnx.OnnxEncoder | None = None
        self._pool: ProcessPoolExecutor | None = None

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use (an earlier ONNX export spares it)."""
        if self._model is None:
            self._model = _load(self.name)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.workers > 1 and len(texts) >= self.parallel_above:
            try:
                return self._encode_parallel(texts)
            except BrokenProcessPool as e:
                # Typically a script without `if __name__ == "__main__":` (spawned workers re-run it).
                warnings.warn(f"embedding workers failed ({e}); encoding in this process from now on", stacklevel=2)
                if self._pool is not None:
                    self._pool.shutdown(cancel_futures=True)
                self._pool, self.workers = None, 1
        if self.onnx_spec:
            if self._onnx is None:
                self._onnx = embed_onnx.OnnxEncoder(self.onnx_spec, _torch_threads())
            return self._onnx.encode(texts, self.batch_size)
        return _st_encode(self.model, texts, self.batch_size)

    def _encode_parallel(self, texts: list[str]) -> np.ndarray:
        # Length-sorted batches, dealt out in turn: every worker gets as many long texts as short ones,
        # and a batch holds texts of like length (little padding), as sentence-transformers does itself.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        shares = [share for w in range(self.workers) if (share := [i for b in batches[w :: self.workers] for i in b])]
        if self._pool is None:
            threads = max(1, usable_cores() // self.workers)
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_worker_init,
                initargs=(self.name, threads, self.onnx_spec),
            )
            atexit.register(self._pool.shutdown, cancel_futures=True)
        futures = [self._pool.submit(_worker_encode, [texts[i] for i in share], self.batch_size) for share in shares]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for share, fut in zip(shares, futures):
            out[share] = fut.result()
        return out


def _torch_threads() -> int:
    import torch  # the process's thread setting (run.threads) holds for ONNX Runtime as well

    return torch.get_num_threads()


@lru_cache(maxsize=4)
def get_embedder(
    name: str, batch_size: int = 32, workers: int = 0, parallel_above: int = 5000, backend: str = "onnx"
) -> Embedder:
    """One loaded model per process: every generate round reuses it."""
    return Embedder(name, batch_size, workers, parallel_above, backend)


def embedder_for(cfg: NoveltyConfig) -> Embedder:
    return get_embedder(cfg.embedder, cfg.batch_size, cfg.embed_workers, cfg.embed_parallel_above, cfg.embed_backend)


def embed_text(task: Task, embed_input: bool) -> str:
    first_input = task.instances[0].input.strip() if task.instances else ""
    return f"{task.instruction}\n{first_input}" if embed_input and first_input else task.instruction


_UNSAVED: set[Path] = set()  # caches whose save failed (a full disk): not tried again


class Rows:
    """float32 rows appended at the end, in a buffer that doubles when full: appending n rows costs
    O(n) amortised, not a copy of everything held (np.concatenate per batch was)."""

    def __init__(self) -> None:
        self._buf = np.zeros((0, 0), dtype=np.float32)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self.n]

    def append(self, vecs: np.ndarray) -> None:
        size = self.n + len(vecs)
        if size > len(self._buf) or self._buf.shape[1] != vecs.shape[1]:
            grown = np.empty((max(size, 2 * self.n, 256), vecs.shape[1]), dtype=np.float32)
            if self.n:
                grown[: self.n] = self._buf[: self.n]
            self._buf = grown
        self._buf[self.n : size] = vecs
        self.n = size


class EmbeddingCache:
    """Vectors keyed by a hash of the embedded text (an edited task is embedded again), in a folder
    per embedder setting. Each add writes one more part file, atomically: a save costs what was
    added, not the whole cache, and a crash leaves every earlier part whole. A part that cannot be
    read is skipped (its vectors are recomputed): it is only a cache."""

    def __init__(self, directory: Path, cfg: NoveltyConfig):
        tag = hashlib.sha256(f"{cfg.embedder}|{cfg.embed_input}".encode()).hexdigest()[:10]
        self.path = Path(directory) / f"embeddings-{tag}"
        self.keys: list[str] = []
        self.row: dict[str, int] = {}
        self._rows = Rows()
        legacy = Path(directory) / f"embeddings-{tag}.npz"  # one file, as runs before parts wrote it
        parts = sorted(self.path.glob("*.npz")) if self.path.is_dir() else []
        self.next_part = max((int(p.stem) for p in parts if p.stem.isdigit()), default=-1) + 1
        for part in ([legacy] if legacy.exists() else []) + parts:
            try:
                with np.load(part, allow_pickle=False) as z:
                    keys, vecs = [str(k) for k in z["keys"]], z["vecs"]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                continue
            self._append(keys, vecs)

    @property
    def vecs(self) -> np.ndarray:
        return self._rows.view

    def lookup(self, keys: list[str]) -> list[int | None]:
        return [self.row.get(k) for k in keys]

    def _append(self, keys: list[str], vecs: np.ndarray) -> None:
        self._rows.append(vecs)
        for k in keys:
            self.row[k] = len(self.keys)
            self.keys.append(k)

    def add(self, keys: list[str], vecs: np.ndarray) -> None:
        if not keys:
            return
        self._append(keys, vecs)
        if self.path in _UNSAVED:
            return
        part = self.path / f"{self.next_part:06d}.npz"
        try:
            write_atomic(part, lambda tmp: _save(tmp, keys, vecs))
            self.next_part += 1
        except StoreError as e:
            # Only a cache: the run goes on with the vectors in memory, and a write it cannot do
            # without (a teacher chunk, stats) stops it with its own one-line error. Warned once.
            _UNSAVED.add(self.path)
            from rich.console import Console
            from rich.markup import escape

            Console(stderr=True, soft_wrap=True).print(
                f"[yellow]warning:[/] {escape(str(e))} The embedding cache is not saved again in this process.",
                highlight=False,
            )


def _save(tmp: Path, keys: list[str], vecs: np.ndarray) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, keys=np.array(keys), vecs=vecs)
        f.flush()
        os.fsync(f.fileno())


def embed_tasks(tasks: list[Task], cfg: NoveltyConfig, cache: EmbeddingCache | None = None) -> np.ndarray:
    """(n, dim) float32 unit vectors; cached ones are read, only the others are encoded (in one batch)."""
    texts = [embed_text(t, cfg.embed_input) for t in tasks]
    embedder = embedder_for(cfg)
    if cache is None:  # each distinct text is encoded once
        row = {x: i for i, x in enumerate(dict.fromkeys(texts))}
        return embedder.encode(list(row))[[row[x] for x in texts]]
    # Keyed by the embedded text alone: a task whose id changes (instances added) is not encoded again.
    keys = [hashlib.sha1(x.encode()).hexdigest()[:20] for x in texts]
    todo: dict[str, int] = {}  # key -> first position; the same task twice is encoded once
    for i, (k, r) in enumerate(zip(keys, cache.lookup(keys))):
        if r is None and k not in todo:
            todo[k] = i
    cache.add(list(todo), embedder.encode([texts[i] for i in todo.values()]))
    # cast: every key is in the cache now (added just above), so lookup finds a row for each
    return cache.vecs[cast(list[int], cache.lookup(keys))] if tasks else np.zeros((0, embedder.dim), np.float32)
