"""Repeats in a teacher's text: the two ways a small model loops.

- `repetitive`: the text's word 3-grams are mostly repeats ("what a p: what a p: what a p: ...");
- `repeated_lines`: an answer's list gives one item twice ("five names" that are one title five times: a
  list that repeats an item has fewer items than it claims, so one repeat is enough), or a fifth or more of
  its lines or sentences are said again (a poem whose last lines are its third again; a song's refrain,
  once in fourteen lines, is not). Code is not held to it (`return result` twice is fine): fenced blocks are
  left out, and so is a line that looks like code.
"""

from __future__ import annotations

import re

from ..records import Reject

_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_MARKER = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|[a-z][.)]|#+)\s+", re.I)
_CODE_LINE = re.compile(r"[=;{}()\[\]<>]|^\s*(?:def|return|import|for|if|print)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def repetition(text: str, n: int = 3, min_distinct: float = 0.5) -> Reject | None:
    """Small teachers loop ("what a p: what a p: what a p: ..."): flag text whose word n-grams
    are mostly repeats. Short texts have too few n-grams to judge and pass."""
    share = repeats(text, n, min_distinct)
    return Reject("repetitive", share) if share else None


def repeats(text: str, n: int = 3, min_distinct: float = 0.5) -> str | None:
    """ "0.42 distinct" when the text's word n-grams are mostly repeats, else None."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 8:
        return None
    share = len(set(grams)) / len(grams)
    return f"{share:.2f} distinct" if share < min_distinct else None


def _norm(unit: str) -> str:
    return " ".join(re.findall(r"\w+", _MARKER.sub("", unit).lower()))


def repeated_line(text: str) -> str | None:
    """A list item given twice, or lines (3+ words, of 3 lines or more, outside code) or sentences (4+ words) of
    which a fifth or more are said again: the first repeat, quoted; else None."""
    prose = _FENCE.sub("\n", text)
    lines = [ln for ln in prose.splitlines() if ln.strip() and not _CODE_LINE.search(ln)]
    normed = [(bool(_MARKER.match(ln)), _norm(ln)) for ln in lines]
    items = [u for listed, u in normed if listed]
    if len(lines) >= 3:
        # a line of one or two words counts only as a list item: a letter signs with the name in its header
        units = [u for listed, u in normed if listed or len(u.split()) >= 3]
    else:
        units = [u for u in (_norm(s) for s in _SENTENCE.split(" ".join(lines))) if len(u.split()) >= 4]
    first = _first_repeat(items)
    if first is None:
        first = _first_repeat(units)
        # a song's refrain comes back once in many lines; a small teacher's loop is a fifth of what it wrote
        if first is not None and (len(units) - len(set(units))) / len(units) < 0.2:
            first = None
    return f"'{first[:40]}' twice" if first is not None else None


def _first_repeat(units: list[str]) -> str | None:
    seen: set[str] = set()
    for unit in units:
        if unit and unit in seen:
            return unit
        seen.add(unit)
    return None
