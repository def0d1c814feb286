"""``LocalServer``: the local platform served (by waitress) from a background thread."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from picsellia_tf.local import trash
from picsellia_tf.local.app import App
from picsellia_tf.local.faults import FaultMiddleware, Faults
from picsellia_tf.local.handlers import ROUTES
from picsellia_tf.local.http_server import HttpServer, Limits
from picsellia_tf.local.storage import Storage
from picsellia_tf.local.store import Store

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, one server per folder is up to you
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("picsellia_tf.local")
LOCK_NAME = "server.lock"


class DataDirBusy(RuntimeError):
    """Another running server serves the same data directory."""


class LocalServer:
    """The platform's API on loopback, backed by SQLite and a folder of files in ``data_dir``.

    ``token`` is the default user's token (``token=`` sets it). ``limits`` are what the server
    accepts and how long it waits (:class:`~picsellia_tf.local.http_server.Limits`).
    ``public_url`` is the base of the URLs it hands out (signed storage URLs): give it when
    clients reach the server through a proxy or another name; by default the bound address.
    Faults are injected through ``faults``. ``stop()`` then ``start()`` serves the same data on
    the same port again. One server at a time serves a data directory: at each start it removes
    what a server killed mid-request left (temporary files, bytes no row points at).
    """

    def __init__(
        self,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        limits: Limits | None = None,
        public_url: str | None = None,
    ):
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        if public_url is not None and not public_url.startswith(("http://", "https://")):
            raise ValueError(f"public URL must start with http:// or https://, got {public_url!r}")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._port = port
        self.limits = limits or Limits()
        self._public_url = public_url.rstrip("/") if public_url else None
        self.faults = Faults()
        self._store = Store(self.data_dir)
        try:
            self._token = self._store.default_token(token)
            self._storage = Storage(self.data_dir)
        except BaseException:
            self._store.close()
            raise
        self._app = App(self._store, self._storage, ROUTES, max_json_size=self.limits.max_json_size)
        self.app = FaultMiddleware(self._app, self.faults)
        self._server: HttpServer | None = None
        self._lockfile: IO[str] | None = None
        self._lock = threading.Lock()

    @property
    def token(self) -> str:
        """The default user's API token."""
        return self._token

    @property
    def url_ttl(self) -> float:
        """Seconds the signed download URLs that the API answers stay valid (default 3600;
        settable, e.g. short to test what a long download does when they expire)."""
        return self._storage.url_ttl

    @url_ttl.setter
    def url_ttl(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"url_ttl must be > 0 seconds, got {seconds!r}")
        self._storage.url_ttl = float(seconds)

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
    def public_url(self) -> str:
        """The base of the URLs the server hands out: ``public_url=`` if given, else :attr:`url`."""
        return self._public_url or self.url

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def create_token(self, email: str, organisation: str | None = None) -> str:
        """A new user's token: in ``organisation`` if given (created if missing), else its own."""
        return self._store.create_user(email, organisation)

    def start(self) -> LocalServer:
        """Serve in a background thread; returns self. DataDirBusy if another server serves
        the same data directory."""
        with self._lock:
            if self._server is not None:
                return self
            self._take_data_dir()
            try:
                self._recover()
                server = HttpServer(self.app, self.host, self._port, self.limits)
            except BaseException:
                self._release_data_dir()
                raise
            self._port = server.port
            self._app.public_url = self.public_url
            server.start()
            self._server = server
        return self

    def _take_data_dir(self) -> None:
        if fcntl is None:
            return
        lockfile = open(self.data_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held while serving
        try:
            fcntl.flock(lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lockfile.seek(0)
            holder = lockfile.read().strip() or "unknown"
            lockfile.close()
            raise DataDirBusy(
                f"{self.data_dir} is being served by another server (pid {holder}); stop it "
                "first, or give another data directory"
            ) from None
        lockfile.seek(0)
        lockfile.truncate()
        lockfile.write(str(os.getpid()))
        lockfile.flush()
        self._lockfile = lockfile

    def _release_data_dir(self) -> None:
        if self._lockfile is not None:
            self._lockfile.close()  # releases the lock
            self._lockfile = None

    def _recover(self) -> None:
        """Remove what a server killed mid-request left: temporary files, trashed objects."""
        temporary = self._storage.clear_tmp()
        trashed = trash.empty_all(self._store, self._storage)
        if temporary or trashed:
            log.info("start-up: removed %d temporary and %d trashed files", temporary, trashed)

    def stop(self) -> None:
        """Stop serving, close the listening socket and the database (``start()`` reopens)."""
        with self._lock:
            server, self._server = self._server, None
            if server is not None:
                server.stop()
            self._store.close()
            self._release_data_dir()

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
