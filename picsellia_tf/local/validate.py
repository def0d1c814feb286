"""Checks on received JSON: required and typed fields, index-keyed lists, ranges.

Every failure is a 400 whose message names the field, with the item's key for lists
(``field 'labels[2].tool': ...``: the key as sent in an index-keyed object, the position in a
plain list).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from picsellia_tf._limits import MAX_RANGE as MAX_PAGE
from picsellia_tf.local.web import bad_request

MAX_INT = 2**63 - 1  # SQLite's integers are signed 64-bit
MAX_NAME = 1000  # characters of a name (project, dataset, model, label, question...)
MAX_DEPTH = 32  # nesting of free-form JSON values that are stored (Q&A answers, choices)
_SHOWN = 60

_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "a list",
    object: "a value",
}


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def shown(value: Any) -> str:
    """``value`` for a message: a short repr of a scalar, the JSON type of anything else."""
    if isinstance(value, list | dict):
        return f"a {json_type(value)}"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _matches(value: Any, kind: type) -> bool:
    if kind is object:
        return value is not None
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def check(value: Any, kind: type, name: str) -> Any:
    """``value`` if it is of JSON type ``kind`` (float means any number), else a 400."""
    if not _matches(value, kind):
        raise bad_request(f"field '{name}': expected {_EXPECTED[kind]}, got {json_type(value)}")
    if kind is int and not -MAX_INT <= value <= MAX_INT:
        raise bad_request(f"field '{name}': {shown(value)} is out of range (at most {MAX_INT})")
    if kind is float and isinstance(value, int) and not in_float_range(value):
        raise bad_request(f"field '{name}': {shown(value)} is out of range for a number")
    return value


def in_float_range(value: int) -> bool:
    """Whether an integer converts to a float (about 1.8e308 at most)."""
    try:
        float(value)
    except OverflowError:
        return False
    return True


def join(path: str, key: str) -> str:
    """The name of ``key`` inside the field ``path``."""
    return f"{path}.{key}" if path else key


def require(obj: dict[str, Any], key: str, kind: type, path: str = "") -> Any:
    """The field ``key`` of ``obj``, which must be present and of type ``kind``."""
    name = join(path, key)
    if key not in obj:
        raise bad_request(f"missing field '{name}'")
    return check(obj[key], kind, name)


def optional(obj: dict[str, Any], key: str, kind: type, default: Any, path: str = "") -> Any:
    """The field ``key`` of ``obj`` if present (and of type ``kind``), else ``default``."""
    if key not in obj:
        return default
    return check(obj[key], kind, join(path, key))


def text(obj: dict[str, Any], key: str, path: str = "") -> str:
    """A required, non-blank string field."""
    value: str = require(obj, key, str, path)
    if not value.strip():
        raise bad_request(f"field '{join(path, key)}': must not be empty")
    if len(value) > MAX_NAME:
        raise bad_request(f"field '{join(path, key)}': longer than {MAX_NAME} characters")
    return value


def one_of(value: Any, allowed: Iterable[str], name: str) -> str:
    """``value`` if it is one of ``allowed``."""
    options = tuple(allowed)
    if value not in options:
        raise bad_request(
            f"field '{name}': expected one of {', '.join(options)}, got {shown(value)}"
        )
    return str(value)


def finite(value: Any, name: str) -> float:
    """A finite number."""
    check(value, float, name)
    if not math.isfinite(value):
        raise bad_request(f"field '{name}': must be a finite number")
    return float(value)


def items(value: Any, name: str) -> list[tuple[str, Any]]:
    """An index-keyed object (ordered by integer key) or a plain list, as (name, item) pairs."""
    if isinstance(value, list):
        return [(f"{name}[{i}]", item) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise bad_request(
            f"field '{name}': expected a list or an index-keyed object, got {json_type(value)}"
        )
    keyed: list[tuple[int, str, Any]] = []
    for key, item in value.items():
        try:
            keyed.append((int(key), key, item))
        except ValueError:
            raise bad_request(f"field '{name}': key {shown(key)} is not an integer index") from None
    keyed.sort(key=lambda entry: entry[0])
    return [(f"{name}[{key}]", item) for _, key, item in keyed]


def objects(value: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Like :func:`items`, every item being a JSON object."""
    return [(item_name, check(item, dict, item_name)) for item_name, item in items(value, name)]


def indexed(values: Iterable[Any], base: int = 1) -> dict[str, Any]:
    """A list as the wire's index-keyed object, keys from ``base``."""
    return {str(i): value for i, value in enumerate(values, start=base)}


def page_range(body: dict[str, Any]) -> tuple[int, int]:
    """The body's half-open ``range`` [start, stop]."""
    value = require(body, "range", list)
    ok = len(value) == 2 and all(_matches(v, int) for v in value)
    if not ok or not 0 <= value[0] <= value[1] <= MAX_INT:
        raise bad_request(
            f"field 'range': expected [start, stop] with 0 <= start <= stop <= {MAX_INT}"
        )
    if value[1] - value[0] > MAX_PAGE:
        raise bad_request(f"field 'range': at most {MAX_PAGE} items per page")
    return value[0], value[1]


def shallow(value: Any, name: str, depth: int = MAX_DEPTH) -> Any:
    """``value`` if it nests no deeper than ``depth`` lists/objects, else a 400."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list | dict):
            if level > depth:
                raise bad_request(f"field '{name}': nested deeper than {depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return value


def unique_names(names: list[tuple[str, str]], what: str) -> None:
    """400 on the first duplicate among (field name, value) pairs."""
    seen: set[str] = set()
    for name, value in names:
        if value in seen:
            raise bad_request(f"field '{name}': duplicate {what} {shown(value)}")
        seen.add(value)
