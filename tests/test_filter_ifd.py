"""Instruction-following difficulty on a real small model: an output its instruction explains scores
lower than one unrelated to it, and the filter rejects the unrelated one with its reason kept."""

from selfinstruct.config import FilterConfig
from selfinstruct.filter.ifd import ifd_scores
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.records import Instance, Task

MODEL = "embedded:smollm2-135m"


def _task(instruction, output):
    return Task(instruction=instruction, instances=[Instance(output=output)])


def test_an_answer_its_instruction_explains_scores_lower_than_an_unrelated_one():
    matched = _task("List the first five prime numbers.", "2, 3, 5, 7, 11")
    unrelated = _task("Write a haiku about autumn leaves.", "2, 3, 5, 7, 11")
    a, b = ifd_scores([matched, unrelated], MODEL)
    assert a < 1.0 and a < b


def test_the_filter_rejects_a_misaligned_task_with_its_score(tmp_path):
    cfg = FilterConfig.model_validate({"quality": {"ifd_model": MODEL, "ifd_max": 1.0}})
    good = _task("Translate 'good morning' into French.", "Bonjour.")
    bad = _task("Explain how photosynthesis works in plants.", "positive")
    accepted, rejected, stats = filter_tasks([good, bad], [], cfg, cache_dir=tmp_path)
    scores = {t.instruction: t.scores["ifd"] for t in accepted + rejected}
    assert scores[good.instruction] < scores[bad.instruction]
    assert [t.instruction for t in rejected] == [bad.instruction]
    assert rejected[0].reject_reason.startswith("misaligned(ifd=") and stats["rejected"] == {"misaligned": 1}
