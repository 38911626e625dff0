"""Parsers for what teachers actually write, which is messy.

A base model continuing "Task 9:" writes "Write a ...\nTask 10: ...\n10. ...\nTask: ..." with numbering
errors, missing numbers, bullets, quotes, and a last item cut off mid-sentence when it runs out
of tokens. Each parser returns what it could recover and, for what it could not, a reason.
"""

from __future__ import annotations

import re

from ..records import Instance

# "Task 10:", "Task 10.", "**Task 10**:", "10.", "10)", "Task:", "- ", "* " at the start of a line.
_ITEM = re.compile(r"^\s*(?:\**(?:task|instruction)\s*\d*\s*\**\s*[:.)-]\**|\d{1,3}\s*[:.)]|[-*\u2022])\s*", re.I)
_SPACES = re.compile(r"\s+")
# A sentence, or a quoted one, then "Task 11:" or markdown "**Task 11**:" on the same line.
_INLINE_ITEM = re.compile(r"(?<=[.?!\"'\u201d])[ \t]+(?=\**Task \d+\**\s*:)")
_NOINPUT = re.compile(r"^\s*(?:<\s*no\s*input\s*>|noinput|n/?a|none|no input|-|\(none\))\.?\s*$", re.I)


_FENCED = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.S)


def _unwrap(text: str) -> str:
    """Without the quotes or the markdown code fence the model wrapped all of `text` in (a fence
    lost one backtick a side to the quote rule: "``python ... ``" inputs)."""
    fenced = _FENCED.match(text)
    if fenced:
        return fenced.group(1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1].strip()
    return text


def clean_instruction(text: str) -> str:
    # Quotes the model wraps a whole item in, and markdown emphasis.
    return _unwrap(_SPACES.sub(" ", text).strip()).strip("*").strip()


def parse_instructions(text: str, finish_reason: str = "stop") -> list[str]:
    """A continued task list -> instructions. The text before the first marker continues the
    open "Task N:" line. The last item is dropped when the teacher ran out of tokens (partial)."""
    items: list[list[str]] = [[]]
    text = _INLINE_ITEM.sub("\n", text)  # "... a number. Task 11: Create ..." on one line: two items
    for line in text.splitlines():
        m = _ITEM.match(line)
        if m:
            items.append([line[m.end() :]])
        elif line.strip():
            items[-1].append(line)
        elif any(s.strip() for s in items[-1]):
            items.append([])  # a blank line ends an item: what follows is not part of it
    out = [clean_instruction(" ".join(parts)) for parts in items]
    if finish_reason == "length" and out:
        out = out[:-1]
    return [o for o in out if o]


def parse_is_classification(text: str) -> bool | None:
    """'Yes'/'No' (first word, any case/punctuation) -> bool; anything else -> None."""
    m = re.match(r"\W*(yes|no|true|false)\b", text.strip(), re.I)
    if not m:
        return None
    return m.group(1).lower() in ("yes", "true")


def _field(text: str, name: str) -> tuple[str | None, str]:
    """Value of `Name:` up to the next known field; returns (value or None, rest after it)."""
    # Chat answers write fields in markdown too ("**Input:**"); the stars go with the name.
    m = re.search(rf"(?:^|\n)\s*\**{name}\s*:\**", text, re.I)
    if not m:
        return None, text
    rest = text[m.end() :]
    nxt = re.search(r"\n\s*\**(?:input|output|class label|task|example\s*\d*)\s*:", rest, re.I)
    return (rest[: nxt.start()] if nxt else rest).strip(), (rest[nxt.start() :] if nxt else "")


def _cut_at_next_task(text: str) -> str:
    m = re.search(r"\n\s*(?:task\s*\d*\s*:|example\s*\d+)", text, re.I)
    text = text[: m.start()] if m else text
    # A blank-line run ends the example; models often ramble after it.
    return re.split(r"\n\s*\n\s*\n", text)[0]


def parse_instance(text: str, output_first: bool, finish_reason: str = "stop") -> tuple[Instance | None, str]:
    """One generated example -> (Instance, "") or (None, reason).

    Input-first text continues "Input:" so it reads "<input>\\nOutput: <output>"; output-first
    continues "Class label:" so it reads "<label>\\nInput: <input>".
    """
    if finish_reason == "length" and not output_first:
        # An output cut off mid-way teaches the student to stop mid-sentence.
        return None, "truncated"
    body = _cut_at_next_task(text)
    first = "Class label" if output_first else "Input"
    # A completion continues the open "Input:" line; a chat answer writes the field name itself.
    if not re.match(rf"\s*\**{first}\s*:", body, re.I):
        body = f"{first}:{body}"
    lead, rest = _field(body, first)
    second, _ = _field(rest, "Input" if output_first else "Output")
    if lead is None or second is None:
        return None, "missing_field(" + ("input" if output_first else "output") + ")"
    if output_first:
        label, inp = lead, second
        if not label or "\n" in label.strip():
            return None, "bad_label"
        return Instance(input="" if _NOINPUT.match(inp) else inp, output=label.strip().rstrip(".")), ""
    inp, out = lead, second
    if not out.strip():
        return None, "empty_output"
    return Instance(input="" if _NOINPUT.match(inp) else inp, output=out.strip()), ""


def parse_input(text: str) -> str:
    """A chat teacher's written input: its text without an "Input:" label or wrapping quotes;
    "<noinput>" (or none, N/A) -> ""."""
    text = _unwrap(re.sub(r"^\s*\**input\s*:\**", "", text.strip(), flags=re.I).strip())
    return "" if _NOINPUT.match(text) else text
