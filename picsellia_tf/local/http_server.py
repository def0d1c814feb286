"""The HTTP server under the local platform: waitress, with its limits and their answers.

waitress (pure Python, no C extension, maintained by the Pylons project) reads every request's
head and body on its I/O thread, buffering large bodies to a temporary file, and hands the app
only complete requests: a slow or stalled client ties up no worker thread and no lock. On top of
waitress this module adds what it lacks: a deadline for receiving each request (a client that
trickles its head or body is answered 408 and disconnected), and JSON error answers that name
the limit that was hit, as every other answer of the platform does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import Error, RequestEntityTooLarge, RequestHeaderFieldsTooLarge

from picsellia_tf.local.limits import Limits, format_size

log = logging.getLogger("picsellia_tf.local")


class RequestTimeout(Error):
    """A request not received whole in time."""

    code = 408
    reason = "Request Timeout"


class _Parser(HTTPRequestParser):
    """waitress's request parser, remembering when the request's first byte came."""

    def __init__(self, adj: Adjustments):
        super().__init__(adj)
        self.started = time.monotonic()


class _ErrorTask(ErrorTask):
    """waitress's answer to a request it refused, as the platform's JSON error."""

    def execute(self) -> None:
        error = self.request.error
        message = self.channel.server.describe(error)
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    """One client connection."""

    parser_class = _Parser
    error_task_class = _ErrorTask

    def writable(self) -> bool:
        """Whether the I/O loop should wait to send on this connection.

        Not while a request's task runs on it, unless that task waits for the loop (its output
        is past the high watermark) or the connection is closing: the task's worker thread
        sends what it writes at once (waitress's ``send_bytes`` is 1) and wakes the loop when
        it ends. waitress's own answer (any output pending) made the loop spin, at 30,000
        passes a second under load, each finding the worker holding the output lock and
        each taking the GIL from the workers: half the server's CPU and most of its p99.
        """
        if (
            self.requests
            and not (self.will_close or self.close_when_flushed)
            and self.total_outbufs_len <= self.adj.outbuf_high_watermark
        ):
            return False
        return bool(super().writable())

    def expire(self, now: float, limits: Limits) -> None:
        """Answer 408 if the request being received is past its deadline."""
        with self.requests_lock:
            request: Any = self.request  # type: ignore[has-type]
            if request is None or request.completed or self.requests or self.will_close:
                return
            received = request.header_bytes_received + request.body_bytes_received
            if now < request.started + limits.request_timeout + received / limits.min_rate:
                return
            request.error = RequestTimeout(
                f"request not received within {limits.request_timeout:g} s "
                f"(+1 s per {format_size(limits.min_rate)} received; the server's request "
                "timeout: serve --request-timeout)"
            )
            request.completed = True
            self.request = None
            self.requests.append(request)
            self.server.add_task(self)


class _Server(TcpWSGIServer):
    """waitress's TCP server with the request deadline and the described errors."""

    channel_class = _Channel

    def __init__(self, app: Callable[..., Any], limits: Limits, **kw: Any):
        self.limits = limits
        super().__init__(app, **kw)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # closes connections idle past the idle timeout
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            channel.expire(clock, self.limits)

    def handle_error(self) -> None:
        # wasyncore's default closes the dispatcher: for the listening socket, that would end
        # the server over one connection that failed while being accepted
        log.warning("error accepting a connection (serving on)", exc_info=True)

    def handle_close(self) -> None:
        # called by wasyncore on a "disconnected" error while accepting: the same
        log.warning("a connection failed while being accepted (serving on)")

    def describe(self, error: Error) -> str:
        """The message answering a request waitress refused."""
        limits = self.limits
        if isinstance(error, RequestEntityTooLarge):
            return (
                f"request body larger than {format_size(limits.max_body_size)} (the server's "
                "max body size: serve --max-body-size)"
            )
        if isinstance(error, RequestHeaderFieldsTooLarge):
            return (
                f"request line and headers larger than {format_size(limits.max_header_size)} "
                "(the server's max header size: serve --max-header-size)"
            )
        if isinstance(error, RequestTimeout):
            return str(error.body)
        return f"{error.reason}: {error.body}"


class HttpServer:
    """A WSGI app served by waitress on ``host:port`` until :meth:`stop`."""

    def __init__(self, app: Callable[..., Any], host: str, port: int, limits: Limits):
        self.limits = limits
        self._map: dict[int, Any] = {}
        self._dispatcher = ThreadedTaskDispatcher()
        adj = Adjustments(
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=limits.connection_limit,
            # waitress refuses sizes >= its limit: +1 makes ours inclusive
            max_request_body_size=limits.max_body_size + 1,
            max_request_header_size=limits.max_header_size + 1,
            channel_timeout=max(1, round(limits.idle_timeout)),
            # the checks of both timeouts run this often: a quarter of the shorter one
            cleanup_interval=max(
                1, min(30, int(min(limits.request_timeout, limits.idle_timeout) / 4))
            ),
            asyncore_use_poll=True,  # no 1024-descriptor ceiling of select()
            ident="picsellia-tf",
        )
        self._server = _Server(
            app, limits, map=self._map, dispatcher=self._dispatcher, adj=adj, _start=True
        )
        self.port = int(self._server.effective_port)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0  # of the I/O loop: a few per request, not thousands a second
        # one line per request queued behind busy threads is noise, not a warning
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    def start(self) -> None:
        """Serve from a background daemon thread."""
        self._dispatcher.set_thread_count(self.limits.threads)
        self._thread = threading.Thread(
            target=self._loop, name=f"picsellia-local-{self.port}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                self.passes += 1
                try:
                    wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)
                except Exception:  # one connection's trouble must not end the server
                    log.exception("error in the HTTP server loop (serving on)")
        finally:
            wasyncore.close_all(self._map, ignore_all=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the running requests (up to ``timeout`` seconds), then close the listening
        socket and every connection."""
        # The workers first, while the loop still sends what they write.
        self._dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        thread = self._thread
        if thread is not None and thread.is_alive():
            # The loop thread sets the flag itself when it reads the trigger, and closes the
            # trigger only after: the write never meets a closed (or reused) descriptor.
            try:
                self._server.trigger.pull_trigger(self._stopping.set)
                thread.join(timeout)
            except OSError as exc:  # the trigger's descriptor is gone: the loop sees the flag
                log.warning("HTTP server trigger unusable at stop (%s)", exc)
        self._stopping.set()
        if thread is not None:
            thread.join()
        else:
            wasyncore.close_all(self._map, ignore_all=True)
