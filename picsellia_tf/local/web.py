"""HTTP plumbing shared by every handler: the API error, JSON responses, the JSON body."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.wrappers import Request, Response

# a \u escape of a UTF-16 surrogate (D800-DFFF): paired ones decode to one character, a lone
# one to a string that cannot be stored or encoded
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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


def read_json_body(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``. 413 past ``limit`` bytes;
    400 for anything that is not a JSON object of valid Unicode text."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(
            413,
            f"JSON body larger than {limit} bytes (the server's max JSON size: "
            "serve --max-json-size)",
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except RecursionError:
        raise bad_request("body is not valid JSON: nested too deep") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
        raise bad_request(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request("body must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw):
        where = unencodable(value)
        if where is not None:
            raise bad_request(f"{where}: not valid Unicode text (a lone UTF-16 surrogate)")
    return value


def unencodable(value: Any) -> str | None:
    """Where in a parsed JSON value a string or key cannot be encoded as UTF-8, if anywhere:
    ``field 'a.b[2]'`` or ``a key of field 'a'``."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _encodes(item):
                return f"field '{path}'"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _encodes(key):
                    return f"a key of field '{path}'" if path else "a key of the body"
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
