"""A loopback HTTP server that records every request and answers from a script."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.loopback import LoopbackServer, reply

# A reply: (status, headers, body bytes)
Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, body: Any, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


class Recorder:
    """A loopback HTTP server recording every request and answering from ``script``."""

    def __init__(self, script: Callable[[Recorder, str, str, bytes], Reply] | None = None):
        self.requests: list[dict[str, Any]] = []
        self.script = script or (lambda rec, method, path, body: json_reply(200, {"ok": True}))
        self._loopback = LoopbackServer(self._on_request)
        self.url = self._loopback.url

    def _on_request(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        self.requests.append(
            {"method": h.command, "path": h.path, "headers": dict(h.headers), "body": body}
        )
        reply(h, *self.script(self, h.command, h.path, body))

    def close(self) -> None:
        self._loopback.close()

    def all_headers_text(self) -> str:
        return json.dumps([r["headers"] for r in self.requests]) + "".join(
            r["path"] + r["body"].decode("latin-1") for r in self.requests
        )
