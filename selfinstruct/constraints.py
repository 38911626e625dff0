"""Verifiable constraints (IFEval's), attached to an instruction and checked on an answer.

Each constraint type names its checker in if-verifiable's IFEval registry, how its arguments are
drawn and how it is phrased. The phrasings come in two disjoint pools: "eval" (IFEval's own
wording, and a variant) builds the held-out verifiable set (evaluate/verifiable.py); "train" is
for generation, which may attach constraints to generated instructions and check the teacher's
answers with the same checkers (AutoIF-style) without ever writing an eval phrasing.

    new, specs = attach(instruction, random.Random(0), pool="train", k=2)
    ok = check(answer, specs)          # one strict verdict per spec
    phrasings(rows)                    # the phrasings an eval set uses, to decontaminate against

A spec is JSON: {"id": checker id, "kwargs": checker arguments, "text": the phrase attached}.
`check` is if-verifiable's strict check (the answer as given; an empty answer fails everything).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

POOLS = ("eval", "train")
_REL = ("less than", "at least")
# Words an answer to nearly any task can use; keywords are drawn from them.
WORDS = (
    "example",
    "simple",
    "important",
    "clear",
    "today",
    "people",
    "world",
    "idea",
    "result",
    "reason",
    "detail",
    "question",
    "point",
    "future",
    "careful",
    "common",
    "useful",
    "history",
)
_STOP = frozenset(
    "about above after again also among because been before being below between both "
    "could does doing down during each from further have having here into itself just "
    "more most other over same should some such than that their them then there these "
    "they this those through under until very what when where which while will with "
    "would your write given following using short sentence sentences word words".split()
)
# Ending phrases by pool, so a training answer never ends the way an eval answer is asked to.
_ENDINGS = {
    "eval": ("Any other questions?", "Is there anything else I can help with?"),
    "train": ("Let me know if that helps.", "That is all for now.", "Hope this is useful."),
}


@dataclass(frozen=True)
class Constraint:
    id: str  # if-verifiable IFEval checker id
    group: str  # at most one constraint of a group per instruction: two would contradict
    draw: Callable[[random.Random, str, str], dict[str, Any]]  # (rng, instruction, pool) -> kwargs
    eval: tuple[str, ...]  # phrasings reserved for the held-out verifiable set
    train: tuple[str, ...]  # phrasings generation may use
    excludes: tuple[str, ...] = ()  # other groups it cannot share an instruction with


def _none(rng: random.Random, ins: str, pool: str) -> dict[str, Any]:
    return {}


def _sentences(rng, ins, pool):
    # The answer budget (student.eval_max_new_tokens, 128) fits about five sentences.
    rel = rng.choice(_REL)
    return {"relation": rel, "num_sentences": rng.randint(2, 4) if rel == "less than" else rng.randint(2, 3)}


def _words(rng, ins, pool):
    rel = rng.choice(_REL)
    return {
        "relation": rel,
        "num_words": rng.choice((15, 20, 30, 40)) if rel == "less than" else rng.choice((20, 30, 40)),
    }


def _keywords(rng, ins, pool):
    return {"keywords": sorted(rng.sample(WORDS, rng.choice((1, 2))))}


def _forbidden(rng, ins, pool):
    """A content word of the instruction itself: an answer that does not think about it uses it."""
    own = sorted({w.lower() for w in re.findall(r"[A-Za-z]{5,}", ins)} - _STOP)
    return {"forbidden_words": [rng.choice(own) if own else rng.choice(WORDS)]}


def _frequency(rng, ins, pool):
    return {"keyword": rng.choice(WORDS), "frequency": rng.randint(2, 3), "relation": "at least"}


def _bullets(rng, ins, pool):
    return {"num_bullets": rng.randint(2, 4)}


def _highlights(rng, ins, pool):
    return {"num_highlights": rng.randint(1, 2)}


def _ending(rng, ins, pool):
    return {"end_phrase": rng.choice(_ENDINGS[pool])}


def _postscript(rng, ins, pool):
    return {"postscript_marker": "P.S."}


TYPES: tuple[Constraint, ...] = (
    Constraint(
        "length_constraints:number_sentences",
        "length",
        _sentences,
        (
            "Your response should contain {relation} {num_sentences} sentences.",
            "Answer in {relation} {num_sentences} sentences.",
        ),
        (
            "Use {relation} {num_sentences} sentences in your reply.",
            "Keep the number of sentences {relation} {num_sentences}.",
        ),
    ),
    Constraint(
        "length_constraints:number_words",
        "length",
        _words,
        ("Answer with {relation} {num_words} words.", "Your entire response should have {relation} {num_words} words."),
        ("The reply must use {relation} {num_words} words.", "Write {relation} {num_words} words in total."),
    ),
    Constraint(
        "detectable_format:number_bullet_lists",
        "format",
        _bullets,
        (
            "Your answer must contain exactly {num_bullets} bullet points. Use the markdown bullet "
            "points such as:\n* This is point 1.\n* This is point 2",
            "Format your answer as exactly {num_bullets} markdown bullet points (lines starting with *).",
        ),
        (
            "Give exactly {num_bullets} bullet points, each on its own line starting with '* '.",
            "Structure the reply as a markdown list of exactly {num_bullets} items.",
        ),
    ),
    Constraint(
        "detectable_format:number_highlighted_sections",
        "format",
        _highlights,
        (
            "Highlight at least {num_highlights} sections in your answer with markdown, i.e. *highlighted section*.",
            "Mark at least {num_highlights} parts of your answer as *highlighted* with markdown.",
        ),
        (
            "Emphasize {num_highlights} or more phrases by wrapping them in single asterisks, like *this*.",
            "Use markdown italics (*text*) for at least {num_highlights} key phrases.",
        ),
    ),
    Constraint(
        "detectable_format:title",
        "format",
        _none,
        (
            "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
            "Give your answer a title in double angular brackets, like <<my title>>.",
        ),
        (
            "Start with a title enclosed in << and >>, for example <<A Short Note>>.",
            "Include a heading written between double angle brackets, e.g. <<Summary>>.",
        ),
    ),
    Constraint(
        "startend:quotation",
        "format",
        _none,
        (
            "Wrap your entire response with double quotation marks.",
            "Put your whole answer inside double quotation marks.",
        ),
        (
            "Enclose the complete reply in double quotes.",
            "The reply should begin and end with a double quote character.",
        ),
    ),
    Constraint(
        "detectable_format:json_format",
        "format",
        _none,
        (
            "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
            "Give your entire answer as valid JSON.",
        ),
        (
            "Return the reply as one JSON object and nothing else.",
            "Respond only with well-formed JSON (a code fence is fine).",
        ),
        excludes=("length", "case", "punctuation", "ending"),
    ),
    Constraint(
        "change_case:english_lowercase",
        "case",
        _none,
        (
            "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.",
            "Write your whole answer in English using only lowercase letters.",
        ),
        (
            "Reply in English with no uppercase letters at all.",
            "Use lowercase English only; do not capitalize anything.",
        ),
    ),
    Constraint(
        "change_case:english_capital",
        "case",
        _none,
        (
            "Your entire response should be in English, and in all capital letters.",
            "Write your whole answer in English in capital letters only.",
        ),
        (
            "Reply in English using uppercase letters throughout.",
            "Every letter of the reply must be an English capital letter.",
        ),
    ),
    Constraint(
        "punctuation:no_comma",
        "punctuation",
        _none,
        ("In your entire response, refrain from the use of any commas.", "Do not use any commas in your answer."),
        ("Avoid commas completely in the reply.", "The reply must contain no comma characters."),
    ),
    Constraint(
        "keywords:existence",
        "keywords",
        _keywords,
        ("Include keywords {keywords} in the response.", "Make sure your answer uses the words {keywords}."),
        ("Mention the words {keywords} somewhere in the reply.", "The reply has to contain {keywords}."),
    ),
    Constraint(
        "keywords:forbidden_words",
        "keywords",
        _forbidden,
        (
            "Do not include keywords {forbidden_words} in the response.",
            "Do not use the word {forbidden_words} anywhere in your answer.",
        ),
        ("Avoid the word {forbidden_words} in the reply.", "Never write {forbidden_words} in the reply."),
    ),
    Constraint(
        "keywords:frequency",
        "keywords",
        _frequency,
        (
            "In your response, the word {keyword} should appear {relation} {frequency} times.",
            "Use the word {keyword} {relation} {frequency} times in your answer.",
        ),
        (
            "Repeat the word {keyword} {relation} {frequency} times in the reply.",
            "The reply should mention {keyword} {relation} {frequency} times.",
        ),
    ),
    Constraint(
        "startend:end_checker",
        "ending",
        _ending,
        (
            "Finish your response with this exact phrase {end_phrase}. No other words should follow this phrase.",
            'End your answer with the exact phrase "{end_phrase}" and nothing after it.',
        ),
        (
            'Close the reply with the words "{end_phrase}" as its very last text.',
            "The final words of the reply must be: {end_phrase}",
        ),
        excludes=("case",),
    ),  # "Any other questions?" written as asked is not all lowercase
    Constraint(
        "detectable_content:postscript",
        "ending",
        _postscript,
        (
            "At the end of your response, please explicitly add a postscript starting with {postscript_marker}",
            "Add a postscript at the end of your answer, starting with {postscript_marker}",
        ),
        (
            "Finish the reply with a short note that begins with {postscript_marker}",
            "After the main reply, add one line beginning with {postscript_marker}",
        ),
        excludes=("case",),
    ),
)
BY_ID = {c.id: c for c in TYPES}
assert not {p for c in TYPES for p in c.eval} & {p for c in TYPES for p in c.train}, "pools must be disjoint"


def _show(v: Any) -> str:
    return " and ".join(f'"{w}"' for w in v) if isinstance(v, list) else str(v)


def _compatible(c: Constraint, chosen: list[Constraint]) -> bool:
    return all(c.group != o.group and c.group not in o.excludes and o.group not in c.excludes for o in chosen)


def attach(
    instruction: str, rng: random.Random, pool: str = "eval", k: int = 1, types: tuple[str, ...] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """-> (the instruction with k constraint phrases appended, their specs); phrasings from `pool`,
    constraints among `types` (checker ids; all of TYPES when None)."""
    if pool not in POOLS or k not in (1, 2):
        raise ValueError(f"pool must be one of {POOLS} and k 1 or 2 (got {pool!r}, {k})")
    allowed = TYPES if types is None else tuple(BY_ID[t] for t in types)
    chosen: list[Constraint] = []
    for c in rng.sample(allowed, len(allowed)):
        if len(chosen) < k and _compatible(c, chosen):
            chosen.append(c)
    specs = []
    for c in chosen:
        kwargs = c.draw(rng, instruction, pool)
        text = rng.choice(getattr(c, pool)).format(**{key: _show(v) for key, v in kwargs.items()})
        specs.append({"id": c.id, "kwargs": kwargs, "text": text})
    return " ".join([instruction.rstrip(), *(s["text"] for s in specs)]), specs


def detach(instruction: str, specs: list[dict[str, Any]]) -> str:
    """The instruction without the phrases `attach` appended for `specs`."""
    for spec in specs:
        instruction = instruction.replace(spec["text"], " ")
    return re.sub(r"[ \t]{2,}", " ", instruction).strip()


def attached(checks: dict[str, str]) -> list[dict[str, Any]]:
    """The specs the engine attached to a task (its checks["specs"], the constrained strategy), or []."""
    return json.loads(checks["specs"]) if "specs" in checks else []


def own_words(instruction: str, checks: dict[str, str]) -> str:
    """A task's instruction less any constraint the engine attached: what the task itself asks for."""
    specs = attached(checks)
    return detach(instruction, specs) if specs else instruction


