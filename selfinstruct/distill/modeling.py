"""Loading the student: the base model, a trained adapter on top of it, or a merged model.

Device and precision are chosen per device, never taken from trl's defaults: on CPU float32
(bfloat16 is ~5x slower on this CPU, and trl's default bf16 + gradient checkpointing made a
step 20x slower), on CUDA bfloat16.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..config import StudentConfig
from ..models import resolve_model


def pick_device(cfg: StudentConfig) -> str:
    import torch

    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.device


def model_dtype(device: str):
    import torch

    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_base(model_name: str, device: str, place: bool = True):
    """Model and tokenizer; `place=False` leaves the model where it loaded, for the Trainer to place
    (under `accelerate launch` each process puts it on its own GPU)."""
    from transformers import AutoModelForCausalLM

    from .data import load_tokenizer

    path = resolve_model(model_name)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=model_dtype(device))
    return (model.to(device) if place else model), load_tokenizer(path)


def base_model_of(student_dir: Path, default: str) -> str:
    """The base model a saved student was trained from (its resolved config says), else `default`."""
    from ..round_dir import STUDENT_CONFIG

    cfg_path = Path(student_dir) / STUDENT_CONFIG
    if cfg_path.exists():
        data = yaml.safe_load(cfg_path.read_text()) or {}
        name = (data.get("student") or {}).get("model")
        if name:
            return name
    adapter_cfg = Path(student_dir) / "adapter_config.json"
    if adapter_cfg.exists():
        return json.loads(adapter_cfg.read_text()).get("base_model_name_or_path") or default
    return default


def load_student(path: str | Path | None, cfg: StudentConfig, device: str | None = None) -> tuple[Any, Any]:
    """None -> the base student; a dir with an adapter -> base + adapter; a model dir -> that model.

    Returned in eval mode on `device`.
    """
    device = device or pick_device(cfg)
    if path is None:
        model, tok = load_base(cfg.model, device)
    elif (Path(path) / "adapter_config.json").exists():
        from peft import PeftModel

        model, tok = load_base(base_model_of(Path(path), cfg.model), device)
        model = PeftModel.from_pretrained(model, str(path)).to(device)
    else:
        model, tok = load_base(str(path), device)
    model.eval()
    return model, tok
