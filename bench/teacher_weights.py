"""The teacher's weights, two ways, through the project's own teacher path: the default (vLLM on the float32
folder dequantized from the Q4_K_M GGUF) and the same GGUF served natively by llama.cpp's llama-server
through the `openai` backend. Same prompts, same shape, one run, side by side.

    bash scripts/build-llama-server.sh            # once, ~5 min on 2 cores
    .venv/bin/python bench/teacher_weights.py --llama-server .cache/llama.cpp/build/bin/llama-server

Per batch size N: a call of N unique prompts of 256 tokens with max_tokens=1 (prefill, with request
overhead and one decode step), then one with 128 tokens and EOS ignored; decode tok/s = the extra tokens
over the extra time. Then 10 chat prompts answered greedily by both (64 tokens): how many answers are
the same text, and the same for their first 20 tokens (equal weights, different kernels). A round
estimate: the verified default's round 1 mix (docs/results.md, teacher_roofline) at each path's prefill
rate and its decode rate at 4 sequences a step (that round's mean was 4.1). Last line: name=value figures.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import subprocess
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")

from selfinstruct.config import TeacherConfig, load_config  # noqa: E402
from selfinstruct.models import resolve_model  # noqa: E402
from selfinstruct.teachers import Request, make_teacher  # noqa: E402
from selfinstruct.testing import free_port, kill_group, wait_ready  # noqa: E402

MODEL = "embedded:qwen2.5-coder-0.5b"
GGUF = Path.home() / ".cache" / "selfinstruct" / "qwen2.5-coder-0.5b.gguf"
PP, TG = 256, 128
ROUND = {"prompt_tokens": 32_324, "completion_tokens": 15_650}  # verified default, round 1
GREEDY = [
    "Write a Python function that reverses a string.",
    "Write a Python function that checks whether a number is prime.",
    "Explain what a Python list comprehension is, in two sentences.",
    "Write a SQL query that returns the ten most recent orders from a table named orders.",
    "Write a JavaScript function that returns the sum of an array of numbers.",
    "What is the difference between a tuple and a list in Python?",
    "Write a Python function that counts the vowels in a string.",
    "Write a bash command that counts the lines of every .py file in a folder.",
    "Write a Python function that merges two sorted lists into one sorted list.",
    "Give three tips for writing readable code.",
]


@functools.cache
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(MODEL))


def prompts(n: int, start: int) -> list[str]:
    """n prompts of PP tokens, each unique from its first token on (no prefix or prompt cache can help)."""
    tok = tokenizer()
    words = "the code function data value list return error file system user input output loop test class".split()
    out = []
    for i in range(start, start + n):
        rng = random.Random(i)
        text = f"Request {i} {rng.random():.8f}: " + " ".join(rng.choice(words) for _ in range(400))
        out.append(tok.decode(tok(text)["input_ids"][:PP]))
    return out


def shape(teacher, levels: list[int]) -> dict[int, tuple[float, float, float]]:
    """N -> (prefill tok/s, decode tok/s, wall s of the 128-token call)."""

    def call(texts: list[str], max_tokens: int) -> tuple[float, int, int]:
        t0 = time.perf_counter()
        out = teacher.complete([Request(prompt=p, max_tokens=max_tokens, temperature=0.7, top_p=0.9) for p in texts])
        bad = [c.error for c in out if c.finish_reason == "error"]
        assert not bad, bad[:2]
        return time.perf_counter() - t0, sum(c.prompt_tokens for c in out), sum(c.completion_tokens for c in out)

    call(prompts(4, 10_000), 8)  # warm-up
    rows = {}
    for n in levels:
        t1, p1, c1 = call(prompts(n, 1000 * n), 1)
        t2, _, c2 = call(prompts(n, 1000 * n + 500), TG)
        rows[n] = (p1 / t1, (c2 - c1) / (t2 - t1), t2)
        print(
            f"  N={n:<3} prefill {rows[n][0]:6.1f} tok/s  decode {rows[n][1]:5.1f} tok/s  call {t2:6.2f} s", flush=True
        )
    return rows


def greedy(teacher) -> list[str]:
    reqs = [Request(messages=[{"role": "user", "content": p}], max_tokens=64, temperature=0.0) for p in GREEDY]
    return [c.text for c in teacher.complete(reqs)]


def measure(cfg: TeacherConfig, levels: list[int]) -> tuple[dict, list[str]]:
    with make_teacher(cfg, seed=0) as teacher:
        rows = shape(teacher, levels)
        return rows, greedy(teacher)


def llama_server(binary: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [str(binary), "-m", str(GGUF), "--host", "127.0.0.1", "--port", str(port), "-np", "16", "-t", "2"]
    cmd += ["-tb", "2", "-c", "16384", "--cont-batching", "-fa", "on"]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    wait_ready(proc, url, log)
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-server", type=Path, required=True, help="scripts/build-llama-server.sh prints it")
    ap.add_argument("--levels", default="1,4,8,16")
    ap.add_argument("--out", type=Path, default=Path("bench/out/teacher_weights"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    levels = [int(x) for x in args.levels.split(",")]
    resolve_model(MODEL)  # the GGUF and its float32 folder, from the install's cache
    print("vLLM, float32 folder (the default teacher):", flush=True)
    fp32 = load_config(None).teacher.model_copy(update={"ignore_eos": True})
    v_rows, v_text = measure(fp32, levels)
    proc, url = llama_server(args.llama_server, args.out / "llama-server.log")
    try:
        print("llama-server, the Q4_K_M GGUF (openai backend):", flush=True)
        native = TeacherConfig(
            backend="openai",
            model=MODEL,
            ignore_eos=True,
            openai={
                "base_urls": [url],
                "served_model": "qwen",  # llama-server serves its one model under any name
                "max_in_flight": 16,
                "adaptive": False,
                "timeout_s": 1800,
                "max_retries": 0,
            },
        )
        l_rows, l_text = measure(native, levels)
    finally:
        kill_group(proc)
    print(_summary(levels, v_rows, l_rows, v_text, l_text))


def _summary(levels, v_rows, l_rows, v_text, l_text) -> str:
    tok = tokenizer()
    same = sum(a == b for a, b in zip(v_text, l_text))
    head = sum(tok(a)["input_ids"][:20] == tok(b)["input_ids"][:20] for a, b in zip(v_text, l_text))
    at = 4 if 4 in levels else levels[0]
    figures: dict[str, object] = {}
    est = {}
    for name, rows in (("vllm", v_rows), ("llama", l_rows)):
        prefill = sum(r[0] for r in rows.values()) / len(rows)
        est[name] = ROUND["prompt_tokens"] / prefill + ROUND["completion_tokens"] / rows[at][1]
        figures[f"{name}_prefill_tok_s"] = round(prefill, 1)
        figures |= {f"{name}_decode_tok_s_n{n}": round(rows[n][1], 1) for n in levels}
    figures |= {"greedy_same": f"{same}/{len(GREEDY)}", "greedy_same_20": f"{head}/{len(GREEDY)}"}
    figures |= {"round_est_vllm_s": round(est["vllm"]), "round_est_llama_s": round(est["llama"])}
    figures["speedup_round_est"] = round(est["vllm"] / est["llama"], 2)
    return " ".join(f"{k}={v}" for k, v in figures.items())


if __name__ == "__main__":
    main()
