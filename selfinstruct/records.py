"""The one record type that flows through every stage: a task with its instances.

Every record is keyed by a content hash of what makes it *this* task (instruction and
instances), so the same task written twice, by a relaunch for example, has the same key
and the store can drop the second copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


class InputError(ValueError):
    """Bad input, reported as one line naming the file and line: `path:line: message`."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


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
    # Provenance: which round made it (0 = seed), from which in-context tasks, by which teacher.
    round: int = 0
    parents: list[str] = field(default_factory=list)
    teacher: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    reject_reason: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.key()

    def key(self) -> str:
        """Content hash: instruction plus instances, whitespace-normalised."""
        return content_key(self.instruction, [(i.input, i.output) for i in self.instances])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Task":
        """Builds a task from a stored record; raises ValueError with a field name on bad types."""
        instances = [Instance(**_instance(i, n)) for n, i in enumerate(d.get("instances") or [])]
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "instances"}
        return cls(instances=instances, **known)


def content_key(instruction: str, pairs: list[tuple[str, str]] | None = None) -> str:
    norm = " ".join(instruction.split()).lower()
    payload = json.dumps([norm, [[" ".join(a.split()), " ".join(b.split())] for a, b in pairs or []]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


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
