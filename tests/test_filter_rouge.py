"""Paper mode must decide exactly as rouge-score does: same tokens, same LCS, same float formula."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from rouge_score import rouge_scorer

from selfinstruct.filter.rouge import rouge_filter, rouge_score_filter, tokenize


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(rng.randint(0, 4)):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.3 and len(words) > 1:
            words.pop(i)
        elif op < 0.6:
            words.insert(i, rng.choice(["please", "the", "a", "Quickly,", "new", "2", "it's"]))
        else:
            j = rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
    return " ".join(words)


def test_tokenizer_is_rouge_scores():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for text in ["Hello, World!", "it's 3.5 km", "Ünïcode café — ok", "", "???", "a\tb\nc"]:
        assert tokenize(text) == scorer._tokenizer.tokenize(text)


def test_decisions_and_scores_equal_rouge_score_on_seed_tasks(public_seeds):
    seeds = [json.loads(line)["instruction"] for line in public_seeds.read_text().splitlines() if line.strip()]
    assert len(seeds) == 175
    rng = random.Random(0)
    # Perturbed copies land on both sides of 0.7; a few exact copies and edge cases too.
    cands = [_perturb(rng.choice(seeds), rng) for _ in range(300)] + seeds[:5] + ["", "!!!", "ok"]
    rng.shuffle(cands)
    pool = seeds[:120]
    keep, best, of = rouge_filter(cands, pool, 0.7)
    ref_keep, ref_best = rouge_score_filter(cands, pool, 0.7)
    assert (keep == ref_keep).all()
    assert np.array_equal(best, ref_best)  # bit-identical maxima, not just the same side of 0.7
    assert 50 < keep.sum() < len(cands) - 50  # the set exercises both decisions
    # `of` names a match that really has the maximum score.
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for i in np.flatnonzero(~keep)[:40]:
        other = pool[of[i]] if of[i] < len(pool) else cands[of[i] - len(pool)]
        assert scorer.score(cands[i], other)["rougeL"].fmeasure == best[i]


def test_ties_at_the_threshold_match_rouge_score():
    # 7 shared tokens of 10 + 10: F = 0.7 exactly (mathematically); rouge-score's float decides.
    a = "w1 w2 w3 w4 w5 w6 w7 a1 a2 a3"
    b = "w1 w2 w3 w4 w5 w6 w7 b1 b2 b3"
    c = "w1 w2 w3 w4 w5 w6 w7 w8 c1 c2 c3 c4 c5 c6"
    for thr in (0.7, 0.6999999, 0.7000001):
        keep, best, _ = rouge_filter([b, c], [a], thr)
        ref_keep, ref_best = rouge_score_filter([b, c], [a], thr)
        assert (keep == ref_keep).all() and np.array_equal(best, ref_best)


def test_within_batch_first_wins():
    keep, best, of = rouge_filter(
        ["Write a poem about the sea.", "Write a poem about the sea!", "List three prime numbers."], [], 0.7
    )
    assert keep.tolist() == [True, False, True]
    assert of[1] == 0 and best[1] == 1.0


@pytest.mark.parametrize("n", [0, 1])
def test_empty_inputs(n):
    keep, best, of = rouge_filter(["a b c"] * n, [], 0.7)
    assert len(keep) == n and (of == -1).all()
