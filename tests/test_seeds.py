"""The project's own seed tasks: loadable, varied, and free of duplicates.

A generation run is only as diverse as its seeds, so these checks guard the mix (classification
vs. generation, with vs. without input) and catch near-copies that would skew the teacher's
in-context examples.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from selfinstruct.formats import read_tasks
from selfinstruct.testing import DEFAULT_SEEDS, PUBLIC_SEEDS

ROOT = Path(__file__).resolve().parent.parent
SEEDS = DEFAULT_SEEDS


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.fixture(scope="module")
def tasks():
    return read_tasks(SEEDS)


def test_enough_tasks_and_classification(tasks):
    assert len(tasks) >= 120
    assert sum(bool(t.is_classification) for t in tasks) >= 20
    # Every task says which kind it is, so the generator can pick the right prompt.
    assert all(isinstance(t.is_classification, bool) for t in tasks)


def test_ids_names_and_instructions_unique(tasks):
    ids = [t.id for t in tasks]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"seed_task_\d+", i) for i in ids)
    names = [t.name for t in tasks]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", n) for n in names)
    normed = [_norm(t.instruction) for t in tasks]
    assert len(set(normed)) == len(normed)


def test_no_near_paraphrase_instructions(tasks):
    # Cheap word-set overlap: near-paraphrases share almost all their words.
    words = [(t.name, set(_norm(t.instruction).split())) for t in tasks]
    close = [(a, b) for (a, wa), (b, wb) in itertools.combinations(words, 2) if len(wa & wb) / len(wa | wb) >= 0.75]
    assert not close


def test_every_task_has_a_real_output(tasks):
    for t in tasks:
        assert t.instances, t.name
        assert all(i.output.strip() for i in t.instances), t.name
        # Kept short so they fit in a few-shot prompt and teach concise answers.
        assert all(len(i.output.split()) <= 130 for i in t.instances), t.name


def test_classification_outputs_are_labels(tasks):
    for t in tasks:
        if t.is_classification:
            assert all(len(i.output.split()) <= 3 for i in t.instances), t.name


def test_mix_of_with_and_without_input(tasks):
    with_input = sum(any(i.input.strip() for i in t.instances) for t in tasks)
    share = with_input / len(tasks)
    assert 0.25 <= share <= 0.75, f"{with_input}/{len(tasks)} tasks have input"


def test_not_copied_from_public_seed_set(tasks):
    public = {_norm(t.instruction) for t in read_tasks(PUBLIC_SEEDS)}
    copied = [t.name for t in tasks if _norm(t.instruction) in public]
    assert not copied
