"""The transformers backend on the embedded SmolLM2-135M-Instruct: batched, chat, stop strings, seeds."""

from __future__ import annotations

import pytest

from selfinstruct.config import TeacherConfig
from selfinstruct.teachers import Request, make_teacher

PROMPTS = [
    "The three primary colors are",
    "A haiku about the sea:\n",
    "def add(a, b):\n",
    "Q: What is the capital of Italy?\nA:",
    "List of fruits:\n1.",
]

pytestmark = pytest.mark.slow  # loads a model and generates: ~20-60 s on 2 cores


@pytest.fixture(scope="module")
def teacher():
    cfg = TeacherConfig(backend="transformers", model="embedded:smollm2-135m", transformers={"batch_size": 2})
    with make_teacher(cfg, seed=3) as t:
        yield t


def test_batched_prompts_and_chat_give_completions(teacher):
    reqs = [Request(prompt=p, max_tokens=10, temperature=0.0) for p in PROMPTS]
    reqs.append(Request(messages=[{"role": "user", "content": "Name one planet."}], max_tokens=10, temperature=0.0))
    out = teacher.complete(reqs)  # 5 prompts in batches of 2 (a ragged last batch), and a chat request
    assert teacher.name == "transformers:smollm2-135m"
    assert [c.request_id for c in out] == [r.id for r in reqs]
    for c in out:
        assert c.finish_reason in ("stop", "length") and c.text.strip(), c
        assert 0 < c.completion_tokens <= 10 and c.prompt_tokens > 0
        assert (c.finish_reason == "length") == (c.completion_tokens == 10)
    # Left padding must not change an answer: alone it is the same as in a batch (greedy).
    [alone] = teacher.complete([reqs[1]])
    assert alone.text == out[1].text
    assert out[-1].prompt_tokens > len("Name one planet.".split())  # the chat template was applied


def test_stop_strings_cut_the_text(teacher):
    req = Request(prompt="List of fruits:\n1.", max_tokens=24, temperature=0.0)
    [free] = teacher.complete([req])
    assert "\n" in free.text.strip(), free.text  # greedy SmolLM2 writes a multi-line list here
    stop = "\n"
    [cut] = teacher.complete([Request(prompt=req.prompt, max_tokens=24, temperature=0.0, stop=[stop])])
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.index(stop)] and stop not in cut.text
    assert cut.completion_tokens < free.completion_tokens


def test_sampling_is_seeded(teacher):
    reqs = [Request(prompt=p, max_tokens=8, temperature=1.0, top_p=0.95) for p in PROMPTS[:3]]
    assert [c.text for c in teacher.complete(reqs)] == [c.text for c in teacher.complete(reqs)]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """A LoRA adapter of SmolLM2 with random weights (peft starts B at zero, which would change nothing)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from selfinstruct.models import resolve_model

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(resolve_model("embedded:smollm2-135m"), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter") / "student"
    model.save_pretrained(str(out))
    return str(out)


def test_a_request_names_its_adapter_and_gets_what_peft_answers(teacher, adapter):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfinstruct.models import resolve_model

    prompt = PROMPTS[0]
    [before] = teacher.complete([Request(prompt=prompt, max_tokens=12, temperature=0.0)])
    [with_adapter, base] = teacher.complete(
        [
            Request(prompt=prompt, max_tokens=12, temperature=0.0, adapter=adapter),
            Request(prompt=prompt, max_tokens=12, temperature=0.0),
        ]
    )
    assert with_adapter.text != before.text  # the adapter answered
    assert base.text == before.text  # and the plain model still answers a request that names none
    # What peft itself answers with the adapter on the model, unmerged (how eval always scored a student).
    path = resolve_model("embedded:smollm2-135m")
    tok = AutoTokenizer.from_pretrained(path)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(path), adapter).eval()
    enc = tok([prompt], return_tensors="pt")
    ids = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.eos_token_id)
    assert with_adapter.text == tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
