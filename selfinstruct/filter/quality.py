"""Quality: Self-Instruct's cheap heuristics, then (optionally) an LLM judge, as AlpaGasus does.

Heuristics (Self-Instruct's generate_instructions / prepare_for_finetuning):
- the instruction has min_words..max_words words, no blacklisted word (a task a text model cannot
  do: images, audio, files...), and does not start with punctuation or a non-ASCII character;
- instances: one whose output is empty, a placeholder ("...", "Output"), equals its input, or ends with ":" (a cut-off
  generation) is dropped, as is a refusal ("I'm sorry, but...") or an empty input for an instruction
  that points at given material ("the text", "this sentence"); so is an input that gives the answer away
  (answer_in_input), one where the teacher introduces its input ("Sure! Here's a realistic input:", chatter) and
  an output that only restates its instruction or an input that repeats it (echoes_instruction); exact duplicate
  instances are merged; if two instances have the same
  non-empty input but different outputs the task contradicts itself and is rejected; a task left
  with no instance is rejected with the first problem found.
Each heuristic is a rule named by the reject it gives (INSTRUCTION_RULES, INSTANCE_RULES, in the order
they are asked); `filter.quality.skip` switches rules off by name, and the filter's stats count the
instances each rule failed (`instance_rules`).

The judge asks the teacher for a 1-5 score of (instruction, first instance). A task is kept if
score >= judge_threshold. An answer with no score in it, or a teacher error, rejects the task
(`judge_unparsable`, `judge_error`): with the judge on, a task joins the pool on positive
evidence only, and the reason is recorded so the share of such answers is visible in the stats.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

from ..config import QualityConfig
from ..constraints import own_words
from ..prompting import make_request, template
from ..records import Instance, Reject, Task
from ..store import ChunkStore
from ..teachers.base import Request, run_step
from .repeats import repeated_line, repeats
from .rouge import rouge_filter

_SENTENCE_END = re.compile(r"[.?!:;)\]\"'`\u201d\u2019]$")


@lru_cache(maxsize=4)
def _blacklist_re(words: tuple[str, ...]) -> re.Pattern | None:
    if not words:
        return None
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b({alts})\b", re.IGNORECASE)


def check_instruction(text: str, cfg: QualityConfig) -> Reject | None:
    """Why an instruction is rejected (its first failing rule), or None if it passes."""
    return _first(INSTRUCTION_RULES, cfg.skip, None, text, cfg)


def _first(rules: dict, skip: list[str], counts: Counter | None, *args) -> Reject | None:
    """The first rule that fails, as its Reject (kind: the rule's name); counted in `counts`."""
    for name, rule in rules.items():
        if name in skip:
            continue
        hit = rule(*args)
        if hit:
            if counts is not None:
                counts[name] += 1
            return Reject(name, hit if isinstance(hit, str) else "")
    return None


def _too_short(text: str, cfg: QualityConfig) -> str | None:
    n = len(text.split())
    return f"{n} word{'s' * (n != 1)}" if n < cfg.min_words else None


def _too_long(text: str, cfg: QualityConfig) -> str | None:
    n = len(text.split())
    return f"{n} words" if n > cfg.max_words else None


def _blacklisted(text: str, cfg: QualityConfig) -> str | None:
    pattern = _blacklist_re(tuple(cfg.blacklist))
    hit = pattern.search(text) if pattern else None
    return hit.group(1).lower() if hit else None


_PUNCTUATION = frozenset(string.punctuation)


def _first_char(text: str) -> str:
    return text.lstrip()[:1]


# An instruction's rules, asked in this order; each is named by the reject it gives, and
# filter.quality.skip switches it off. A rule: (text, cfg) -> falsy to pass, True or a detail to fail.
INSTRUCTION_RULES: dict[str, Callable[[str, QualityConfig], bool | str | None]] = {
    "too_short": _too_short,
    "too_long": _too_long,
    "blacklist": _blacklisted,
    "bad_start": lambda text, cfg: "punctuation" if _first_char(text) in _PUNCTUATION else None,
    "non_ascii_start": lambda text, cfg: not _first_char(text).isascii(),
    # 174 of the 175 Self-Instruct seeds end like this; a teacher's fragment ("25% off the jacket") does not.
    "unfinished": lambda text, cfg: (
        "no closing punctuation" if cfg.sentence_end and not _SENTENCE_END.search(text.rstrip()) else None
    ),
    "repetitive": lambda text, cfg: repeats(text),
}


# What a small chat teacher writes when it copies the answer form instead of filling it in.
_PLACEHOLDER = re.compile(r"^\W*(\.\.\.|…|no input|<[^<>]{0,30}>|output|input|answer)\W*$", re.I)


# An instruction that points at material it was given ("the text", "this sentence") is invalid
# without an input; small teachers write "<noinput>" for such tasks all the time.
_NEEDS_INPUT = re.compile(
    r"\b(?:the|this|these|following|given|provided|above|below)\s+(?:given\s+|following\s+)?"
    r"(?:text|sentence|sentences|paragraph|passage|code|snippet|list|email|article|review|reviews|word|words|"
    r"data|table|story|poem|essay|document|message|string|number|numbers|array|question|questions|"
    r"tweet|tweets|post|blog post|statement|statements|options|choices|comment|conversation|"
    r"dialogue|headline|excerpt|quote|lyrics|recipe|input)\b",
    re.I,
)
# Refusals and non-answers, as Alpaca-cleaned removes them.
_REFUSAL = re.compile(r"^\W*(?:i'?m sorry|i apologi[sz]e|sorry, but|as an ai|i cannot|i can'?t|unfortunately, i)", re.I)


def needs_input(instruction: str) -> bool:
    """The instruction points at material it is given ("the text", "this sentence")."""
    return bool(_NEEDS_INPUT.search(instruction))


def self_contained_question(instruction: str) -> bool:
    """A question that points at no given material: it needs no input."""
    return instruction.rstrip().endswith("?") and not needs_input(instruction)


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def answer_in_input(inst: Instance, instruction: str, near: float = 0.7) -> bool:
    """The input gives the answer away ("How many legs does an octopus have?" <- "An octopus has 8
    legs." -> "8"), or the output restates the input. Asked only of an instruction that does not
    point at given material: extracting from "the text" is its task, not a leak. Nor is an output
    as long as its input or longer, for a task that is not a question: it transforms its input (rank
    these countries, fill in the mask, convert "3 ft = ___ in."), as 5 seeds do."""
    out, inp = _words(inst.output), _words(inst.input)
    if out and f" {out} " in f" {inp} ":
        return True
    if len(out.split()) >= len(inp.split()) and not instruction.rstrip().endswith("?"):
        return False
    _, best, _ = rouge_filter([inst.output], [inst.input], near)
    return best[0] >= near


# The teacher introducing the input it writes ("Sure! Here's a realistic, concrete input for the task:")
# instead of writing only the input.
_CHATTER = re.compile(
    r"^\W*(?:sure|certainly|of course|absolutely|here(?:'s| is| are))\b[^\n]*\b(?:input|example)s?\b", re.I
)
# Words an output may add to its instruction's and still only restate it ("Explain why the weather is cloudy." ->
# "The weather is cloudy.").
_GLUE = frozenset("a an the is are was were be it this that these those of to in on for and or with".split())


def echoes_instruction(inst: Instance, instruction: str) -> str | None:
    """ "output" when the output only restates its instruction (3+ words, none new but glue words), "input" when
    the input is the instruction again; None otherwise."""
    task_words = set(_words(instruction).split())
    out = _words(inst.output).split()
    if len(out) >= 3 and all(w in task_words or w in _GLUE for w in out):
        return "output"
    inp = _words(inst.input)
    if inp and _words(instruction) in inp:
        return "input"
    return None


def _leaks(inst: Instance, task: Task) -> bool:
    # A classification task's label is one of the options its input lists: not a leak.
    return (
        bool(inst.input.strip())
        and not task.is_classification
        and not needs_input(task.instruction)
        and answer_in_input(inst, task.instruction)
    )


# An instance's rules, asked in this order; each is named by the reject it gives, and
# filter.quality.skip switches it off. A rule: (instance, task) -> falsy to pass, True or a detail to fail.
INSTANCE_RULES: dict[str, Callable[[Instance, Task], bool | str | None]] = {
    "empty_output": lambda inst, task: not inst.output.strip(),
    "refusal": lambda inst, task: bool(_REFUSAL.match(inst.output) or _REFUSAL.match(inst.input)),
    # an attached "Keep the number of sentences less than 3" points at no material the task was given
    "missing_input": lambda inst, task: (
        not inst.input.strip() and needs_input(own_words(task.instruction, task.checks))
    ),
    "placeholder": lambda inst, task: bool(
        _PLACEHOLDER.match(inst.output) or (inst.input.strip() and _PLACEHOLDER.match(inst.input))
    ),
    "output_equals_input": lambda inst, task: inst.input.strip() == inst.output.strip(),
    "answer_in_input": _leaks,
    "truncated_instance": lambda inst, task: inst.input.strip().endswith(":") or inst.output.strip().endswith(":"),
    "chatter": lambda inst, task: "input" if _CHATTER.match(inst.input) else None,
    "echoes_instruction": lambda inst, task: not task.is_classification and echoes_instruction(inst, task.instruction),
    "repetitive": lambda inst, task: repeats(inst.output) or repeats(inst.input),
    # a list that gives one item twice, a poem or story that says a line again (filter/repeats.py)
    "repeated_lines": lambda inst, task: repeated_line(inst.output),
}
RULES = (*INSTRUCTION_RULES, *(r for r in INSTANCE_RULES if r not in INSTRUCTION_RULES))


def check_instances(
    task: Task, cfg: QualityConfig | None = None, counts: Counter | None = None
) -> tuple[Reject | None, int]:
    """Drops bad instances in place (only from a task that stays). -> (reject reason or None, instances dropped).
    `counts`: instances each rule failed (the first rule that fails an instance is the one counted)."""
    if not task.instances:
        return Reject("no_instances"), 0
    outputs: dict[str, str] = {}
    for inst in task.instances:
        key = inst.input.strip()
        if key and inst.output.strip() and outputs.setdefault(key, inst.output.strip()) != inst.output.strip():
            return Reject("conflicting_outputs"), 0
    skip = cfg.skip if cfg is not None else []
    good, seen, first_problem = [], set(), None
    for inst in task.instances:
        problem = _first(INSTANCE_RULES, skip, counts, inst, task)
        first_problem = first_problem or problem
        if problem is None and (inst.input, inst.output) not in seen:
            seen.add((inst.input, inst.output))
            good.append(inst)
    if not good:  # a rejected task keeps its instances, so the record shows what was wrong
        return first_problem, 0
    dropped = len(task.instances) - len(good)
    task.instances = good
    return None, dropped


def judge_requests(tasks: list[Task], cfg: QualityConfig, style: str) -> list[Request]:
    """Greedy (temperature 0) rating requests, one per task, on its first instance."""
    name = cfg.judge_template if style == "completion" else cfg.judge_chat_template
    reqs = []
    for t in tasks:
        inst = t.instances[0] if t.instances else Instance()
        text = template(name).render(instruction=t.instruction, input=inst.input, output=inst.output)
        reqs.append(
            make_request(
                text,
                style,
                max_tokens=cfg.judge_max_tokens,
                temperature=0.0,
                stop=["\n"],
                meta={"task_id": t.id, "step": "judge"},
            )
        )
    return reqs


_SCORE_RE = re.compile(r"(?<![\d.])([1-5](?:\.\d+)?)(?![\d.]*\d)")


def parse_score(text: str) -> float | None:
    """The first number from 1 to 5 in the answer ("4", " 4/5", "Score: 4.5", "**3**"), else None."""
    hit = _SCORE_RE.search(text or "")
    if not hit:
        return None
    value = float(hit.group(1))
    return value if 1.0 <= value <= 5.0 else None


def judge(
    tasks: list[Task], teacher, store: ChunkStore, chunk_size: int, cfg: QualityConfig, style: str
) -> list[Reject | None]:
    """Rates every task through run_step; -> one Reject or None per task."""
    outs = run_step(teacher, judge_requests(tasks, cfg, style), store, chunk_size)
    by_task = {o.meta.get("task_id"): o for o in outs}
    reasons: list[Reject | None] = []
    for t in tasks:
        out = by_task.get(t.id)
        if out is None or out.finish_reason == "error":
            reasons.append(Reject("judge_error"))
            continue
        score = parse_score(out.text)
        if score is None:
            reasons.append(Reject("judge_unparsable"))
            continue
        t.scores["judge"] = score
        reasons.append(None if score >= cfg.judge_threshold else Reject("judge", f"{score:g}"))
    return reasons
