"""Shared test setup: offline, threads set deliberately, real small models, and the test tiers.

Nothing here mocks a component: tests use the embedded models, a real faiss index, a real vLLM
engine and server. Every test is in one tier, `unit`, `integration` or `slow` (tests/tiers.py
says which); `pytest -m unit` is the under-a-minute loop, and a unit test that loads a model fails
(tests/model_guard.py).
"""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports transformers / huggingface_hub: never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
# 2 cores: one pytest process uses both; torch slows 5-10x if it over-subscribes them.
THREADS = int(os.environ.get("SELFINSTRUCT_TEST_THREADS", "2"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
# Tests start servers and subprocesses beside this one: spinning OpenMP threads made torch
# forwards 5-10x slower whenever another process held a core (measured: 18-27 s vs 2-3 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

import model_guard  # noqa: E402
from tiers import UNIT_FILES, tier_of  # noqa: E402

# Before anything below imports the package, so that its engine entry points are wrapped too.
model_guard.install()

# In the repo so a clean clone runs every test that needs the public seeds (provenance: fixtures/README.md).
from selfinstruct.testing import PUBLIC_SEEDS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True, scope="session")
def _torch_threads(request):
    if request.config.option.markexpr == "unit":
        return  # it runs no model: importing torch (seconds here) would only slow the tier down
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(THREADS)


@pytest.fixture
def public_seeds() -> Path:
    return PUBLIC_SEEDS


def pytest_ignore_collect(collection_path, config):
    # `-m unit` alone: files with no unit test are not even imported (their imports cost seconds).
    if config.option.markexpr == "unit" and collection_path.suffix == ".py":
        return collection_path.name.startswith("test_") and collection_path.name not in UNIT_FILES or None
    return None


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        slow = item.get_closest_marker("slow") is not None
        item.add_marker(tier_of(item.path.name, item.originalname, slow))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _no_model_in_unit(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _no_model_in_unit(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    return (yield from _no_model_in_unit(item))


def _no_model_in_unit(item):
    # Around each phase, fixtures included: a module fixture that loads a model fails the unit test too.
    if item.get_closest_marker("unit") is None:
        return (yield)
    with model_guard.forbidden(item.nodeid) as calls:
        try:
            return (yield)
        finally:
            # Also when the code caught the guard's error and failed otherwise, or did not fail at all.
            if calls:
                pytest.fail(
                    f"the unit tier loads no model, but this test called {sorted(set(calls))}: "
                    "list it as integration in tests/tiers.py",
                    pytrace=False,
                )
