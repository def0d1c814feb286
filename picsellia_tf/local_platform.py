"""LocalPlatform: the local server plus a ready :class:`Client`, for tests and examples."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf.client import Client

if TYPE_CHECKING:
    from picsellia_tf.local import LocalServer
    from picsellia_tf.local.limits import Limits


class LocalPlatform:
    """A running local platform on loopback and clients for it.

    ``with LocalPlatform("./data") as local: local.client.projects.list()``. With no
    ``data_dir``, a temporary directory is used and removed on exit; otherwise the data stays
    and a later ``LocalPlatform`` on the same directory sees it (same default token).
    ``limits``: the server's :class:`~picsellia_tf.local.limits.Limits` (the ``serve``
    options); other keyword arguments go to the clients.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        **client_options: Any,
    ) -> None:
        self._tmp: str | None = None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._bind = (host, port)
        self._limits = limits
        self._client_options = client_options
        self._server: LocalServer | None = None
        self._clients: list[Client] = []
        self._client: Client | None = None

    def start(self) -> LocalPlatform:
        """Start the server (done by ``with``)."""
        if self._server is not None:
            return self
        from picsellia_tf.local import LocalServer

        if self.data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="picsellia-local-")
            self.data_dir = Path(self._tmp)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            server = LocalServer(
                self.data_dir, host=self._bind[0], port=self._bind[1], limits=self._limits
            )
            server.start()
        except BaseException:
            self.stop()  # removes the temporary directory made above
            raise
        self._server = server
        return self

    def stop(self) -> None:
        """Close the clients, stop the server, remove the temporary directory if any."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._client = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self.data_dir = None

    def restart(self) -> None:
        """Stop and start the server again, on the same port and data (clients stay valid)."""
        self.server.stop()
        self.server.start()

    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server(self) -> LocalServer:
        """The running :class:`picsellia_tf.local.LocalServer` (``.faults`` etc.)."""
        if self._server is None:
            raise RuntimeError("the local platform is not running: use it in a 'with' block")
        return self._server

    @property
    def host(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:40123``."""
        return str(self.server.url).rstrip("/")

    url = host

    @property
    def token(self) -> str:
        """The default user's API token."""
        return str(self.server.token)

    @property
    def client(self) -> Client:
        """A client authenticated as the default user."""
        if self._client is None:
            self._client = self._track(Client(self.token, self.host, **self._client_options))
        return self._client

    def new_client(self, email: str, organisation: str | None = None, **options: Any) -> Client:
        """A client for a new user ``email`` (in a new organisation unless one is named)."""
        token = self.server.create_token(email, organisation=organisation)
        return self._track(Client(token, self.host, **{**self._client_options, **options}))

    def _track(self, client: Client) -> Client:
        self._clients.append(client)
        return client

    def __repr__(self) -> str:
        where = self.host if self._server is not None else "stopped"
        return f"LocalPlatform({where}, data_dir={str(self.data_dir)!r})"
