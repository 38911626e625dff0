"""filter_tasks end to end (real MiniLM, real faiss) and the `selfinstruct filter` command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.config import Config, FilterConfig
from selfinstruct.filter.pipeline import filter_tasks
from selfinstruct.records import Instance, Task


def _t(instruction: str, output: str = "An answer.", inp: str = "") -> Task:
    return Task(instruction, [Instance(inp, output)])


def _batch() -> tuple[list[Task], list[Task]]:
    pool = [_t("Write a poem about the ocean."), _t("Explain how a car engine works.")]
    cands = [
        _t("Compose a poem about the sea."),  # near duplicate of the pool
        _t("List five countries in South America."),
        _t("Describe the picture in one sentence."),  # blacklist
        _t("Name five countries in South America."),  # near duplicate of an earlier candidate
        _t("Suggest a name for a new bakery.", output=""),  # empty output
        _t("Hello there"),  # too short
        _t("Convert 100 degrees Fahrenheit to Celsius."),
    ]
    return cands, pool


def test_every_reject_has_a_reason_and_order_is_kept(tmp_path):
    cands, pool = _batch()
    accepted, rejected, stats = filter_tasks(cands, pool, FilterConfig(), cache_dir=tmp_path)
    assert [t.instruction for t in accepted] == [cands[1].instruction, cands[6].instruction]
    kinds = [t.reject.kind for t in rejected]
    assert kinds == ["near_duplicate", "blacklist", "near_duplicate", "empty_output", "too_short"]
    assert rejected[0].reject_reason.endswith(f"of={pool[0].id})")
    assert rejected[2].reject_reason.endswith(f"of={cands[1].id})")
    assert stats["candidates"] == 7 and stats["accepted"] == 2
    assert stats["rejected"] == {"near_duplicate": 2, "blacklist": 1, "empty_output": 1, "too_short": 1}
    # Everything that reached novelty has its nearest-neighbour similarity.
    for t in accepted + [cands[0], cands[3]]:
        assert -1.0 <= t.scores["nn_sim"] <= 1.0001
    assert all(t.reject_reason is None for t in accepted)


def test_paper_mode_and_instruction_only(tmp_path):
    cands, pool = _batch()
    cfg = FilterConfig()
    cfg.novelty.method = "rouge"
    accepted, rejected, stats = filter_tasks(cands, pool, cfg, check_instances=False)
    reasons = {t.instruction: t.reject_reason for t in rejected}
    # ROUGE-L misses the paraphrase (different words) but catches the one-word edit.
    assert cands[0] in accepted and reasons[cands[3].instruction].startswith("rouge_duplicate(0.8")
    assert cands[4] in accepted  # instances are not checked before they are written
    assert "rouge_l" in cands[1].scores and stats["novelty_method"] == "rouge"


def test_filter_command_writes_outputs(tmp_path, public_seeds):
    src = tmp_path / "in.jsonl"
    rows = [{"instruction": t.instruction, "input": "", "output": t.instances[0].output} for t in _batch()[0]]
    rows.append(
        {
            "instruction": "Is there anything I can eat for a breakfast that doesn't include eggs?",
            "input": "",
            "output": "Oatmeal.",
        }
    )  # close to seed_task_0
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out" / "kept.jsonl"
    res = CliRunner().invoke(app, ["filter", "-i", str(src), "-o", str(out), "--pool", str(public_seeds)])
    assert res.exit_code == 0, res.output
    accepted = [json.loads(x) for x in out.read_text().splitlines()]
    rejected = [json.loads(x) for x in (tmp_path / "out" / "kept.jsonl.rejected.jsonl").read_text().splitlines()]
    assert len(accepted) + len(rejected) == len(rows) and all(r["reject_reason"] for r in rejected)
    assert any(r["reject_reason"].endswith("of=seed_task_0)") for r in rejected)
    assert all("nn_sim" in a["scores"] for a in accepted)
    stats = json.loads((tmp_path / "out" / "kept.jsonl.stats.json").read_text())
    assert stats["accepted"] == len(accepted) and sum(stats["rejected"].values()) == len(rejected)
    assert Config.model_validate(__import__("yaml").safe_load((out.parent / "kept.jsonl.config.yaml").read_text()))
    assert "near_duplicate" in res.output  # the summary table


def test_filter_command_bad_input_is_one_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"instruction": "List three fruits."}\n{"instruction": 3}\n')
    res = CliRunner().invoke(app, ["filter", "-i", str(src), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2
    assert f"{src}:2:" in res.output and "instruction" in res.output


def test_judge_needs_a_teacher():
    cfg = FilterConfig()
    cfg.quality.judge = True
    with pytest.raises(ValueError, match="judge"):
        filter_tasks([_t("List five countries in South America.")], [], cfg)
