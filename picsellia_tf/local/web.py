"""HTTP plumbing shared by every handler: the API error, JSON responses, the JSON body."""

from __future__ import annotations

import json
from typing import IO, Any

from werkzeug.wrappers import Request, Response

MAX_JSON_BODY = 64 * 1024 * 1024
MAX_DRAIN = 64 * 1024 * 1024


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    """A 400 error."""
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    """A 404 error."""
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    """A 409 error."""
    return ApiError(409, message)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as a JSON response (NaN and Infinity allowed, as Python's json writes them)."""
    return Response(json.dumps(data), status=status, headers=headers, mimetype="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The wire's error body ``{"error": message}``."""
    return json_response({"error": message}, status, headers)


def read_json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BODY:
        raise ApiError(413, f"JSON body larger than {MAX_JSON_BODY} bytes")
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request("body must be a JSON object")
    return value


def drain(stream: IO[bytes], length: int | None) -> None:
    """Read what is left of a request body (up to ``MAX_DRAIN`` bytes) so the client gets the
    answer, not a connection reset. Best effort: the connection closes anyway."""
    if length is None or not 0 < length <= MAX_DRAIN:
        return
    try:
        while stream.read(1 << 16):
            pass
    except Exception:  # noqa: BLE001 - a client gone away is not the server's problem
        pass
