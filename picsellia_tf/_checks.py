"""Argument checks of the client side, one wording for each kind of argument.

Each check returns the value (as the plain Python type: an ``int`` for a NumPy integer) or
raises :class:`~picsellia_tf.errors.ValidationError` as ``"<arg>: expected ..., got ..."``,
``arg`` being the argument's name as the caller wrote it (``labels[2] tool``,
``PicselliaCallback: flush_interval``). A bool is never taken for a number.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

from picsellia_tf.errors import ValidationError

__all__ = [
    "InvalidArgument",
    "check_callable",
    "check_choice",
    "check_flag",
    "check_int",
    "check_list",
    "check_number",
    "check_string",
    "check_strings",
    "check_text",
    "invalid",
    "is_list",
    "is_sha256",
]


class InvalidArgument(ValidationError):
    """A :class:`ValidationError` that keeps the argument's name (``arg``) and what is wrong
    with it (``problem``) apart, for an interface that names arguments its own way (the CLI
    names the field of a spec file)."""

    def __init__(self, arg: str, problem: str):
        super().__init__(f"{arg}: {problem}")
        self.arg = arg
        self.problem = problem


def invalid(arg: str, problem: str) -> InvalidArgument:
    """The error for argument ``arg``: ``"<arg>: <problem>"``."""
    return InvalidArgument(arg, problem)


def check_int(
    value: Any,
    arg: str,
    *,
    low: int | None = None,
    high: int | None = None,
    or_none: bool = False,
) -> Any:
    """An int (any ``numbers.Integral`` but a bool) in ``[low, high]``; None passes when
    ``or_none``."""
    if value is None and or_none:
        return None
    kind = type(value)
    if kind is int or (kind is not bool and isinstance(value, numbers.Integral)):
        number = int(value)
        if (low is None or number >= low) and (high is None or number <= high):
            return number
    if low is not None and high is not None:
        expected = f"an int from {low} to {high}"
    elif low is not None:
        expected = f"an int >= {low}"
    elif high is not None:
        expected = f"an int <= {high}"
    else:
        expected = "an int"
    raise invalid(arg, f"expected {expected}{' or None' if or_none else ''}, got {value!r}")


def check_number(
    value: Any,
    arg: str,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    unit: str = "a number",
) -> float:
    """A real number (not a bool; NaN never passes a bound) as a float: ``low <= value <=
    high``, ``value > above``. The message says ``expected <unit> in [low, high]``,
    ``<unit> > above`` or ``<unit> >= low``."""
    kind = type(value)
    if kind is float or kind is int or (kind is not bool and isinstance(value, numbers.Real)):
        number = float(value)
        if (
            (low is None or number >= low)
            and (high is None or number <= high)
            and (above is None or number > above)
        ):
            return number
    if low is not None and high is not None:
        expected = f"{unit} in [{low:g}, {high:g}]"
    elif above is not None:
        expected = f"{unit} > {above:g}"
    elif low is not None:
        expected = f"{unit} >= {low:g}"
    else:
        expected = unit
    raise invalid(arg, f"expected {expected}, got {value!r}")


def check_text(value: Any, arg: str) -> str:
    """A non-empty string (not only spaces)."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(arg, f"expected a non-empty string, got {value!r}")
    return value


def check_string(value: Any, arg: str) -> str:
    """A string, possibly empty (a description, a link)."""
    if not isinstance(value, str):
        raise invalid(arg, f"expected a string, got {value!r}")
    return value


def check_flag(value: Any, arg: str) -> bool:
    """A bool."""
    if not isinstance(value, bool):
        raise invalid(arg, f"expected True or False, got {value!r}")
    return value


def check_choice(value: Any, choices: Sequence[str], arg: str, *, or_none: bool = False) -> Any:
    """One of ``choices`` (None passes when ``or_none``)."""
    if value is None and or_none:
        return None
    if isinstance(value, str) and value in choices:
        return value
    extra = " or None" if or_none else ""
    raise invalid(arg, f"expected one of {', '.join(choices)}{extra}, got {value!r}")


def check_callable(value: Any, arg: str, *, or_none: bool = False) -> Any:
    """A callable (None passes when ``or_none``)."""
    if (value is None and or_none) or callable(value):
        return value
    raise invalid(arg, f"expected a callable, got {type(value).__name__}")


def is_list(value: Any) -> bool:
    """Whether ``value`` is taken as a list: any sized iterable but a string, bytes or mapping."""
    return (
        hasattr(value, "__len__")
        and hasattr(value, "__iter__")
        and not isinstance(value, str | bytes | Mapping)
    )


def check_list(value: Any, arg: str) -> list[Any]:
    """A list argument (see :func:`is_list`), as a list."""
    if not is_list(value):
        raise invalid(arg, f"expected a list, got {type(value).__name__}")
    return list(value)


def check_strings(value: Any, arg: str, *, or_none: bool = False) -> list[str] | None:
    """A list of strings (not a string itself), as a list; None passes when ``or_none``."""
    if value is None and or_none:
        return None
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or not all(isinstance(item, str) for item in value)
    ):
        raise invalid(arg, f"expected a list of strings, got {value!r}")
    return list(value)


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def is_sha256(value: str) -> bool:
    """Whether ``value`` is a sha256 digest in hex (64 hex digits, any case)."""
    return _SHA256.fullmatch(value) is not None
