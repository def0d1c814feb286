"""What the event-file reader yields and raises."""

from __future__ import annotations

from typing import NamedTuple

from picsellia_tf.errors import PicselliaError


class ScalarEvent(NamedTuple):
    """One scalar point. ``tag`` is the LOGS key: ``<run>/<tag>``, or the bare tag for events
    directly in the log directory (``run == ""``)."""

    run: str
    tag: str
    step: int
    value: float
    wall_time: float


class TFEventsError(PicselliaError, ValueError):
    """An event file is corrupt (with ``strict=True``), or a path cannot be read as event logs.

    ``path`` and ``offset`` (byte offset of the bad record, if any) say where."""

    def __init__(self, message: str, *, path: str, offset: int | None = None):
        super().__init__(message)
        self.path = path
        self.offset = offset


class TFEventsWarning(UserWarning):
    """A corrupt record was skipped (names the file and byte offset)."""
