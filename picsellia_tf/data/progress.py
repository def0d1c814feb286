"""A one-line progress bar for long steps (listing, downloading): count, rate, ETA.

Drawn only on a terminal, rewritten in place at most every 0.2 s and ended with a newline;
on anything else (a log file, a pipe, a notebook's captured stream) it writes nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

REDRAW_EVERY = 0.2


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """``label: done/total unit, rate/s, ETA (counts)`` on ``stream`` (stderr by default).

    ``total`` may be ``None`` (unknown: no ETA) and may be raised later (:meth:`expect`).
    ``counts`` names extra tallies shown in parentheses, e.g. ``("downloaded", "unusable")``.
    Thread-safe.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str,
        *,
        counts: tuple[str, ...] = (),
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and is_terminal(self.stream)
        self.done = 0
        self.counts = dict.fromkeys(counts, 0)
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn: int | None = None  # the count last drawn
        self._lock = threading.Lock()

    def expect(self, total: int) -> None:
        """Set the total (when it becomes known)."""
        self.total = total

    def advance(self, n: int = 1, **counts: int) -> None:
        """Count ``n`` more done (and add to the named tallies)."""
        with self._lock:
            self.done += n
            for name, value in counts.items():
                self.counts[name] += value
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._last >= REDRAW_EVERY or self.done == self.total:
                self._last = now
                self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar now."""
        elapsed = (now if now is not None else time.monotonic()) - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        total = f"/{self.total:,}" if self.total is not None else ""
        text = f"{self.label}: {self.done:,}{total} {self.unit}, {rate:,.0f}/s"
        if self.total is not None and rate > 0 and self.done < self.total:
            text += f", ETA {_duration((self.total - self.done) / rate)}"
        elif self.total is not None and self.done >= self.total:
            text += f", {_duration(elapsed)}"
        if self.counts:
            text += " (" + ", ".join(f"{v:,} {k}" for k, v in self.counts.items()) + ")"
        return text

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = self.done

    def close(self) -> None:
        """Draw the final state and end the line (if anything was drawn)."""
        with self._lock:
            if self.enabled and (self._drawn is not None or self.done):
                if self._drawn != self.done:
                    self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
            self.enabled = False
