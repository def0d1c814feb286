"""Exceptions: one per family of failure, all under :class:`PicselliaError`.

API errors carry the HTTP status, method, path and the server's message; none of them ever
carries the API token.
"""

from __future__ import annotations


class PicselliaError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(PicselliaError, ValueError):
    """The client is missing something it needs (a token, a valid host)."""


class ValidationError(PicselliaError, ValueError):
    """An argument is wrong; raised before any request is sent."""


class UnknownProjectError(ValidationError):
    """The project of an experiment version cannot be told (its model is used in no project,
    or in several): pass ``project_id``. Raised before anything is uploaded."""


class NetworkError(PicselliaError):
    """The server could not be reached, or the connection broke."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status: int | None = None
        self.host: str | None = None
        """The platform the request went to (set by the client)."""


class RequestTimeout(NetworkError):
    """The server did not answer within the timeout, or took longer than the call's deadline
    to send its whole answer."""


class ResponseTooLarge(NetworkError):
    """An answer or a download is larger than its bound (the declared size of the item, or the
    client's cap): not retried, nothing of it kept."""


class SizeMismatch(NetworkError):
    """A download ended at another size than the one declared for the item."""


class APIError(PicselliaError):
    """The server answered with an error status."""

    def __init__(self, status: int, method: str, path: str, message: str):
        super().__init__(f"{status} on {method} {path}: {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        self.host: str | None = None
        """The platform that answered (set by the client)."""

    def with_message(self, message: str) -> APIError:
        """The same error (family, status, request, host) with another server message."""
        retry_after = getattr(self, "retry_after", None)
        new = error_for_status(self.status, self.method, self.path, message, retry_after)
        new.host = self.host
        return new


class BadRequestError(APIError):
    """400 and other 4xx without a family of their own: the request was wrong."""


class AuthenticationError(APIError):
    """401/403: the token is missing, unknown, or not allowed (or a signed URL expired)."""


class NotFoundError(APIError):
    """404: no such route, or no such id for this organisation."""


class ConflictError(APIError):
    """409: a name is taken, or the object is still in use."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self, status: int, method: str, path: str, message: str, retry_after: float | None = None
    ):
        super().__init__(status, method, path, message)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed."""


def error_for_status(
    status: int, method: str, path: str, message: str, retry_after: float | None = None
) -> APIError:
    """The exception of the right family for an HTTP error status."""
    if status == 429:
        return RateLimitError(status, method, path, message, retry_after)
    if status >= 500:
        return ServerError(status, method, path, message)
    cls: type[APIError] = {
        401: AuthenticationError,
        403: AuthenticationError,
        404: NotFoundError,
        409: ConflictError,
    }.get(status, BadRequestError)
    return cls(status, method, path, message)


__all__ = [
    "PicselliaError",
    "ConfigurationError",
    "ValidationError",
    "UnknownProjectError",
    "NetworkError",
    "RequestTimeout",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "error_for_status",
]
