"""Fault injection: latency, random errors and scripted failures, as a WSGI middleware."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable
from typing import Any


class Faults:
    """What goes wrong, changeable at runtime from any thread.

    ``latency`` seconds are added to every affected request; a fraction ``error_rate`` of them
    is answered ``error_status``; ``fail_next(n)`` makes the next ``n`` fail. ``paths`` limits
    all of this to requests whose path starts with one of its prefixes. ``reset()`` ends them
    all, the latency of requests already waiting it out included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency: float = 0.0
        self.error_rate: float = 0.0
        self.error_status: int = 503
        self.paths: tuple[str, ...] | None = None
        self._rng = random.Random()
        self._queued: list[tuple[int, float | None]] = []
        self._reset = threading.Event()  # set (then replaced) by reset(): ends waits under way

    def fail_next(self, n: int, status: int = 503, retry_after: float | None = None) -> None:
        """Answer the next ``n`` affected requests with ``status`` (429 sends Retry-After)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._queued.extend([(status, retry_after)] * n)

    def seed(self, seed: int) -> None:
        """Make ``error_rate`` draws reproducible."""
        with self._lock:
            self._rng.seed(seed)

    def reset(self) -> None:
        """No faults, from now on and for requests waiting out the latency."""
        with self._lock:
            self.latency = 0.0
            self.error_rate = 0.0
            self.error_status = 503
            self.paths = None
            self._queued.clear()
            self._reset.set()
            self._reset = threading.Event()

    def delay(self) -> None:
        """Wait ``latency`` seconds (less if :meth:`reset` is called meanwhile)."""
        with self._lock:
            latency, reset = self.latency, self._reset
        if latency > 0:
            reset.wait(latency)

    def affects(self, path: str) -> bool:
        """Whether requests to ``path`` are subject to faults."""
        paths = self.paths
        return paths is None or any(path.startswith(p) for p in paths)

    def draw(self) -> tuple[int, float | None] | None:
        """The failure for one request, if it must fail: (status, retry_after)."""
        with self._lock:
            if self._queued:
                return self._queued.pop(0)
            if self.error_rate > 0 and self._rng.random() < self.error_rate:
                return self.error_status, None
        return None

    def __repr__(self) -> str:
        return (
            f"Faults(latency={self.latency}, error_rate={self.error_rate}, "
            f"error_status={self.error_status}, pending={len(self._queued)}, paths={self.paths})"
        )


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FaultMiddleware:
    """Applies a :class:`Faults` in front of a WSGI app."""

    def __init__(self, app: WSGIApp, faults: Faults):
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        faults = self.faults
        if not faults.affects(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        faults.delay()
        failure = faults.draw()
        if failure is None:
            return self.app(environ, start_response)
        status, retry_after = failure
        body = json.dumps({"error": "injected fault"}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if status == 429:
            headers.append(("Retry-After", format(retry_after or 0, "g")))
        start_response(f"{status} Injected Fault", headers)
        return [body]
