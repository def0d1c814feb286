"""``LocalServer``: the local platform served from a background thread."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from picsellia_tf.local.app import App
from picsellia_tf.local.faults import FaultMiddleware, Faults
from picsellia_tf.local.handlers import ROUTES
from picsellia_tf.local.storage import Storage
from picsellia_tf.local.store import Store


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalServer:
    """The platform's API on loopback, backed by SQLite and a folder of files in ``data_dir``.

    ``token`` is the default user's token (``token=`` sets it). Faults are injected through
    ``faults``. ``stop()`` then ``start()`` serves the same data on the same port again.
    """

    def __init__(
        self,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
    ):
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._port = port
        self.faults = Faults()
        self._store = Store(self.data_dir)
        try:
            self._token = self._store.default_token(token)
            storage = Storage(self.data_dir)
        except BaseException:
            self._store.close()
            raise
        self.app = FaultMiddleware(App(self._store, storage, ROUTES), self.faults)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def token(self) -> str:
        """The default user's API token."""
        return self._token

    @property
    def port(self) -> int:
        """The bound port (0 before the first start with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``, the real bound port."""
        if self._port == 0:
            raise RuntimeError("LocalServer has no port yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def create_token(self, email: str, organisation: str | None = None) -> str:
        """A new user's token: in ``organisation`` if given (created if missing), else its own."""
        return self._store.create_user(email, organisation)

    def start(self) -> LocalServer:
        """Serve in a background daemon thread; returns self."""
        with self._lock:
            if self._server is not None:
                return self
            server = make_server(
                self.host, self._port, self.app, threaded=True, request_handler=_QuietHandler
            )
            self._port = server.server_port
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"picsellia-local-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and the database (``start()`` reopens)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()
        self._store.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C), then stop."""
        self.start()
        try:
            threading.Event().wait()
        finally:
            self.stop()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._port else "not started"
        return f"LocalServer(data_dir={str(self.data_dir)!r}, {state})"
