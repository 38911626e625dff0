"""constraints.py: the if-verifiable checkers run here, offline, and agree with if-verifiable's own API."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct import constraints as C

# One passing and one failing answer per constraint type, written by hand.
EXAMPLES = {
    "length_constraints:number_sentences": (
        {"relation": "less than", "num_sentences": 3},
        "Dr. Smith arrived at 3 p.m. on Monday. He left early.",
        "It rained. Then it stopped. The sun came out. Birds sang.",
    ),
    "length_constraints:number_words": (
        {"relation": "at least", "num_words": 5},
        "This answer has six words exactly.",
        "Too short.",
    ),
    "detectable_format:number_bullet_lists": (
        {"num_bullets": 2},
        "* first point\n* second point",
        "* one\n* two\n* three",
    ),
    "detectable_format:number_highlighted_sections": (
        {"num_highlights": 2},
        "A *bold* and *brave* move.",
        "Only *one* highlight.",
    ),
    "detectable_format:title": ({}, "<<Frost>>\nSilver on the grass.", "Frost\nSilver on the grass."),
    "startend:quotation": ({}, '"All of it quoted."', 'Half "quoted".'),
    "detectable_format:json_format": ({}, '```json\n{"answer": 4}\n```', "The answer is 4."),
    "change_case:english_lowercase": (
        {},
        "the quick brown fox jumps over the lazy dog near the river bank",
        "The quick brown fox jumps over the lazy dog near the river bank",
    ),
    "change_case:english_capital": (
        {},
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG NEAR THE RIVER BANK",
        "THE QUICK BROWN FOX jumps OVER THE LAZY DOG NEAR THE RIVER BANK",
    ),
    "punctuation:no_comma": ({}, "No commas here at all.", "One comma, right here."),
    "keywords:existence": ({"keywords": ["idea", "world"]}, "A big idea for the world.", "A big idea."),
    "keywords:forbidden_words": ({"forbidden_words": ["frost"]}, "Cold grass at dawn.", "Frost on the grass."),
    "keywords:frequency": (
        {"keyword": "point", "frequency": 2, "relation": "at least"},
        "One point, then another point.",
        "Just one point.",
    ),
    "startend:end_checker": (
        {"end_phrase": "Any other questions?"},
        "Done. Any other questions?",
        "Any other questions? Done.",
    ),
    "detectable_content:postscript": ({"postscript_marker": "P.S."}, "Hello.\nP.S. See you soon.", "Hello."),
}


def _spec(cid):
    return {"id": cid, "kwargs": EXAMPLES[cid][0], "text": ""}


def test_every_type_has_an_example_and_disjoint_pools():
    assert set(EXAMPLES) == set(C.BY_ID)
    evals = {p for c in C.TYPES for p in c.eval}
    trains = {p for c in C.TYPES for p in c.train}
    assert evals and trains and not evals & trains


@pytest.mark.parametrize("cid", sorted(EXAMPLES))
def test_checker_examples_agree_with_if_verifiable(cid):
    from if_verifiable import IFEvalSample, evaluate_output_for_sample

    kwargs, good, bad = EXAMPLES[cid]
    assert C.check(good, [_spec(cid)]) == [True]
    assert C.check(bad, [_spec(cid)]) == [False]
    for answer in (good, bad):
        sample = IFEvalSample(key=0, prompt="p", instruction_id_list=[cid], kwargs=[kwargs])
        results, _ = evaluate_output_for_sample("ifeval", sample, answer)
        assert C.check(answer, [_spec(cid)]) == [results[0].strict_pass]
    assert C.check("  ", [_spec(cid)]) == [False]  # an empty answer follows nothing


def test_attach_draws_from_its_pool_and_never_two_of_a_group():
    ins = "Describe the first frost of autumn in a garden."
    for seed in range(60):
        for pool in ("eval", "train"):
            new, specs = C.attach(ins, random.Random(seed), pool=pool, k=2)
            assert len(specs) == 2 and new.startswith(ins)
            groups = [C.BY_ID[s["id"]].group for s in specs]
            assert groups[0] != groups[1]
            for s in specs:
                assert s["text"] in new
                templates = getattr(C.BY_ID[s["id"]], pool)
                assert any(_fits(s["text"], t) for t in templates), (pool, s)
            json.dumps(specs)  # a spec is plain JSON
    with pytest.raises(ValueError):
        C.attach(ins, random.Random(0), pool="test")


def _fits(text, template):
    """Whether text is template with its {fields} filled: the literal parts, in order."""
    import re

    pattern = "".join(".+?" if i % 2 else re.escape(p) for i, p in enumerate(re.split(r"\{(\w+)\}", template)))
    return re.fullmatch(pattern, text, flags=re.S) is not None


def test_phrasings_find_an_eval_phrase_in_generated_text():
    rows = [
        {"specs": [{"text": "Answer with less than 20 words."}]},
        {"specs": [{"text": "Answer with less than 20 words."}]},
    ]
    used = C.phrasings(rows)
    assert used == ["Answer with less than 20 words."]
    assert C.find_phrasings("Name a fruit.  answer with LESS than 20\nwords.", used) == used
    assert C.find_phrasings("Name a fruit. Use fewer than 20 words.", used) == []


OFFLINE = r"""
import socket, sys
def no_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        raise OSError("network blocked by the test: " + event)
sys.addaudithook(no_network)
import json
from selfinstruct import constraints as C
examples = json.loads(sys.argv[1])
spec = lambda cid, kw: [{"id": cid, "kwargs": kw, "text": ""}]
out = {cid: [C.check(good, spec(cid, kw))[0], C.check(bad, spec(cid, kw))[0]]
       for cid, (kw, good, bad) in examples.items()}
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
    out["blocked"] = False
except OSError as e:
    out["blocked"] = "blocked by the test" in str(e)
print(json.dumps(out))
"""


def test_every_checker_runs_with_the_network_blocked_and_no_nltk_data(tmp_path):
    """A fresh process with every socket refused and no nltk data folder anywhere it looks."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NLTK_DATA": str(tmp_path / "none"), "PYTHONNOUSERSITE": "1"}
    root = Path(__file__).parents[1]  # `-c` imports selfinstruct from the working directory: this checkout
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE, json.dumps(EXAMPLES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out.pop("blocked") is True
    assert out == {cid: [True, False] for cid in EXAMPLES}


def test_the_sentence_splitter_is_nltks_english_punkt():
    from if_verifiable.ifeval import instructions_util

    from selfinstruct import punkt_offline

    punkt_offline.install()
    # Punkt's English model knows "Dr." and "p.m." are not sentence ends; a plain split on "." would count 5.
    assert instructions_util.count_sentences("Dr. Smith arrived at 3 p.m. on Monday. He left early.") == 2
    assert instructions_util.count_sentences("Is it cold? Yes! It is.") == 3


def test_sentences_whose_words_the_punkt_tables_never_saw_are_counted():
    # The first default-run eval died here: an answer starting a sentence with "Pour" (not in the
    # English tables' orthographic context) raised KeyError until that context defaulted to 0.
    spec = {
        "id": "length_constraints:number_sentences",
        "kwargs": {"relation": "less than", "num_sentences": 5},
        "text": "x",
    }
    steps = "Follow these steps:\n\n1. Pour the hot water over the tea bag.\n2. Stir it well."
    assert C.check(steps, [spec]) == [True]
    assert C.check(steps + " Zebrafish swim. Qwertyuiop ends.", [spec]) == [False]
