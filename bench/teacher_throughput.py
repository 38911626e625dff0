"""Teacher throughput: generated tokens/s of each backend on the same prompts, next to raw vLLM.

    .venv/bin/python bench/teacher_throughput.py                       # embedded:gemma3-270m, 32 x 128 tokens
    .venv/bin/python bench/teacher_throughput.py --model embedded:smollm2-135m --repeats 1

Backends: our vllm path (engine in its own process group), the openai path against a local
vLLM OpenAI server, and the transformers backend; raw `vllm.LLM.generate` (same engine
arguments, same sampling, same per-request seeds) is measured in the same run, and also
raw_default: vLLM's default scheduler (chunked prefill), unseeded, which is what our CPU
setting (whole prefills, so seeds work) gives up. Every run
ignores EOS so each answer is exactly --max-tokens long and the backends produce equal token
counts. Each is warmed up first and timed --repeats times; the best run counts (the machine is
shared, so slower runs are mostly other people's load). Goal: vllm_vs_raw >= 0.95 and
vllm_vs_transformers >= 1.5. Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")

from selfinstruct.config import TeacherConfig  # noqa: E402
from selfinstruct.models import resolve_model  # noqa: E402
from selfinstruct.teachers import Request, make_teacher  # noqa: E402
from selfinstruct.teachers.common import request_seed  # noqa: E402
from selfinstruct.testing import PUBLIC_SEEDS as SEEDS  # noqa: E402

SEED = 0


def make_prompts(n: int, max_tokens: int) -> list[Request]:
    """Self-Instruct-style instruction-generation prompts: 8 seed tasks, then an open slot."""
    tasks = [json.loads(line)["instruction"] for line in SEEDS.read_text().splitlines() if line.strip()]
    reqs = []
    for i in range(n):
        shown = random.Random(i).sample(tasks, 8)
        body = "".join(f"{k + 1}. Instruction: {t.strip()}\n" for k, t in enumerate(shown))
        reqs.append(
            Request(
                prompt="Come up with a series of tasks:\n" + body + "9. Instruction:",
                max_tokens=max_tokens,
                temperature=0.7,
                top_p=0.9,
            )
        )
    return reqs


def teacher_cfg(args: argparse.Namespace, backend: str, **extra) -> TeacherConfig:
    return TeacherConfig(
        backend=backend,
        model=args.model,
        ignore_eos=True,
        vllm={"enforce_eager": True, "max_model_len": 2048, "max_num_seqs": args.prompts, "kv_cache_space_gb": 2},
        transformers={"batch_size": args.prompts},
        **extra,
    )


def timed(run, reqs: list[Request], repeats: int) -> dict:
    run(reqs[:4])  # warm-up: first calls allocate and compile kernels
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        tokens = run(reqs)
        wall = time.perf_counter() - t0
        if best is None or tokens / wall > best["tok_s"]:
            best = {"tokens": tokens, "wall_s": round(wall, 2), "tok_s": round(tokens / wall, 1)}
    return best


def via_teacher(cfg: TeacherConfig, reqs: list[Request], repeats: int) -> dict:
    with make_teacher(cfg, seed=SEED) as teacher:

        def run(batch):
            out = teacher.complete(batch)
            bad = [c.error for c in out if c.finish_reason == "error"]
            assert not bad, bad[:3]
            return sum(c.completion_tokens for c in out)

        return timed(run, reqs, repeats)


def raw_worker(args: argparse.Namespace) -> None:
    """Raw vLLM in this process: vllm.LLM(...).generate on the same prompts; prints one JSON line."""
    from vllm import LLM, SamplingParams
    from vllm.platforms import current_platform

    from selfinstruct.teachers._vllm_host import platform_kwargs
    from selfinstruct.teachers.vllm_engine import engine_kwargs

    cfg = teacher_cfg(args, "vllm")
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cfg.vllm.kv_cache_space_gb)
    kwargs = platform_kwargs(engine_kwargs(cfg, SEED), current_platform.is_cpu())
    if args.raw_worker == "default":
        # vLLM's own scheduler defaults (chunked prefill on), which on vllm-cpu only work unseeded.
        kwargs.pop("enable_chunked_prefill", None)
        kwargs.pop("max_num_batched_tokens", None)
    llm = LLM(**kwargs)

    def run(batch):
        params = [
            SamplingParams(
                temperature=r.temperature,
                top_p=r.top_p,
                max_tokens=r.max_tokens,
                seed=None if args.raw_worker == "default" else request_seed(r, SEED),
                ignore_eos=True,
            )
            for r in batch
        ]
        outs = llm.generate([r.prompt for r in batch], params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outs)

    print("RAW " + json.dumps(timed(run, make_prompts(args.prompts, args.max_tokens), args.repeats)), flush=True)


def in_own_group(cmd: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "wb") if log else subprocess.PIPE
    return subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT if log else None, env=env, start_new_session=True, text=log is None
    )


def end_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # vLLM's engine processes go with it
    except ProcessLookupError:
        pass
    proc.wait()


def raw(args: argparse.Namespace, mode: str = "same") -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--raw-worker",
        mode,
        "--model",
        args.model,
        "--prompts",
        str(args.prompts),
        "--max-tokens",
        str(args.max_tokens),
        "--repeats",
        str(args.repeats),
    ]
    proc = in_own_group(cmd, env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"})
    try:
        for line in proc.stdout:
            if line.startswith("RAW "):
                return json.loads(line[4:])
        raise RuntimeError(f"raw vLLM worker ended without a result ({proc.wait()})")
    finally:
        end_group(proc)


def openai_server(args: argparse.Namespace, reqs: list[Request], log: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        resolve_model(args.model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--max-model-len",
        "2048",
        "--max-num-seqs",
        str(args.prompts),
        # As our engine on CPU: whole prefills, or seeded requests kill vllm-cpu's engine.
        "--no-enable-chunked-prefill",
        "--max-num-batched-tokens",
        "4096",
    ]
    proc = in_own_group(cmd, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}, log=log)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        for _ in range(900):
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited; see {log}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        cfg = teacher_cfg(
            args,
            "openai",
            openai={"base_urls": [url], "max_in_flight": args.prompts, "timeout_s": 900, "max_retries": 0},
        )
        return via_teacher(cfg, reqs, args.repeats)
    finally:
        end_group(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded:gemma3-270m")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the transformers backend")
    ap.add_argument("--backends", default="raw,vllm,raw_default,openai,transformers")
    ap.add_argument("--raw-worker", choices=["same", "default"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.raw_worker:
        return raw_worker(args)
    reqs = make_prompts(args.prompts, args.max_tokens)
    wanted = args.backends.split(",")
    import torch

    torch.set_num_threads(args.threads)  # the transformers backend runs in this process
    print(
        f"model={args.model} prompts={args.prompts} max_tokens={args.max_tokens} (EOS ignored) "
        f"repeats={args.repeats} cpus={os.cpu_count()} torch_threads={args.threads} "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} load={os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[str, dict] = {}
    runs = {
        "raw": lambda: raw(args),
        "raw_default": lambda: raw(args, "default"),
        "vllm": lambda: via_teacher(teacher_cfg(args, "vllm"), reqs, args.repeats),
        "openai": lambda: openai_server(args, reqs, Path("/tmp") / f"teacher_bench_server_{os.getpid()}.log"),
        "transformers": lambda: via_teacher(teacher_cfg(args, "transformers"), reqs, args.repeats),
    }
    for name in wanted:
        results[name] = runs[name]()
        r = results[name]
        print(f"{name:>13}: {r['tokens']:6d} tokens in {r['wall_s']:7.2f} s = {r['tok_s']:7.1f} tok/s", flush=True)
    figures = {f"{k}_tok_s": v["tok_s"] for k, v in results.items()}
    for ours, base in [("vllm", "raw"), ("vllm", "raw_default"), ("openai", "raw"), ("vllm", "transformers")]:
        if ours in results and base in results:
            figures[f"{ours}_vs_{base}"] = round(results[ours]["tok_s"] / results[base]["tok_s"], 3)
    figures["load"] = round(os.getloadavg()[0], 1)  # a shared machine: read the figures with this
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
