"""The one retry rule of the package, used by the client's requests and by the background
sender (and ``sync``): which failures are worth another try, and how long to wait first."""

from __future__ import annotations

import random

from picsellia_tf.errors import APIError, NetworkError, RateLimitError, ResponseTooLarge

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses that may mean "later": rate limited, a server or gateway failing, the server
overloaded. A 500 is often a passing fault of a busy platform; retrying it (only requests that
are safe to repeat, within their deadline) costs a few seconds when it is not. Any other
answer is final."""

BACKOFF_BASE = 0.5
"""The longest first delay after a failure (seconds); it doubles with each failure in a row."""
BACKOFF_CAP = 8.0
"""The longest delay between two tries of one call (an API request, a drain of the spool)."""


def is_retryable(exc: BaseException) -> bool:
    """True for failures that may go away: connection problems and timeouts (not an answer
    larger than allowed) and the :data:`RETRY_STATUSES`."""
    if isinstance(exc, ResponseTooLarge):
        return False
    if isinstance(exc, NetworkError):
        return True
    return isinstance(exc, APIError) and exc.status in RETRY_STATUSES


def retry_hint(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` in seconds, where it gave one."""
    return exc.retry_after if isinstance(exc, RateLimitError) else None


class Backoff:
    """Capped exponential backoff with jitter: ``uniform(c / 2, c)``, ``c = min(cap, base *
    2**n)`` after ``n`` failures in a row; a server's ``Retry-After`` is a floor."""

    def __init__(
        self,
        base: float = BACKOFF_BASE,
        cap: float = BACKOFF_CAP,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng  # made at the first failure (seeding one costs ~20 us)

    def next(self, hint: float | None = None) -> float:
        """The delay before the next try; ``hint`` (a server's Retry-After) is a floor."""
        ceiling = min(self.cap, self.base * (2**self.failures))
        self.failures += 1
        if self._rng is None:
            self._rng = random.Random()
        delay = self._rng.uniform(ceiling / 2, ceiling)
        if hint is not None and hint > delay:
            delay = hint
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits the shortest delay again."""
        self.failures = 0
