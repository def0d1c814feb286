"""A loopback HTTP server that records every request and answers from a script."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.loopback import LoopbackServer

# A reply: (status, headers, body bytes)
Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, body: Any, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


class Recorder:
    """A loopback HTTP server recording every request and answering from ``script``."""

    def __init__(self, script: Callable[[Recorder, str, str, bytes], Reply] | None = None):
        self.requests: list[dict[str, Any]] = []
        self.script = script or (lambda rec, method, path, body: json_reply(200, {"ok": True}))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                status, headers, payload = recorder.script(recorder, self.command, self.path, body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._loopback = LoopbackServer(Handler)
        self.url = self._loopback.url

    def close(self) -> None:
        self._loopback.close()

    def all_headers_text(self) -> str:
        return json.dumps([r["headers"] for r in self.requests]) + "".join(
            r["path"] + r["body"].decode("latin-1") for r in self.requests
        )
