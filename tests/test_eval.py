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
    heldout.write_text("".join(json.dumps({"instruction": f"Say the word {w}. ({nonce})",
                                           "instances": [{"input": "", "output": w}]}) + "\n" for w in ("yes", "no")))
    cfg = Config(student=StudentConfig(model="embedded:smollm2-135m", eval_backend="transformers",
                                       eval_max_new_tokens=6))
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
