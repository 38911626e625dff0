"""The tiers list names real tests, and the unit tier's model guard stops what it should."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from selfinstruct import testing

import model_guard
from tiers import INTEGRATION_TESTS, UNIT_FILES, tier_of

TESTS = Path(__file__).resolve().parent


def test_every_file_and_test_the_tiers_list_names_exists():
    # A renamed file or test would silently fall back to another tier.
    assert sorted(f for f in UNIT_FILES if not (TESTS / f).is_file()) == []
    missing = []
    for entry in sorted(INTEGRATION_TESTS):
        file, test = entry.split("::")
        if file not in UNIT_FILES or not re.search(rf"^def {re.escape(test)}\(", (TESTS / file).read_text(), re.M):
            missing.append(entry)
    assert missing == []


def test_slow_wins_then_the_list_then_integration():
    assert tier_of("test_parse.py", "test_anything", marked_slow=True) == "slow"
    assert tier_of("test_parse.py", "test_anything", marked_slow=False) == "unit"
    file, test = sorted(INTEGRATION_TESTS)[0].split("::")
    assert tier_of(file, test, marked_slow=False) == "integration"
    assert tier_of("test_not_listed_yet.py", "test_anything", marked_slow=False) == "integration"


def test_this_test_is_in_the_unit_tier(request):
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None


def test_a_guarded_loader_raises_and_is_recorded_only_while_forbidden(tmp_path):
    log = tmp_path / "server.log"
    with model_guard.forbidden("inner") as calls, pytest.raises(model_guard.ModelLoadInUnitTest, match="inner"):
        testing.start_vllm_server(log)
    assert calls == ["selfinstruct.testing.start_vllm_server"]
    assert not log.exists()  # stopped before the server was started

    with model_guard.forbidden("outer") as outer:
        with model_guard.forbidden("inner"):
            pass
        with pytest.raises(model_guard.ModelLoadInUnitTest, match="outer"):  # the outer guard is back
            testing.start_vllm_server(log)
    assert outer == ["selfinstruct.testing.start_vllm_server"]


def test_every_loader_is_wrapped_once_its_module_is_imported():
    import importlib

    for module_name, (owner, attr) in model_guard.LOADERS.items():
        module = importlib.import_module(module_name)
        raw = getattr(module, owner).__dict__[attr] if owner else getattr(module, attr)
        assert getattr(getattr(raw, "__func__", raw), "__model_guard__", False), module_name
    # The auto classes reach the guard after reading the config, before the weights.
    from onnxruntime import InferenceSession
    from transformers import AutoModelForCausalLM

    from selfinstruct.models import resolve_model

    path = resolve_model("embedded:smollm2-135m")
    with model_guard.forbidden("probe") as calls:
        with pytest.raises(model_guard.ModelLoadInUnitTest):
            AutoModelForCausalLM.from_pretrained(path)
        with pytest.raises(model_guard.ModelLoadInUnitTest):
            InferenceSession("/no/such/model.onnx")
    assert calls == [
        "transformers.modeling_utils.PreTrainedModel.from_pretrained",
        "onnxruntime.capi.onnxruntime_inference_collection.InferenceSession.__init__",
    ]
