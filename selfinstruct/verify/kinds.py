"""Which verifier fits a task, and the pure parts of verifying: code out of an answer, whether a
program computes anything, whether a printed value and an output agree.

A task is one of:
- `code`: it asks for Python code (a function, program or script) and its output has some: the
  teacher writes tests, the sandbox runs code and tests together;
- `compute`: its answer is a value a few lines of Python compute (a number, a count, a sorted list,
  the longest word): the teacher writes that program, the sandbox runs it, the values must agree;
- `open`: anything else (advice, explanation, writing): no program can check it.
Rules, not the teacher, decide: a 0.5B teacher classifies at chance (docs/results.md), and a rule can be
measured against the hand labels.
"""

from __future__ import annotations

import ast
import math
import re

_CODE_ASK = re.compile(
    r"\b(write|create|implement|define|develop|build|design|generate|code)\b.{0,60}?"
    r"\b(function|program|script|class|code|snippet|one-liner)\b",
    re.I,
)
_OTHER_LANG = re.compile(
    r"\b(javascript|typescript|java|c\+\+|c#|sql|html|css|bash|shell|ruby|php|swift|kotlin|"
    r"golang|rust|perl|matlab|excel|node\.?js|react)\b|\bin (?:c|r|go)\b",
    re.I,
)
_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
# A number to work out (needs digits in the task), or an operation on given text (needs an input).
_NUMERIC_CUE = re.compile(
    r"\b(calculate|compute|sum|total|average|mean|median|product|how many|how much|number of|convert|"
    r"percent(?:age)?|area|perimeter|volume|square root|squared?|cube|factorial|multipl(?:y|ied)|divided?|"
    r"subtract|plus|minus|times|difference|remainder|prime|even|odd|largest|smallest|maximum|minimum|"
    r"highest|lowest|sort(?:ed)?|fibonacci|gcd|lcm|greatest common|least common|round(?:ed)?|interest|speed|"
    r"distance|celsius|fahrenheit|binary|hexadecimal|decimal|fraction)\b",
    re.I,
)
_TEXT_CUE = re.compile(
    r"\b(count|how many|number of|longest|shortest|sort(?:ed)?|reverse[ds]?|vowels?|consonants?|"
    r"characters?|letters?|digits?|palindrome|anagram|uppercase|lowercase|frequen(?:t|cy)|occurrences?|"
    r"duplicates?|unique|alphabetical(?:ly)?|first|last)\b",
    re.I,
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_WORDS = re.compile(r"[A-Za-z0-9]+(?:\.\d+)?")
_MARK = re.compile(r"\b(?:is|are|equals)\b|[:=]", re.I)
_STATED = re.compile(
    r"(?:\bis|\bare|\bequals|=|\banswer:)\s*(?:about\s+|approximately\s+|\$)?(-?\d[\d,]*(?:\.\d+)?)", re.I
)


def python_code(text: str) -> str | None:
    """The Python code in an answer: its python (or unlabelled) fenced blocks joined, or the whole
    answer when it reads as code; None when there is none or it is another language."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    if blocks:
        code = "\n\n".join(body for lang, body in blocks if lang in ("", "python", "py", "python3"))
        return code.strip() or None if _parses(code) else None
    stripped = text.strip()
    if re.search(r"^\s*(def|class|import|from)\s", stripped, re.M) and _parses(stripped):
        return stripped
    return None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return bool(code.strip())


def asks_for_code(instruction: str) -> bool:
    """It asks for Python code (or code in no language named): its output must hold some that runs."""
    return bool(_CODE_ASK.search(instruction)) and not _OTHER_LANG.search(instruction)


def may_verify(instruction: str) -> bool:
    """Before any instance is written: could a program check this task once it has its input and output?
    (kind_of decides after; this only spares writing instances for tasks that can only be open.)"""
    return asks_for_code(instruction) or bool(_NUMERIC_CUE.search(instruction) or _TEXT_CUE.search(instruction))


def kind_of(instruction: str, input: str, output: str, is_classification: bool | None = None) -> str:
    """code, compute, or open (see the module's docstring). A code task whose output has no code is
    still `code`: its execution fails."""
    if asks_for_code(instruction):
        return "code"
    if is_classification or python_code(output) or len(output.split()) > 40:
        return "open"
    if _NUMERIC_CUE.search(instruction) and re.search(r"\d", f"{instruction}\n{input}"):
        return "compute"
    if _TEXT_CUE.search(instruction) and (input.strip() or re.search(r"[\"'“].+?[\"'”]", instruction)):
        return "compute"
    return "open"


def computes(code: str) -> bool:
    """Does the program compute its answer, or only print one it was given? A program that prints
    literals (print("Paris"), x = 5050; print(x)) checks nothing."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(
            node,
            (
                ast.BinOp,
                ast.BoolOp,
                ast.Compare,
                ast.UnaryOp,
                ast.For,
                ast.While,
                ast.comprehension,
                ast.Subscript,
                ast.FunctionDef,
                ast.Lambda,
            ),
        ):
            return True
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name not in ("print", "str", "repr", "format"):
                return True
    return False


def printed_value(stdout: str) -> str:
    """What a program answered: its last non-empty printed line."""
    lines = [ln.strip() for ln in stdout.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _close(a: float, b: float, shown: str) -> bool:
    """Equal, or equal at the precision the output shows (3.33 for 3.3333)."""
    if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9):
        return True
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return decimals > 0 and abs(a - b) <= 0.5 * 10**-decimals + 1e-12


def stated_numbers(output: str) -> list[str]:
    """The numbers an output gives as its answer: its last one, and each one right after "is", "=",
    "are", "equals" or "answer:". "10 groups of 3 ... = 15 * 10 * 4 = 600" states 15 and 600, not 3."""
    found = _NUMBER.findall(output)
    return [*_STATED.findall(output), *found[-1:]]


def agrees(output: str, value: str) -> bool:
    """Does `output` give the program's `value`? A number must be one it states as its answer (at its
    shown precision), a boolean as yes/no/true/false, anything else as the same words in order where
    the output states its answer."""
    value, out = value.strip(), output.strip()
    if not value:
        return False
    number = _number(value)
    if number is not None:
        return any(_close(number, n, s) for s in stated_numbers(out) if (n := _number(s)) is not None)
    if value in ("True", "False"):
        said = re.findall(r"\b(yes|no|true|false)\b", out.lower())
        return bool(said) and (said[0] in ("yes", "true")) == (value == "True")
    want = [w.lower() for w in _WORDS.findall(value)]
    if not want:
        return value in out
    # Where the output states its answer: at its start, or after its last is / are / equals / : / =
    # ("The longest word in the given sentence is 'calm'." states calm, not sentence).
    have = [w.lower() for w in _WORDS.findall(out)]
    marks = list(_MARK.finditer(out))
    tail = [w.lower() for w in _WORDS.findall(out[marks[-1].end() :])] if marks else have
    return have[: len(want)] == want or any(tail[i : i + len(want)] == want for i in range(len(tail) - len(want) + 1))


def repaired(output: str, value: str) -> str:
    """The output with the program's value in it: a lone number in a sentence is replaced in place
    ("The sum is 5050." -> "The sum is 2550."); anything else becomes the value itself."""
    numbers = _NUMBER.findall(output)
    if _number(value) is not None and len(numbers) == 1 and len(output.split()) > 1:
        return output.replace(numbers[0], value, 1)
    return value
