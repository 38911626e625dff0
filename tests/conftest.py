"""Shared test setup: offline, threads set deliberately, real small models.

Nothing here mocks a component: tests use the embedded models, a real faiss index, a real vLLM
engine and server. Tests that start engines or train are marked `slow`; run the fast ones
alone with `pytest -m "not slow"`.
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

# In the repo so a clean clone runs every test that needs the public seeds (provenance: fixtures/README.md).
from selfinstruct.testing import PUBLIC_SEEDS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(THREADS)


@pytest.fixture
def public_seeds() -> Path:
    return PUBLIC_SEEDS
