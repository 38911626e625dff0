"""A new strategy is one file plus its prompt template: the module below registers itself, the config
takes its name (alone or in a mix), and a whole round runs it with no edit anywhere else: its requests
in its own durable step, its tasks answered and filtered like every other, counted in the round's
stats under its name. `persona` asks the teacher for the request a given kind of user would send."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from selfinstruct.config import DEFAULT_CONFIG, ConfigError, load_config
from selfinstruct.formats import read_tasks
from selfinstruct.generate import strategy as S
from selfinstruct.generate.round import run_round
from selfinstruct.rundir import RunDir
from selfinstruct.teachers.instant import InstantTeacher
from selfinstruct.testing import DEFAULT_SEEDS

PLUGIN = """
from selfinstruct.generate.prompts import rng_for, seed_for
from selfinstruct.generate.strategy import Strategy, keep_new, register
from selfinstruct.prompting import make_request, render
from selfinstruct.records import Task

PERSONAS = ("a nurse", "a first-year student", "a shop owner", "a retired engineer")


@register
class Persona(Strategy):
    name = "persona"
    steps = ("persona",)

    def propose(self, ctx, store, first, count):
        g, t = ctx.cfg.generate, ctx.cfg.teacher
        requests = []
        for i in range(first, first + count):  # request i from (run seed, round, i): a relaunch asks the same
            who = rng_for(ctx.cfg.run.seed, ctx.round, self.name, i).choice(PERSONAS)
            text = render(g.templates, "persona", "chat", persona=who)
            requests.append(make_request(text, "chat", max_tokens=t.max_tokens, temperature=t.temperature,
                                         seed=seed_for(ctx.cfg.run.seed, ctx.round, self.name, i),
                                         meta={"query": i, "persona": who}))
        ctx.counts[self.key("prompts")] += count
        made = [Task(instruction=c.text.strip(), round=ctx.round, teacher=ctx.teacher.name, strategy=self.name,
                     is_classification=False)
                for c in ctx.run(self.steps[0], requests, store) if c.finish_reason == "stop" and c.text.strip()]
        return keep_new(ctx, made)
"""
TEMPLATE = "You are {{ persona }}. Write one request you would send to an AI assistant, and nothing else.\n"


@pytest.fixture
def persona(tmp_path):
    (tmp_path / "persona.py").write_text(PLUGIN)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "persona_chat.jinja").write_text(TEMPLATE)
    spec = importlib.util.spec_from_file_location("persona_plugin", tmp_path / "persona.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["persona_plugin"] = module
    spec.loader.exec_module(module)
    yield tmp_path
    S.REGISTRY.pop("persona", None)
    sys.modules.pop("persona_plugin", None)


def _cfg(tmp_path, strategy):
    return load_config(
        DEFAULT_CONFIG,
        [
            f"run.root={tmp_path}",
            "run.name=r",
            "teacher.backend=instant",
            "student.enabled=false",
            f"generate.strategy={strategy}",
            f"generate.templates={tmp_path / 'templates'}",  # its template; the others come from the package
            "filter.verify.enabled=false",
            "generate.per_round=8",
            "generate.prompts_per_round=8",
            "generate.max_batches=3",
            "generate.heldout_share=0",
        ],
    )


def test_a_new_strategy_is_one_file_and_a_round_runs_it(persona):
    assert list(S.registry())[-1] == "persona"  # after the built-ins, whose order a mix is split in
    cfg = _cfg(persona, "{self_instruct: 1, persona: 1}")
    seeds = read_tasks(DEFAULT_SEEDS)
    with RunDir(cfg) as run:
        stats, accepted, _ = run_round(cfg, run, 1, seeds, [], InstantTeacher(cfg.teacher, 0, 0.0, 0.0))
        asked = run.round(1).final_answers("persona")
    mine = [t for t in accepted if t.strategy == "persona"]
    assert len(accepted) == 8 and {t.strategy for t in accepted} == {"self_instruct", "persona"}
    assert all(t.instances and t.instances[0].output for t in mine)  # answered directly, like evol and magpie
    assert asked and {a["meta"]["persona"] for a in asked} <= {
        "a nurse",
        "a first-year student",
        "a shop owner",
        "a retired engineer",
    }
    assert stats.counts["persona_prompts"] == len(asked) and stats.prompts > len(asked)
    assert stats.by_strategy["persona"]["accepted"] == len(mine) and stats.by_strategy["persona"]["tokens"] > 0
    assert stats.teacher_errors["persona"]["requests"] == len(asked)


def test_the_config_names_a_registered_strategy_or_says_which_exist(persona):
    assert _cfg(persona, "persona").generate.shares(1) == {"persona": 1.0}
    with pytest.raises(ConfigError, match="unknown strategy 'personna'; known: self_instruct, .*persona"):
        _cfg(persona, "personna")
