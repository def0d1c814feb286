"""Python's cyclic garbage collector held off while ``load`` makes its per-image records.

A full collection scans every tracked object of the process: some 300,000 once TensorFlow is
imported (0.1-0.3 s each on the benchmark machine), and making the records of 100,000 images
(none of them in a reference cycle: reference counting frees them) triggers several, more as
the heap grows. Holding the collector off while only the cache index answers (no download in
flight, whose HTTP machinery may leave cycles behind) saves that, and nothing is lost: the
collector runs as usual once released. Thread-safe in effect: a pause only ever re-enables a
collector it disabled itself, and at worst a concurrent ``load`` runs with the collector on.
"""

from __future__ import annotations

import gc
from types import TracebackType


class GcPause:
    """``with GcPause() as pause:`` holds the collector off; :meth:`release` lets it run
    again early, :meth:`hold` holds it off again; leaving the block releases it."""

    def __init__(self) -> None:
        self._held = False

    def hold(self) -> None:
        """Hold the collector off (if it is enabled and not already held by this pause)."""
        if not self._held and gc.isenabled():
            gc.disable()
            self._held = True

    def release(self) -> None:
        """Let the collector run again, if this pause held it off."""
        if self._held:
            self._held = False
            gc.enable()

    def __enter__(self) -> GcPause:
        self.hold()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
