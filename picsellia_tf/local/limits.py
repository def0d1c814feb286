"""What the local server accepts and how long it waits: the ``serve`` limits (no imports, so
the command line can show their defaults without loading the server)."""

from __future__ import annotations

import re
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class Limits:
    """What the server accepts, and for how long it waits (the ``serve`` options).

    ``max_body_size``: bytes of any request body (an upload), refused with 413 before the app
    runs. ``max_json_size``: bytes of a JSON body. ``max_header_size``: bytes of the request
    line and headers (431). ``request_timeout``: seconds a client has to send a request's head
    and body, plus one second per ``min_rate`` bytes received (so a large upload at a normal
    speed is never cut; a trickle is answered 408). ``idle_timeout``: seconds a kept-alive
    connection may stay silent between requests. ``threads``: requests handled at once.
    ``connection_limit``: open connections at once (more wait in the listen backlog).
    """

    max_body_size: int = 1 * GIB
    max_json_size: int = 64 * MIB
    max_header_size: int = 64 * KIB
    request_timeout: float = 30.0
    min_rate: int = 64 * KIB
    idle_timeout: float = 60.0
    threads: int = 8
    connection_limit: int = 100

    def __post_init__(self) -> None:
        for name in ("max_body_size", "max_json_size", "max_header_size", "min_rate", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("request_timeout", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0 seconds, got {getattr(self, name)}")
        if self.connection_limit < self.threads:
            raise ValueError(
                f"connection_limit ({self.connection_limit}) must be at least threads "
                f"({self.threads})"
            )


def format_size(size: int) -> str:
    """``size`` bytes for a message: ``64 MiB`` when a whole number of units, else bytes."""
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


_SIZE = re.compile(r"\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\s*", re.IGNORECASE)
_FACTORS = {"": 1, "b": 1, "k": KIB, "m": MIB, "g": GIB}


def parse_size(text: str) -> int:
    """A size in bytes from ``1048576``, ``512KiB``, ``64MiB``, ``1G`` (units are powers of
    1024); ValueError naming the text otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (expected bytes, or a number with KiB, MiB, GiB)")
    return int(match[1]) * _FACTORS[match[2][:1].lower()]