def _checker(spec: dict[str, Any]):
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    from . import punkt_offline

    punkt_offline.install()
    if spec["id"] not in INSTRUCTION_DICT:
        raise ValueError(f"unknown constraint id {spec['id']!r}")
    checker = INSTRUCTION_DICT[spec["id"]](spec["id"])
    checker.build_description(**spec["kwargs"])
    return checker


def check(response: str, specs: list[dict[str, Any]]) -> list[bool]:
    """if-verifiable's strict verdict per spec: the response as it is, nothing stripped or retried."""
    _seed_langdetect()
    if not response.strip():
        return [False] * len(specs)
    return [bool(_checker(s).check_following(response)) for s in specs]


def _seed_langdetect() -> None:
    """The case checkers ask langdetect, which samples: seeded, the same answer gets the same verdict."""
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0


def phrasings(rows: list[dict[str, Any]]) -> list[str]:
    """The constraint phrases a verifiable set uses (rows with "specs"), sorted, each once."""
    return sorted({s["text"] for r in rows for s in r.get("specs", [])})


def find_phrasings(text: str, used: list[str]) -> list[str]:
    """The phrases of `used` that occur in `text` (case and spacing ignored): a generated
    instruction or answer that carries one is contaminated by the eval set."""
    norm = " ".join(text.lower().split())
    return [p for p in used if " ".join(p.lower().split()) in norm]
