"""A plain HTTP server on loopback, in a daemon thread, for tests that need a server of their
own making (a recorder, a hostile server, a filtering proxy)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[BaseHTTPRequestHandler, bytes], None]
"""Answers one request (any method) on its handler, given the request's body."""


def reply(h: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """A whole answer: status, ``headers``, Content-Length and ``body``."""
    h.send_response(status)
    for key, value in headers.items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class LoopbackServer:
    """Serves every request with ``answer`` on 127.0.0.1 (a free port), over HTTP/1.1 and
    without log lines, until :meth:`close`."""

    def __init__(self, answer: Answer, poll_interval: float = 0.02):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # an answer is two writes (head, body): with Nagle's algorithm the body waits for
            # the client's delayed ACK of the head, 40 ms per request on Linux loopback
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                answer(self, self.rfile.read(length) if length else b"")

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        """Stop serving and free the port."""
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)
        stopper.start()
        # the serving loop looks for a shutdown request every poll_interval, or at once when
        # woken: a connection wakes it (it leaves without accepting one that comes after)
        with contextlib.suppress(OSError):
            socket.create_connection(self.server.server_address[:2], timeout=1.0).close()
        stopper.join()
        self.server.server_close()
