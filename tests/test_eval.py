"""selfinstruct eval: students found, base answers cached, the paired CI, bad held-out files."""

import json

import pytest

from selfinstruct.config import Config, StudentConfig
from selfinstruct.evaluate import answers as A
from selfinstruct.evaluate.command import eval_command, models_to_eval
from selfinstruct.evaluate.paired import paired_bootstrap
from selfinstruct.records import InputError


def test_eval_finds_the_run_student_and_every_round_student(tmp_path):
    for d in ("round-2/student", "round-1/student", "student", "round-3/student"):
        (tmp_path / d).mkdir(parents=True)
        if d != "round-3/student":  # unfinished: no marker
            (tmp_path / d / ".done").write_text("")
    assert list(models_to_eval(tmp_path, [])) == ["base", "round-1", "round-2", "student"]


def test_paired_ci_on_hand_made_scores():
    # d = [1, 0]: a resample's mean is 0, 0.5 or 1 (p = 1/4, 1/2, 1/4), so the 95% interval is [0, 1].
    r = paired_bootstrap([1.0, 0.5], [0.0, 0.5])
    assert (r["diff"], r["ci_low"], r["ci_high"]) == (0.5, 0.0, 1.0)
    assert (r["wins"], r["ties"], r["losses"]) == (1, 1, 0)
    same = paired_bootstrap([0.3, 0.2, 0.9], [0.3, 0.2, 0.9])
    assert (same["diff"], same["ci_low"], same["ci_high"], same["ties"]) == (0.0, 0.0, 0.0, 3)
    up = paired_bootstrap([0.5, 0.6, 0.7, 0.4], [0.1, 0.2, 0.3, 0.3])
    assert 0 < up["ci_low"] <= up["diff"] <= up["ci_high"] and up["wins"] == 4
    down = paired_bootstrap([0.1, 0.2], [0.5, 0.6])
    assert down["ci_high"] < 0 and down["losses"] == 2
    with pytest.raises(ValueError):
        paired_bootstrap([0.1], [0.1, 0.2])


def test_the_base_is_answered_once_then_read_from_the_cache(tmp_path):
    import uuid

    nonce = uuid.uuid4().hex[:8]  # the answer cache outlives test runs: new items, so a cold cache here
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(
        "".join(
            json.dumps({"instruction": f"Say the word {w}. ({nonce})", "instances": [{"input": "", "output": w}]})
            + "\n"
            for w in ("yes", "no")
        )
    )
    cfg = Config(
        student=StudentConfig(model="embedded:smollm2-135m", eval_backend="transformers", eval_max_new_tokens=6)
    )
    before = dict(A.CALLS)
    first = eval_command(heldout, cfg)
    assert A.CALLS["transformers"] == before["transformers"] + 1
    second = eval_command(heldout, cfg)
    assert A.CALLS == {**before, "transformers": before["transformers"] + 1}, "the second call asked a model"
    assert [r["rouge_l"] for r in first] == [r["rouge_l"] for r in second]
    assert (tmp_path / "heldout.eval" / "eval.json").exists()


def test_a_bad_heldout_file_is_named_with_its_line(tmp_path):
    bad = tmp_path / "heldout.jsonl"
    bad.write_text('{"instruction": "Fine.", "instances": [{"input": "", "output": "ok"}]}\n{"instruction": 3}\n')
    with pytest.raises(InputError, match=f"{bad}:2"):
        eval_command(bad, Config())
    (tmp_path / "run").mkdir()
    with pytest.raises(InputError, match="no held-out file"):
        eval_command(None, Config(), run=tmp_path / "run")
    with pytest.raises(InputError, match=f"{bad}:2"):  # a run's own held-out file is read the same way
        eval_command(None, Config(), run=tmp_path)


@pytest.mark.slow
def test_answers_through_the_teacher_are_those_of_a_plain_generate_loop(tmp_path, monkeypatch):
    """Eval answers through the transformers teacher, every student an adapter named per request. They must
    be the answers eval's own generate() loop gave (the scores of earlier runs stand): per model, batches of
    eval_batch_size in item order, greedy, the adapter unmerged; and the base, asked again once an adapter
    is loaded (a second call), answers as the plain model."""
    import torch
    from peft import LoraConfig, get_peft_model

    from selfinstruct.distill.data import format_prompt
    from selfinstruct.models import load_model, load_student

    torch.manual_seed(0)
    base = "embedded:smollm2-135m"
    adapter = tmp_path / "student"
    lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # B != 0: it changes answers
    get_peft_model(load_model(base), lora).save_pretrained(str(adapter))
    items = [(f"Name a {w}.", "", w) for w in ("colour", "fruit", "planet", "river", "tree")]
    cfg = StudentConfig(model=base, eval_batch_size=2, eval_max_new_tokens=10)
    monkeypatch.setattr(A, "CALL_SIZE", 4)  # calls of 2 items per model: the base is asked again after the adapter
    got = A.answer_models({"base": None, "student": adapter}, items, cfg, 2, lambda label, n: None, "transformers")

    def plain_loop(path) -> list[str]:  # eval's own loop before it used the teacher (commit 548e38b)
        model, tok = load_student(path, base)
        tok.padding_side, out = "left", []
        for i in range(0, len(items), 2):
            enc = tok(
                [format_prompt(tok, ins, inp) for ins, inp, _ in items[i : i + 2]], return_tensors="pt", padding=True
            )
            with torch.no_grad():
                ids = model.generate(
                    **enc,
                    max_new_tokens=10,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
            out += [A.clean(tok.decode(r, skip_special_tokens=True), tok) for r in ids[:, enc["input_ids"].shape[1] :]]
        return out

    assert got == {"base": plain_loop(None), "student": plain_loop(adapter)}
    assert got["base"] != got["student"]


def test_a_killed_eval_asks_only_what_it_had_not_stored(tmp_path, monkeypatch):
    """Eval's requests go through run_step into a store, as generate's do: after a crash the chunks
    already answered are read back, and an eval whose every answer is stored starts no teacher."""
    from selfinstruct.teachers.instant import InstantTeacher

    monkeypatch.setattr(A, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(A, "CALL_SIZE", 4)
    items = [(f"Name a {w}.", "", w) for w in ("colour", "fruit", "planet", "river", "tree")]
    cfg = StudentConfig(model="embedded:smollm2-135m")
    asked, answer = [], InstantTeacher.complete

    def crash_after_one_chunk(self, requests):
        if asked:
            raise KeyboardInterrupt  # the process is killed while the second chunk is out
        asked.append(len(requests))
        return answer(self, requests)

    monkeypatch.setattr(InstantTeacher, "complete", crash_after_one_chunk)
    with pytest.raises(KeyboardInterrupt):
        A.answer_models({"base": None}, items, cfg, 1, lambda label, n: None, "instant")
    monkeypatch.setattr(InstantTeacher, "complete", lambda self, reqs: asked.append(len(reqs)) or answer(self, reqs))
    got = A.answer_models({"base": None}, items, cfg, 1, lambda label, n: None, "instant")
    assert asked == [4, 1] and len(got["base"]) == 5  # the stored chunk was not asked again
    monkeypatch.setattr(InstantTeacher, "__init__", lambda *a, **k: pytest.fail("a teacher was started"))
    assert A.answer_models({"base": None}, items, cfg, 1, lambda label, n: None, "instant") == got
