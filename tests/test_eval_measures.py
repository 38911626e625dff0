"""eval's measures past ROUGE-L: length control, the verifiable set, the position-fair judge."""

import json
import re
import uuid

import pytest

from selfinstruct.config import Config, StudentConfig, TeacherConfig
from selfinstruct.evaluate import answers as A
from selfinstruct.evaluate import verifiable as V
from selfinstruct.evaluate.command import eval_command, rouge_l
from selfinstruct.evaluate.judge import win_rate
from selfinstruct.evaluate.lengths import cut_to, length_control, plain
from selfinstruct.formats import read_tasks
from selfinstruct.records import Instance, Task
from selfinstruct.teachers.base import Completion
from selfinstruct.testing import DEFAULT_SEEDS


def test_the_cut_base_on_a_hand_made_example():
    refs = ["the cat sat", "blue"]
    base = ["the cat sat on the mat all day long", "the sky is blue"]
    student = ["the cat sat", "it is blue"]
    assert cut_to(base, student) == ["the cat sat", "the sky is"]
    assert cut_to(["a b"], ["one two three four"]) == ["a b"]  # never lengthened
    # By hand (ROUGE-L F): base 0.5 and 0.4 (3 of 9 words, 1 of 4), cut base 1.0 and 0.0, student 1.0 and 0.5.
    f = length_control(base, student, refs, rouge_l(base, refs), rouge_l(student, refs), rouge_l)
    assert f["cut_base_rouge_l"] == 0.5 and f["length_part"] == 0.05
    assert f["vs_cut_base"] == 0.25 and f["length_share"] == 0.17
    said = plain({"model": "round-1", "diff": 0.3, **f})
    assert "+0.050 by itself" in said and "17% of the gain is length" in said and "+0.250" in said


def _seeds(n=12):

    return read_tasks(DEFAULT_SEEDS)[:n]


def test_the_verifiable_set_built_twice_is_identical_in_any_order(tmp_path):
    tasks = _seeds()
    first = V.build_set(tasks)
    assert first == V.build_set(tasks)
    assert sorted(V.build_set(tasks[::-1]), key=lambda r: r["id"]) == sorted(first, key=lambda r: r["id"])
    assert {len(r["specs"]) for r in first} == {1, 2}
    for r, t in zip(first, tasks):
        assert r["instruction"].startswith(t.instruction) and all(s["text"] in r["instruction"] for s in r["specs"])
    path = tmp_path / "heldout-verifiable.jsonl"
    assert V.prepare(tasks, path) == first and V.read_set(path) == first
    stamp = path.stat().st_mtime_ns
    V.prepare(tasks, path)
    assert path.stat().st_mtime_ns == stamp, "an unchanged set is not rewritten"


def test_verifiable_accuracies_on_hand_made_answers():
    rows = [
        {
            "id": "a",
            "instruction": "x",
            "input": "",
            "specs": [
                {"id": "punctuation:no_comma", "kwargs": {}, "text": ""},
                {"id": "keywords:existence", "kwargs": {"keywords": ["idea"]}, "text": ""},
            ],
        },
        {
            "id": "b",
            "instruction": "y",
            "input": "",
            "specs": [{"id": "detectable_format:title", "kwargs": {}, "text": ""}],
        },
    ]
    answers = {"base": ["An idea, sadly.", "No title here."], "round-1": ["An idea and no comma.", "<<Title>> here."]}
    fields, found = V.score(rows, answers)
    assert found == {"base": [[False, True], [False]], "round-1": [[True, True], [True]]}
    assert fields["base"] == {"if_n": 2, "if_prompt": 0.0, "if_instr": round(1 / 3, 4)}
    s = fields["round-1"]
    assert (s["if_prompt"], s["if_instr"], s["if_prompt_diff"], s["if_instr_diff"]) == (1.0, 1.0, 1.0, round(2 / 3, 4))
    assert s["if_prompt_ci_low"] <= s["if_prompt_diff"] <= s["if_prompt_ci_high"]
    assert V.by_type(rows, found)["punctuation:no_comma"] == {"asked": 1, "base": 0.0, "round-1": 1.0}


class Scripted:
    """A judge that prefers the answer saying "good", and otherwise always picks the first (A)."""

    name = "scripted"

    def __init__(self, silent=False):
        self.silent = silent

    def complete(self, requests):
        out = []
        for r in requests:
            text = r.prompt if r.prompt is not None else r.messages[-1]["content"]
            a, b = re.search(r"Response A:\n(.*)\n\nResponse B:\n(.*)\n\nAnswer", text, re.S).groups()
            pick = "?" if self.silent else "B" if "good" in b and "good" not in a else "A"
            out.append(Completion(request_id=r.id, text=pick, finish_reason="stop"))
        return out

    def close(self):
        pass


