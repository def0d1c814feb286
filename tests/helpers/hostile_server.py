"""Test helper: a loopback HTTP server that misbehaves on purpose, to test the client's bounds.

Every behaviour is bounded in time and bytes, so the server stops by itself even when the
client under test does not: an endless body ends after ``MAX_SECONDS`` or ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.loopback import LoopbackServer, reply

MAX_SECONDS = 30.0
MAX_BYTES = 512 * 1024 * 1024
CHUNK = b"\0" * 65536


class HostileServer:
    """Answers by path; records each request's path and headers in ``requests``.

    - ``/storage/endless``: 200, no length, zero bytes streamed until the client hangs up.
    - ``/storage/trickle``: 200 announcing 100 bytes, one sent every ``trickle_interval`` s.
    - ``/storage/big-length``: 200 announcing ``Content-Length: 10**9``, then streaming.
    - ``/storage/small?n=N``: 200 with exactly N bytes (length announced).
    - ``/storage/redirect``: 302 to ``redirect_to`` + ``/storage/small?n=5``.
    - ``/api/v1/dataset_info/<id>``: a dataset announcing ``dataset_size`` files.
    - ``/api/v1/raw_data/<id>``: always a full page of new files, whatever the total.
    - ``/api/v1/annotations/<id>``: always the same full page.
    - ``/api/v1/trickle``: a JSON answer sent one byte every ``trickle_interval`` s.
    - ``/api/v1/slow-headers``, ``/storage/slow-headers``: the status line and headers
      themselves sent one byte every ``trickle_interval`` s.
    - ``/api/v1/endless``: a JSON answer that never ends.
    - ``/api/v1/redirect``: 302 to ``redirect_to`` + the same path.
    - anything else: 200 ``{"ok": true}``.
    """

    def __init__(
        self, *, redirect_to: str = "", dataset_size: int = 250, trickle_interval: float = 0.5
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.redirect_to = redirect_to
        self.dataset_size = dataset_size
        self.trickle_interval = trickle_interval
        self.sent = 0  # body bytes written, all requests
        self._loopback = LoopbackServer(self._on_request)
        self.url = self._loopback.url

    def close(self) -> None:
        self._loopback.close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ behaviours

    def _on_request(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        self.requests.append({"path": h.path, "headers": dict(h.headers), "body": body})
        try:
            self._answer(h, body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client hung up: what it should do

    def _answer(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        path, _, query = h.path.partition("?")
        if path == "/storage/endless" or path == "/api/v1/endless":
            self._head(h, 200, None)
            self._stream(h)
        elif path == "/storage/big-length":
            self._head(h, 200, 10**9)
            self._stream(h)
        elif path in ("/storage/trickle", "/api/v1/trickle"):
            payload = b'{"ok": true, "pad": "' + b"x" * 80 + b'"}' if "api" in path else b"x" * 100
            self._head(h, 200, len(payload))
            for i in range(len(payload)):
                h.wfile.write(payload[i : i + 1])
                h.wfile.flush()
                self.sent += 1
                time.sleep(self.trickle_interval)
        elif path.endswith("/slow-headers"):
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: "
            head += b"p" * 60 + b"\r\nContent-Length: 2\r\n\r\n{}"
            for i in range(len(head)):
                h.wfile.write(head[i : i + 1])
                h.wfile.flush()
                time.sleep(self.trickle_interval)
            h.close_connection = True
        elif path == "/storage/small":
            n = int(query.split("=", 1)[1]) if query.startswith("n=") else 5
            self._send(h, 200, b"y" * n, "application/octet-stream")
        elif path.endswith("/redirect"):
            target = "/storage/small?n=5" if path.startswith("/storage") else path
            h.send_response(302)
            h.send_header("Location", self.redirect_to + target)
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif path.startswith("/api/v1/dataset_info/"):
            answer = {
                "dataset_id": path.rsplit("/", 1)[1],
                "dataset_name": "hostile",
                "dataset_size": self.dataset_size,
            }
            self._send(h, 200, json.dumps(answer).encode(), "application/json")
        elif path.startswith("/api/v1/raw_data/"):
            start, stop = json.loads(body or b"{}").get("range", [0, 100])
            page = {
                str(i): {"id": f"raw-{i}", "external_url": f"f{i}.png", "url": self.url + "/x"}
                for i in range(start, stop)
            }
            self._send(h, 200, json.dumps(page).encode(), "application/json")
        elif path.startswith("/api/v1/annotations/"):
            start, stop = json.loads(body or b"{}").get("range", [0, 100])
            page = {
                str(i): {"internal_picture_id": f"img-{i}", "annotations": []}
                for i in range(stop - start)
            }
            self._send(h, 200, json.dumps(page).encode(), "application/json")
        else:
            self._send(h, 200, b'{"ok": true}', "application/json")

    def _head(self, h: BaseHTTPRequestHandler, status: int, length: int | None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        if length is None:
            h.send_header("Connection", "close")
        else:
            h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.flush()

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: bytes, kind: str) -> None:
        reply(h, status, {"Content-Type": kind}, payload)
        self.sent += len(payload)

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < MAX_SECONDS and sent < MAX_BYTES:
            h.wfile.write(CHUNK)
            sent += len(CHUNK)
            self.sent += len(CHUNK)
        h.close_connection = True
