"""Constraints an instruction states in its own words ("in under 50 words", "in three sentences", "in all
capital letters", "as a bulleted list of 5 items"), as IFEval specs checked by if-verifiable's checkers
(selfinstruct/constraints.py). A constraint the output breaks makes the task invalid whatever its kind.

Only plain, unambiguous phrasings are read: a constraint missed costs nothing, a constraint made up
would reject good tasks.
"""

from __future__ import annotations

import re
from typing import Any

from ..constraints import check

_NUM = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_N = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"


def _n(text: str) -> int:
    return int(text) if text.isdigit() else _NUM[text.lower()]


def _words_at_most(m: re.Match) -> dict[str, Any]:
    return {"relation": "less than", "num_words": _n(m.group(1)) + 1}


def _sentences(m: re.Match) -> dict[str, Any]:
    exact = m.group(0).lower()
    if re.search(r"at most|no more than|fewer than|less than|under|up to", exact):
        return {"relation": "less than", "num_sentences": _n(m.group(1)) + 1}
    return {"relation": "at least", "num_sentences": _n(m.group(1))}


# (pattern, checker id, kwargs from the match); the first match per checker counts.
RULES = [
    (
        re.compile(
            rf"\b(?:in|with|using)\s+(?:no more than|at most|fewer than|less than|under|up to)\s+{_N}\s+words\b", re.I
        ),
        "length_constraints:number_words",
        _words_at_most,
    ),
    (re.compile(rf"\b{_N}\s+words\s+or\s+(?:fewer|less)\b", re.I), "length_constraints:number_words", _words_at_most),
    (
        re.compile(
            rf"\b(?:in|with|using)\s+(?:exactly\s+|at least\s+|no more than\s+|at most\s+|up to\s+)?"
            rf"{_N}\s+sentences?\b",
            re.I,
        ),
        "length_constraints:number_sentences",
        _sentences,
    ),
    (  # "a four-sentence story": at least that many (a shorter one is what the 0.5B writes)
        re.compile(rf"\b{_N}-sentences?\b", re.I),
        "length_constraints:number_sentences",
        lambda m: {"relation": "at least", "num_sentences": _n(m.group(1))},
    ),
    (
        re.compile(r"\bin\s+all\s+(?:capital|capitalized|uppercase|upper-case)\s+letters\b|\bin\s+all\s+caps\b", re.I),
        "change_case:english_capital",
        lambda m: {},
    ),
    (re.compile(r"\bin\s+all\s+lower-?case(?:\s+letters)?\b", re.I), "change_case:english_lowercase", lambda m: {}),
    (re.compile(r"\bwithout\s+(?:using\s+)?(?:any\s+)?commas\b", re.I), "punctuation:no_comma", lambda m: {}),
    (re.compile(r"\bin\s+(?:valid\s+)?json(?:\s+format)?\b", re.I), "detectable_format:json_format", lambda m: {}),
    (
        re.compile(rf"\b(?:exactly\s+)?{_N}\s+bullet(?:ed)?\s+points\b", re.I),
        "detectable_format:number_bullet_lists",
        lambda m: {"num_bullets": _n(m.group(1))},
    ),
]


def stated(instruction: str) -> list[dict[str, Any]]:
    """The constraints `instruction` states, as specs for constraints.check."""
    specs, seen = [], set()
    for pattern, cid, kwargs in RULES:
        m = pattern.search(instruction)
        if m and cid not in seen:
            seen.add(cid)
            specs.append({"id": cid, "kwargs": kwargs(m), "text": m.group(0)})
    return specs


def outcome(instruction: str, output: str, attached: list[dict[str, Any]] | None = None) -> str | None:
    """ "met: ..." or "unmet: <the phrase>"; None when the instruction states no constraint. `attached`:
    specs the engine appended to the instruction (checked as given, before what the text states)."""
    specs = list(attached or [])
    specs += [s for s in stated(instruction) if s["id"] not in {a["id"] for a in specs}]
    if not specs:
        return None
    verdicts = check(output, specs)
    broken = [s["text"] for s, ok in zip(specs, verdicts) if not ok]
    return f"unmet: {'; '.join(broken)}" if broken else f"met: {'; '.join(s['text'] for s in specs)}"