def test_the_judge_counts_a_verdict_only_when_both_orders_agree():
    items = [(f"task {i}", "", "") for i in range(4)]
    student = ["a good answer", "meh", "same", "poor"]
    base = ["a poor answer", "meh too", "same", "a good one"]
    r = win_rate(Scripted(), items, student, base, style="completion")
    # item 0: both orders pick the student (win); 1: always A, so the orders disagree (tie);
    # 2: identical answers, a tie unasked; 3: both orders pick the base (loss).
    assert (r["judge_wins"], r["judge_ties"], r["judge_losses"], r["judge_asked"]) == (1, 2, 1, 3)
    assert r["judge_win_rate"] == 0.5 and r["judge_consistency"] == round(2 / 3, 4)
    assert r["judge_first_share"] == round(4 / 6, 4)  # the A-bias shows
    assert r["judge_ci_low"] <= 0.5 <= r["judge_ci_high"]
    mute = win_rate(Scripted(silent=True), items, student, base, style="completion")
    assert (mute["judge_ties"], mute["judge_unclear"], mute["judge_consistency"]) == (4, 6, 0.0)


def test_eval_writes_all_three_measures_from_cached_answers(tmp_path):
    """The whole command on a run folder; every answer is already in the answer cache (nothing asks
    a model), the judge is the instant teacher."""
    nonce = uuid.uuid4().hex[:8]
    run = tmp_path / "run"
    tasks = [
        Task(id=f"h{i}", instruction=f"Name a colour, please ({nonce} {i}).", instances=[Instance(input="", output=w)])
        for i, w in enumerate(("red", "blue", "green"))
    ]
    run.mkdir()
    (run / "heldout.jsonl").write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks))
    adapter = run / "round-1" / "student"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"nonce": nonce}))
    (adapter / ".done").write_text("")
    cfg = Config(
        student=StudentConfig(model="embedded:smollm2-135m", eval_backend="transformers"),
        teacher=TeacherConfig(backend="instant"),
    )
    items = [(t.instruction, "", t.instances[0].output) for t in tasks]
    vrows = V.build_set(tasks)
    said = {
        "heldout": {
            "base": ["It is red, a warm colour of fire", "Blue like the sky above us", "green"],
            "round-1": ["red", "blue", "grass green"],
        },
        "verifiable": {"base": ["An idea, sadly."] * 3, "round-1": ["no comma here"] * 3},
    }
    for label, path in (("base", None), ("round-1", adapter)):
        ident = A.model_identity(path, cfg.student)
        A.store(A.cache_key(items, ident, cfg.student), said["heldout"][label])
        A.store(A.cache_key(V.items(vrows), ident, cfg.student), said["verifiable"][label])
    before = dict(A.CALLS)
    rows = eval_command(None, cfg, run=run, judge=True)
    assert A.CALLS == before, "a model was asked"
    doc = json.loads((run / "eval" / "eval.json").read_text())
    assert doc["rows"] == rows and (run / "heldout-verifiable.jsonl").exists()
    student = rows[1]
    for key in (
        "cut_base_rouge_l",
        "vs_cut_ci_low",
        "if_prompt",
        "if_prompt_ci_high",
        "if_instr_ci_low",
        "judge_win_rate",
        "judge_ci_low",
        "judge_consistency",
    ):
        assert key in student, key
    assert doc["verifiable"]["n"] == 3 and doc["answer_max_new_tokens"] == cfg.student.eval_max_new_tokens
    assert doc["verifiable"]["training_tasks_with_eval_phrasings"] == []
    assert "of the gain is length" in (run / "eval" / "eval.md").read_text()
    assert len((run / "eval" / "verifiable-round-1.jsonl").read_text().splitlines()) == 3
    from selfinstruct.report import build_report

    page = build_report(run).read_text()
    section = page[page.index("Eval: following, not stopping") :]
    for text in ("of the gain is length", "prompt level", "consistency", "by constraint type"):
        assert text in section, text
    for png in ("eval_length.png", "eval_verifiable.png", "eval_judge.png"):
        assert (run / "report" / png).stat().st_size > 1000, png


@pytest.mark.parametrize("bad", [[0.1], []])
def test_weighted_paired_ci_needs_matching_weights(bad):
    from selfinstruct.evaluate.paired import paired_bootstrap

    with pytest.raises(ValueError):
        paired_bootstrap([0.1, 0.2], [0.1, 0.2], weights=bad)
