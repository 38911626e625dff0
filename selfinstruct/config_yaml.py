"""Reading a config file strictly, and saying in one line what is wrong with it.

A config that does not say what the user meant must not run: a duplicate key (YAML keeps the last
one silently), an empty file (it meant "every default", which starts the vLLM teacher), a folder
given as the file. A value out of its range is named with the range it may take.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import annotated_types as at
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


class ConfigError(ValueError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1}; YAML would keep only the last)",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> data; `where:line: invalid YAML: ...` on a syntax error or a duplicate key."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at_line = f"{where}:{mark.line + 1}" if mark else where
        raise ConfigError(f"{at_line}: invalid YAML: {getattr(e, 'problem', None) or e}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """A config file's top-level mapping of sections."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file (e.g. configs/default.yaml)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file ({getattr(e, 'strerror', None) or e})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        raise ConfigError(
            f"{path}: empty config file; give the sections you mean (configs/default.yaml has "
            "them all), or leave out --config for the default"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top")
    return data


def validation_message(e: ValidationError, model: type[BaseModel], source: str, overridden: set[str]) -> str:
    """The first error as one line: the key, what is wrong, and for a number out of range the range.
    `source` (the file) leads the line unless the key was given on the command line."""
    err = e.errors()[0]
    loc = [str(x) for x in err["loc"] if not isinstance(x, int)]
    key = ".".join(loc)
    lead = "" if any(key == k or key.startswith(k + ".") for k in overridden) else f"{source}: "
    msg = err["msg"].removeprefix("Value error, ")
    allowed = _allowed(model, loc) if err["type"] in _RANGE_ERRORS else None
    if allowed:
        msg = f"{err.get('input')!r} is out of range; allowed: {allowed}"
    return f"{lead}{key}: {msg}"


_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}


def _allowed(model: type[BaseModel], loc: list[str]) -> str | None:
    """'0 < top_p <= 1' from the field's constraints."""
    info = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        info = fields[part]
        # An optional section (`Price | None`) holds its fields in the model of its union.
        model = next(
            (a for a in get_args(info.annotation) if isinstance(a, type) and issubclass(a, BaseModel)), info.annotation
        )
    if info is None:
        return None
    lo = hi = None
    finite = False
    for m in _constraints(info):
        if isinstance(m, (at.Ge, at.Gt)):
            lo = (">=", m.ge) if isinstance(m, at.Ge) else (">", m.gt)
        elif isinstance(m, (at.Le, at.Lt)):
            hi = ("<=", m.le) if isinstance(m, at.Le) else ("<", m.lt)
        elif getattr(m, "allow_inf_nan", None) is False:
            finite = True
    name = loc[-1]
    if lo and hi:
        return f"{lo[1]} {lo[0].replace('>', '<')} {name} {hi[0]} {hi[1]}"
    bound = lo or hi
    if bound is None:
        return "a finite number" if finite else None
    return f"{name} {bound[0]} {bound[1]}" + (", finite" if finite else "")


def _constraints(info: FieldInfo) -> list[Any]:
    """The field's own constraints, or those of the constrained type in its union (`NonNeg | None`)."""
    found = list(info.metadata)
    for arg in get_args(info.annotation):
        for meta in getattr(arg, "__metadata__", ()):
            found += getattr(meta, "metadata", [])
    return found
