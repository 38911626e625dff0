"""How the default teacher writes a user's follow-up best (the multi_turn strategy's choice, docs/results.md
"Strategies").

    .venv/bin/python bench/follow_up_prompts.py [--config configs/default.yaml] [--n 10]

Each of the first --n seed tasks without an input (shuffled, fixed seed) is a one-turn conversation: the
seed's instruction and its reference output. The teacher (transformers, sampled at the config's temperature
and top_p) writes the user's next message two ways, exactly as generate/strategies/multi_turn.py builds them:
- continue: the conversation in its own chat template, continued at a new user turn (Magpie's gen_mt.py);
- transcript: a chat request to write the user's next message, shown the conversation as a transcript
  (prompts/follow_up_chat.jinja, what a teacher without a local chat template gets).
Each message is cleaned as the strategy cleans it and put through the per-turn rules (filter/turns.py).
Printed: every message with its verdict; last line name=value figures (messages that pass, per way). The
rules catch copies, manners and the assistant's voice, not a change of topic: read the messages too.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from selfinstruct.config import DEFAULT_CONFIG, load_config
from selfinstruct.filter.turns import check_turn
from selfinstruct.formats import read_tasks
from selfinstruct.generate.strategies.multi_turn import FOLLOW_UP_TOKENS, clean_follow_up, user_turn_continuation
from selfinstruct.models import resolve_model
from selfinstruct.prompting import render
from selfinstruct.records import Task

ROOT = Path(__file__).resolve().parent.parent


def prompts(tok, model: str, tasks: list[Task], way: str) -> list[str]:
    out = []
    for t in tasks:
        messages = [{"role": "user", "content": t.instruction}, {"role": "assistant", "content": t.instances[0].output}]
        if way == "continue":
            out.append(user_turn_continuation(model, messages)[0])
        else:
            ask = render("prompts", "follow_up", "chat", messages=messages)
            out.append(
                tok.apply_chat_template([{"role": "user", "content": ask}], tokenize=False, add_generation_prompt=True)
            )
    return out


def generate(model, tok, texts: list[str], temperature: float, top_p: float, special: bool) -> list[str]:
    """special: the tokenizer adds its own BOS, as an engine does to a completion prompt (a rendered chat
    template holds it already)."""
    import torch

    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=special)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=FOLLOW_UP_TOKENS,
            do_sample=temperature > 0,
            temperature=temperature,
            top_p=top_p,
            pad_token_id=tok.pad_token_id,
            eos_token_id=[tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")],
        )
    return [tok.decode(o[enc.input_ids.shape[1] :], skip_special_tokens=True) for o in out]


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--n", type=int, default=10)
    args = ap.parse_args()
    cfg = load_config(args.config)
    torch.set_num_threads(cfg.run.threads)
    tasks = [t for t in read_tasks(ROOT / cfg.seeds) if t.instances and not t.instances[0].input.strip()]
    random.Random(1).shuffle(tasks)
    tasks = [Task(t.instruction, t.instances[:1], is_classification=False) for t in tasks[: args.n]]
    path = resolve_model(cfg.teacher.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    figures = {}
    for way in ("continue", "transcript"):
        texts = generate(
            model,
            tok,
            prompts(tok, cfg.teacher.model, tasks, way),
            cfg.teacher.temperature,
            cfg.teacher.top_p,
            special=way == "continue",
        )
        passed = 0
        for t, text in zip(tasks, texts):
            talk = Task(t.instruction, t.instances, turns=[{"role": "user", "content": clean_follow_up(text)}])
            why = check_turn(talk, 2, cfg.filter.quality)
            passed += why is None
            print(f"{way}: {t.instruction[:60]!r} -> {talk.turns[0]['content'][:160]!r}: {why or 'passes'}", flush=True)
        figures[f"{way}_passed"] = f"{passed}/{len(tasks)}"
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
