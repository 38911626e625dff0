"""A check: one small named class that keeps a task or rejects it with a typed reason (as a datatrove
filter keeps a document or drops it), registered by name so that `filter.checks` can list it.

    @register
    class OffTopic(TaskCheck):
        name = "off_topic"                # what filter.checks lists
        stages = ("instructions",)        # asked before any instance is written

        class Options(Section):           # `{off_topic: {words: [poem, story]}}` in filter.checks
            words: list[str] = Field(default_factory=list)

        def reject(self, task):
            hit = next((w for w in self.options.words if w in task.instruction.lower().split()), None)
            return Reject("off_topic", hit) if hit else None

A check sees the tasks still alive in one call (a `Check`: one verdict per task, in order), or one at
a time (a `TaskCheck`). It runs in the stages it names: "instructions" (before any instance is
written, where teacher time is the cost) and "tasks" (instances written). A module in
selfinstruct/filter/checks/ registers itself when the registry is first read: a new check is that one
file and one entry in `filter.checks`. The built-in checks are there too, and show the patterns.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

from ..records import Reject, Task

if TYPE_CHECKING:
    from ..generate.steps import StepContext
    from ..store import ChunkStore
    from .pipeline import Filter

STAGES = ("instructions", "tasks")


@dataclass
class Batch:
    """What a check sees besides the tasks: the pool they must be new against, and, inside a round,
    its context (teacher, config, counts) and stores, where a check that asks a teacher keeps its
    answers. `stats` is where a check adds numbers of its own to the filter's stats."""

    stage: str
    pool: list[Task]
    ctx: StepContext | None = None
    store: Callable[[str], ChunkStore] | None = None
    start: Callable[[str, int], None] = lambda step, n: None  # a progress bar for a check's teacher step
    stats: dict[str, Any] = field(default_factory=dict)


class Check:
    """One verdict per task, in order: a Reject, or None to keep it. A check may change a task in
    place (drop an instance, set a score) or put a new record in its place in `tasks` (verify's
    repaired output)."""

    name: ClassVar[str] = ""
    stages: ClassVar[tuple[str, ...]] = ("tasks",)
    Options: ClassVar[type[BaseModel] | None] = None  # options given beside its name in filter.checks

    def __init__(self, filter: Filter, options: BaseModel | None = None):
        self.filter, self.cfg, self.options = filter, filter.cfg, options

    def on(self, batch: Batch) -> bool:
        """Whether it runs on this batch: in its stages, and switched on by its settings."""
        return batch.stage in self.stages

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        raise NotImplementedError


class TaskCheck(Check):
    """A check that needs no batch: each task on its own."""

    def __call__(self, tasks: list[Task], batch: Batch) -> list[Reject | None]:
        return [self.reject(t) for t in tasks]

    def reject(self, task: Task) -> Reject | None:
        raise NotImplementedError


REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a check needs a name")
    if any(s not in STAGES for s in cls.stages):
        raise ValueError(f"check {cls.name!r}: stages must be among {STAGES}, got {cls.stages}")
    if REGISTRY.get(cls.name, cls).__qualname__ != cls.__qualname__:  # a module read twice registers again
        raise ValueError(f"two checks named {cls.name!r}: {REGISTRY[cls.name].__qualname__} and {cls.__qualname__}")
    REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Check]]:
    """Every registered check, the modules of filter/checks/ imported first."""
    from . import checks

    for mod in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"{checks.__name__}.{mod.name}")
    return REGISTRY


def entry(item: str | dict[str, Any]) -> tuple[type[Check], BaseModel | None]:
    """One filter.checks entry (`name`, or `{name: {option: value}}`) -> its class and its options,
    checked; ValueError names what is wrong."""
    name, given = (item, None) if isinstance(item, str) else _single(item)
    known = registry()
    if name not in known:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(sorted(known))}")
    cls = known[name]
    if cls.Options is None:
        if given:
            raise ValueError(f"check {name!r} takes no options, got {given}")
        return cls, None
    try:
        return cls, cls.Options.model_validate(given or {})
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(f"check {name!r}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _single(item: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    if len(item) != 1:
        raise ValueError(f"a check with options is one name and its options, got {item}")
    ((name, given),) = item.items()
    return name, given
