"""Decontamination against held-out tasks, and the validity audit's parsing and intervals."""

from selfinstruct.audit import parse_verdict, summarize, verdicts, wilson
from selfinstruct.config import FilterConfig, NoveltyConfig
from selfinstruct.filter.decontam import Decontaminator
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.records import Instance, Reject, Task
from selfinstruct.teachers.base import Completion

HELD = Task(
    "Write a four-sentence story about a lighthouse keeper who finds a message in a bottle.",
    [
        Instance(
            "",
            "Every evening for thirty years, Tomas climbed the lighthouse stairs and lit the lamp "
            "for ships that rarely came by any more.",
        )
    ],
)


def test_a_paraphrase_or_a_shared_13_gram_of_a_heldout_task_is_rejected_with_its_id():
    d = Decontaminator([HELD], NoveltyConfig())
    para = Task("Write a four sentence story about a lighthouse keeper finding a message in a bottle.")
    copied = Task(
        "Continue this text.",
        [
            Instance(
                "Every evening for thirty years, Tomas climbed the lighthouse stairs and lit the lamp for ships", "ok"
            )
        ],
    )
    other = Task("Convert 30 degrees Celsius to Fahrenheit.", [Instance("", "86 degrees Fahrenheit.")])
    reasons = d.check([para, copied, other])
    assert reasons[0].kind == "contaminated" and str(reasons[0]).startswith("contaminated(0.")
    assert str(reasons[0]).endswith(f"of={HELD.id})")
    assert reasons[1] == Reject("contaminated", f"ngram13, of={HELD.id}")
    assert reasons[2] is None and other.scores["heldout_sim"] < 0.5
    assert d.overlaps([other]) == [] and d.overlaps([copied]) == [HELD.id]


def test_the_filter_pipeline_counts_contaminated_as_a_reject_kind():
    para = Task("Write a four sentence story about a lighthouse keeper finding a message in a bottle.")
    ok = Task("List three uses of baking soda around the house.")
    acc, rej, stats = filter_tasks([para, ok], [], FilterConfig(), check_instances=False, heldout=[HELD])
    assert [t.id for t in acc] == [ok.id] and stats["rejected"] == {"contaminated": 1}


def test_verdicts_parse_yes_no_with_reasons_and_all_valid_needs_three_yes():
    assert parse_verdict("Yes. The task is clear.") == (True, "The task is clear")
    assert parse_verdict("**No** - the output is wrong") == (False, "the output is wrong")
    assert parse_verdict("Maybe")[0] is None
    t1, t2 = Task("a task one"), Task("a task two")
    comps = [
        Completion("r", txt, "stop", meta={"task": t.id, "question": q})
        for t, answers in ((t1, ("Yes", "Yes", "Yes, right")), (t2, ("Yes", "No, empty", "Yes")))
        for q, txt in zip(("instruction", "input", "output"), answers)
    ]
    rows = verdicts([t1, t2], comps)
    assert [r["all_valid"] for r in rows] == [True, False] and rows[1]["input_why"] == "empty"
    assert rows[0]["task"] == "a task one" and rows[1]["input_valid"] is False
    s = summarize(rows, "judge")
    assert s["all_valid"]["valid"] == 1 and s["instruction_valid"]["share"] == 1.0 and s["unparsed"] == 0


def test_wilson_interval_matches_known_values():
    lo, hi = wilson(27, 50)  # 54%: the paper's all-valid share, at n=50
    assert abs(lo - 0.4040) < 1e-3 and abs(hi - 0.6703) < 1e-3
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and wilson(0, 0) == (0.0, 0.0)


def test_the_audit_judge_is_its_own_model_with_the_teachers_settings():
    from selfinstruct.audit import judge_config
    from selfinstruct.config import load_config

    cfg = load_config(None, ["generate.audit_judge=embedded:qwen2.5-coder-1.5b"])
    judge = judge_config(cfg)
    assert judge.model == "embedded:qwen2.5-coder-1.5b" != cfg.teacher.model
    assert judge.model_dump(exclude={"model"}) == cfg.teacher.model_dump(exclude={"model"})
    assert judge_config(load_config(None, ["generate.audit_judge=null"])) is not None
    assert judge_config(load_config(None, ["generate.audit_judge=null"])).model == cfg.teacher.model
