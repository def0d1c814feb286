"""The Client: the platform's API as endpoint groups over one transport.

The HTTP side (sessions, auth, deadlines, size bounds, retries, error mapping) is
:mod:`picsellia_tf._http`; the endpoints are :mod:`picsellia_tf.api`. A :class:`Client` checks
its settings, builds one :class:`~picsellia_tf._http.Transport` and hangs the groups on it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from picsellia_tf import types
from picsellia_tf._checks import check_int, check_number
from picsellia_tf._http import (
    DEFAULT_HOST,
    DOWNLOAD_DEADLINE,
    MAX_DOWNLOAD_BYTES,
    Secret,
    Transport,
    validate_host,
)
from picsellia_tf.api import Account, Annotations, Datasets, Experiments, Models, Projects
from picsellia_tf.errors import ConfigurationError, ValidationError

__all__ = ["DEFAULT_HOST", "Client"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _on_transport(
    method: Callable[Concatenate[Transport, P], R],
) -> Callable[Concatenate[Client, P], R]:
    """A :class:`Transport` method as a method of the client (same signature and docstring)."""

    @functools.wraps(method)
    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(self._transport, *args, **kwargs)

    call.__qualname__ = f"Client.{method.__name__}"
    return call


class _Setting(Generic[T]):
    """A setting of the client's transport, read and written as an attribute of the client."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, client: None, owner: type | None = None) -> _Setting[T]: ...

    @overload
    def __get__(self, client: Client, owner: type | None = None) -> T: ...

    def __get__(self, client: Client | None, owner: type | None = None) -> Any:
        return self if client is None else getattr(client._transport, self._name)

    def __set__(self, client: Client, value: T) -> None:
        setattr(client._transport, self._name, value)


class Client:
    """A connection to the Picsellia platform's v1 API.

    The token comes from ``token`` or ``$PICSELLIA_TOKEN``, the host from ``host``,
    ``$PICSELLIA_HOST`` or ``https://app.picsellia.com``. Safe to share between threads.

    Bounds (docs/wire.md, "Bounds"): ``timeout`` is the longest wait for any one read;
    an API call gives up after ``retry_deadline`` seconds in total, retries and reading the
    answer included (at least ``timeout`` per attempt; a call that is not retried has
    ``max(timeout, retry_deadline)``), and reads at most :attr:`max_answer_bytes` of answer. A
    download gives up after ``download_deadline`` seconds in total and stops at the item's
    declared size, or at ``max_download_bytes`` when no size is declared.
    """

    timeout: _Setting[float] = _Setting()
    """The longest wait for any one read (seconds)."""
    max_retries: _Setting[int] = _Setting()
    """How many times a call safe to repeat is retried at most."""
    retry_deadline: _Setting[float] = _Setting()
    """The total time an API call may take, retries included (seconds)."""
    download_deadline: _Setting[float] = _Setting()
    """The total time a :meth:`download` may take, retries included (seconds)."""
    max_download_bytes: _Setting[int] = _Setting()
    """The cap on a :meth:`download` whose size is not declared (bytes)."""
    max_answer_bytes: _Setting[int] = _Setting()
    """The largest API answer read (bytes); a larger one raises ResponseTooLarge."""

    def __init__(
        self,
        token: str | None = None,
        host: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        retry_deadline: float = 60.0,
        download_deadline: float = DOWNLOAD_DEADLINE,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        raw = token if token is not None else os.environ.get("PICSELLIA_TOKEN")
        if raw is None or not isinstance(raw, str) or not raw.strip():
            raise ConfigurationError(
                "no API token: pass Client(token=...) or set the PICSELLIA_TOKEN environment "
                "variable (your token is in your Picsellia profile settings, 'API token')"
            )
        if not raw.isprintable() or any(c.isspace() for c in raw):
            raise ConfigurationError(
                "the API token is malformed: it must be one word of printable characters "
                "(the token itself is not shown)"
            )
        if host is not None:
            host = validate_host(host, "host")
        elif os.environ.get("PICSELLIA_HOST"):
            host = validate_host(os.environ["PICSELLIA_HOST"], "PICSELLIA_HOST")
        else:
            host = DEFAULT_HOST
        for name, value in (
            ("timeout", timeout),
            ("retry_deadline", retry_deadline),
            ("download_deadline", download_deadline),
        ):
            check_number(value, name, low=0, unit="a number of seconds")
        if timeout <= 0:
            raise ValidationError(f"timeout: must be > 0 seconds, got {timeout!r}")
        self._token = Secret(raw)
        self._transport = Transport(
            self._token,
            host,
            timeout=float(timeout),
            max_retries=check_int(max_retries, "max_retries", low=0),
            retry_deadline=float(retry_deadline),
            download_deadline=float(download_deadline),
            max_download_bytes=check_int(max_download_bytes, "max_download_bytes", low=1),
        )

        self.account: Account = Account(self._transport)
        """The token's account: check_connection."""
        self.projects: Projects = Projects(self._transport)
        """Projects: create, list, infos, team, labels, Q&A, stats, models."""
        self.datasets: Datasets = Datasets(self._transport)
        """Datasets and their raw data."""
        self.models: Models = Models(self._transport)
        """Models: list, infos, update, delete."""
        self.experiments: Experiments = Experiments(self._transport)
        """Experiment versions: init, training logs, previews."""
        self.annotations: Annotations = Annotations(self._transport)
        """A project's annotations: read by range, upload."""

    # ------------------------------------------------------------------ identity

    @property
    def host(self) -> str:
        """The platform's base URL, without a trailing slash."""
        return self._transport.host

    def __repr__(self) -> str:
        return f"Client(host={self.host!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Client cannot be pickled (it holds the API token); make a new one")

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_deadline: float | None = None,
    ) -> Client:
        """A new client for the same host and token with other timeout or retry settings."""
        return Client(
            self._token.reveal(),
            self.host,
            timeout=self.timeout if timeout is None else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            retry_deadline=self.retry_deadline if retry_deadline is None else retry_deadline,
            download_deadline=self.download_deadline,
            max_download_bytes=self.max_download_bytes,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_connection(self) -> types.Account:
        """Check that the platform answers and accepts the token (``GET
        /sdk/check_connection``); what it said of the token (any field may be None)."""
        return self.account.check_connection()

    # ------------------------------------------------------------------ the transport's calls

    request = _on_transport(Transport.request)
    storage_get = _on_transport(Transport.storage_get)
    storage_post = _on_transport(Transport.storage_post)
    download = _on_transport(Transport.download)
