"""A deadline for a request's headers: the connections one attempt takes from the pool are shut
down if the deadline passes before the answer's status line and headers are in (a server
trickling them would otherwise only meet the per-read timeout). Used by :mod:`picsellia_tf._http`,
whose sessions take their connections from :class:`WatchedHTTPPool` / :class:`WatchedHTTPSPool`.
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from picsellia_tf.errors import RequestTimeout


class _Watch:
    """The connections one attempt takes from the pool, shut down by :meth:`fire`."""

    __slots__ = ("conns", "deadline", "done", "fired", "lock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conns: list[Any] = []
        self.done = self.fired = False
        self.lock = threading.Lock()

    def add(self, conn: Any) -> None:
        with self.lock:
            self.conns.append(conn)

    def fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            for conn in self.conns:
                sock = getattr(conn, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.lock:
            self.done = True
            self.conns.clear()


class _Watchdog:
    """One daemon thread firing the :class:`_Watch` es whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._cond = threading.Condition()
        self._count = 0
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float) -> _Watch:
        watch = _Watch(deadline)
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (deadline, self._count, watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="picsellia-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, watch = heapq.heappop(self._heap)
            watch.fire()


_watchdog = _Watchdog()
_attempt = threading.local()  # .watch: the _Watch of this thread's attempt under way


@contextlib.contextmanager
def headers_by(deadline: float | None, method: str, path: str) -> Iterator[None]:
    """Bound the sending of a request and the arrival of its answer's headers by
    ``deadline`` (monotonic; None: only the per-read timeout)."""
    if deadline is None:
        yield
        return
    watch = _watchdog.watch(deadline)
    previous = getattr(_attempt, "watch", None)
    _attempt.watch = watch
    try:
        yield
    except requests.exceptions.RequestException:
        if watch.fired:
            raise RequestTimeout(
                f"{method} {path}: no answer within the call's deadline",
                method=method,
                path=path,
            ) from None
        raise
    finally:
        _attempt.watch = previous
        watch.finish()


class _WatchedPoolMixin:
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        watch = getattr(_attempt, "watch", None)
        if watch is not None:
            watch.add(conn)
        return conn


class WatchedHTTPPool(_WatchedPoolMixin, urllib3.HTTPConnectionPool):
    pass


class WatchedHTTPSPool(_WatchedPoolMixin, urllib3.HTTPSConnectionPool):
    pass
