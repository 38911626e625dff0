"""The one record type that flows through every stage: a task with its instances.

Every record is keyed by a content hash of what makes it *this* task (instruction and
instances), so the same task written twice, by a relaunch for example, has the same key
and the store can drop the second copy.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad input, reported as one line naming the file and line: `path:line: message`."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Reject:
    """Why a filter or step dropped a task: a kind the stats count, and a detail for the reader.
    str() is the text stored with the task: `near_duplicate(0.93, of=<id>)`, `no_instances`."""

    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}({self.detail})" if self.detail else self.kind

    @classmethod
    def from_record(cls, text: str | None, kind: str | None = None) -> Reject | None:
        """From a stored record: its kind is stored beside the text; records written before the kind
        was stored give it as the text's leading name."""
        if not text:
            return None
        if not kind:
            lead = _KIND.match(text)
            kind = lead.group(0) if lead else text
        detail = text[len(kind) + 1 : -1] if text.startswith(kind + "(") and text.endswith(")") else ""
        return cls(kind, detail)


_KIND = re.compile(r"[A-Za-z_][\w]*")


@dataclass
class Instance:
    input: str = ""
    output: str = ""


@dataclass
class Task:
    instruction: str
    instances: list[Instance] = field(default_factory=list)
    is_classification: bool | None = None
    id: str = ""
    name: str = ""
    # Provenance: which round made it (0 = seed), from which tasks, by which teacher and strategy.
    # parents: the in-context tasks of its prompt (self_instruct), the one task it evolved from
    # (evol), none (magpie). evolution: how evol rewrote its parent (deepen, constraints, ...).
    round: int = 0
    parents: list[str] = field(default_factory=list)
    teacher: str = ""
    strategy: str = "self_instruct"
    evolution: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    # What the verifiers found (filter/verify.py), check name -> outcome text, for the reader and the
    # review page: {"execution": "passed 3 of 3 tests", "computation": "repaired: 5050 -> 2550"}.
    checks: dict[str, str] = field(default_factory=dict)
    # A conversation's turns after the first instruction and its answer (multi_turn strategy):
    # [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}, ...]; empty for one turn.
    turns: list[dict[str, str]] = field(default_factory=list)
    reject: Reject | None = None

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.key()

    @property
    def reject_reason(self) -> str | None:
        """The reject as text, as stored and shown; None for a task that is kept."""
        return str(self.reject) if self.reject else None

    def key(self) -> str:
        """Content hash: instruction plus instances (and any later turns), whitespace-normalised."""
        return content_key(self.instruction, [(i.input, i.output) for i in self.instances], self.turns)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("reject")
        if not self.turns:  # a one-turn record is stored as it was before conversations existed
            d.pop("turns")
        d["reject_reason"] = self.reject_reason
        if self.reject:
            d["reject_kind"] = self.reject.kind
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        """Builds a task from a stored record; raises ValueError with a field name on bad types."""
        instances = [Instance(**_instance(i, n)) for n, i in enumerate(d.get("instances") or [])]
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k not in ("instances", "reject", "turns")}
        reason = d.get("reject_reason")
        if reason is not None and not isinstance(reason, str):
            raise ValueError(f"reject_reason must be a string, got {type(reason).__name__}")
        return cls(
            instances=instances,
            reject=Reject.from_record(reason, d.get("reject_kind")),
            turns=_turns(d.get("turns") or []),
            **known,
        )


def content_key(
    instruction: str, pairs: list[tuple[str, str]] | None = None, turns: list[dict[str, str]] | None = None
) -> str:
    norm = " ".join(instruction.split()).lower()
    body: list[Any] = [norm, [[" ".join(a.split()), " ".join(b.split())] for a, b in pairs or []]]
    if turns:  # only then: a one-turn task keeps the key it always had
        body.append([[m["role"], " ".join(m["content"].split())] for m in turns])
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]


def _turns(obj: Any) -> list[dict[str, str]]:
    """Later turns alternate user, assistant, starting with the user's follow-up."""
    if not isinstance(obj, list):
        raise ValueError(f"turns must be a list, got {type(obj).__name__}")
    out = []
    for n, m in enumerate(obj):
        want = ("user", "assistant")[n % 2]
        if not isinstance(m, dict) or m.get("role") != want or not isinstance(m.get("content"), str):
            raise ValueError(f"turns[{n}] must be {{role: {want}, content: <string>}}, got {m!r:.80}")
        out.append({"role": want, "content": m["content"]})
    return out


def _instance(obj: Any, n: int) -> dict[str, str]:
    if not isinstance(obj, dict):
        raise ValueError(f"instances[{n}] must be an object, got {type(obj).__name__}")
    out = {}
    for k in ("input", "output"):
        v = obj.get(k, "")
        if v is None:
            v = ""
        if not isinstance(v, str):
            raise ValueError(f"instances[{n}].{k} must be a string, got {type(v).__name__}")
        out[k] = v
    return out
