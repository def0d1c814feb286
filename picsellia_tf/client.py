"""The HTTP client: one session, auth, timeouts, retries and error mapping.

:meth:`Client.request` is the only place that sends API requests; the endpoint wrappers in
:mod:`picsellia_tf.api` build on it. Storage URLs (presigned, signed) go through
:meth:`Client.storage_get`, :meth:`Client.storage_post` and :meth:`Client.download`, on a
second session that never carries the token.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import heapq
import json as jsonlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from picsellia_tf._checks import check_int, check_number
from picsellia_tf._retry import RETRY_STATUSES, Backoff, is_retryable, retry_hint
from picsellia_tf._version import __version__
from picsellia_tf.api import Annotations, Datasets, Experiments, Models, Projects
from picsellia_tf.errors import (
    APIError,
    BadRequestError,
    ConfigurationError,
    NetworkError,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    SizeMismatch,
    ValidationError,
    error_for_status,
)
from picsellia_tf.types import Account

logger = logging.getLogger("picsellia_tf.client")

DEFAULT_HOST = "https://app.picsellia.com"
POOL_SIZE = 32
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENT_POSTS = frozenset({"/sdk/post_logs"})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_REDIRECTS = 5
MAX_MESSAGE = 500
MAX_ANSWER_BYTES = 128 * 1024 * 1024
"""The largest API answer (or :meth:`Client.storage_get` body) read; larger is an error."""
MAX_DOWNLOAD_BYTES = 1 << 30
"""The default cap on a :meth:`Client.download` whose size is not declared (1 GiB)."""
DOWNLOAD_DEADLINE = 600.0
"""The default total time a :meth:`Client.download` may take, retries included (seconds)."""
_CHUNK = 1 << 16

# (field name, (filename, bytes)) parts of a multipart body.
FileParts = Sequence[tuple[str, tuple[str, bytes]]]
# What a failed attempt leaves behind: an API error with a retryable status, or a network error.
_Failure = APIError | NetworkError


class _Secret:
    """A string that never shows itself in a repr, str or pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API token cannot be pickled")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer`` only to requests for the configured host."""

    def __init__(self, token: _Secret, origin: tuple[str, str, int | None]) -> None:
        self._token = token
        self._origin = origin

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if r.url and _origin(r.url) == self._origin:
            r.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        else:
            r.headers.pop("Authorization", None)
        return r

    def __repr__(self) -> str:
        return "<BearerAuth>"


class _Watch:
    """The connections one attempt takes from the pool; shut down if its deadline passes
    before the answer's headers are in (a server trickling its status line and headers would
    otherwise only meet the per-read timeout)."""

    __slots__ = ("conns", "deadline", "done", "fired", "lock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conns: list[Any] = []
        self.done = self.fired = False
        self.lock = threading.Lock()

    def add(self, conn: Any) -> None:
        with self.lock:
            self.conns.append(conn)

    def fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            for conn in self.conns:
                sock = getattr(conn, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.lock:
            self.done = True
            self.conns.clear()


class _Watchdog:
    """One daemon thread firing the :class:`_Watch` es whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._cond = threading.Condition()
        self._count = 0
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float) -> _Watch:
        watch = _Watch(deadline)
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (deadline, self._count, watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="picsellia-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, watch = heapq.heappop(self._heap)
            watch.fire()


_watchdog = _Watchdog()
_attempt = threading.local()  # .watch: the _Watch of this thread's attempt under way


@contextlib.contextmanager
def _headers_by(deadline: float | None, method: str, path: str) -> Iterator[None]:
    """Bound the sending of a request and the arrival of its answer's headers by
    ``deadline`` (monotonic; None: only the per-read timeout)."""
    if deadline is None:
        yield
        return
    watch = _watchdog.watch(deadline)
    previous = getattr(_attempt, "watch", None)
    _attempt.watch = watch
    try:
        yield
    except requests.exceptions.RequestException:
        if watch.fired:
            raise RequestTimeout(
                f"{method} {path}: no answer within the call's deadline",
                method=method,
                path=path,
            ) from None
        raise
    finally:
        _attempt.watch = previous
        watch.finish()


class _WatchedPoolMixin:
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        watch = getattr(_attempt, "watch", None)
        if watch is not None:
            watch.add(conn)
        return conn


class _WatchedHTTPPool(_WatchedPoolMixin, urllib3.HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPoolMixin, urllib3.HTTPSConnectionPool):
    pass


def _new_session(auth: requests.auth.AuthBase | None) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE, max_retries=0)
    pools = getattr(adapter.poolmanager, "pool_classes_by_scheme", None)
    if isinstance(pools, dict):
        adapter.poolmanager.pool_classes_by_scheme = {
            **pools,
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = (
        f"picsellia-tf/{__version__} python-requests/{requests.__version__}"
    )
    session.auth = auth
    return session


def _validate_host(host: str, source: str) -> str:
    host = host.strip().rstrip("/")
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{source}: {host!r} is not an http(s) URL; expected e.g. {DEFAULT_HOST}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"{source}: {parts.scheme}://{parts.hostname} must not carry a query, fragment "
            "or credentials"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigurationError(f"{source}: {host!r} has an invalid port") from None
    return host


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_OBJECT_AT = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")


def _describe(exc: BaseException) -> str:
    """The innermost useful reason of a requests/urllib3 exception, in one short line."""
    reason: BaseException = exc
    for _ in range(8):
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and reason.args:
            inner = reason.args[0] if isinstance(reason.args[0], BaseException) else None
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = _OBJECT_AT.sub("", str(reason)).strip() or type(reason).__name__
    return text[:200]


class Client:
    """A connection to the Picsellia platform's v1 API.

    The token comes from ``token`` or ``$PICSELLIA_TOKEN``, the host from ``host``,
    ``$PICSELLIA_HOST`` or ``https://app.picsellia.com``. Safe to share between threads.

    Bounds (docs/wire.md, "Bounds"): ``timeout`` is the longest wait for any one read;
    an API call gives up after ``retry_deadline`` seconds in total, retries and reading the
    answer included (at least ``timeout`` per attempt; a call that is not retried has
    ``max(timeout, retry_deadline)``), and reads at most :data:`MAX_ANSWER_BYTES` of answer. A
    download gives up after ``download_deadline`` seconds in total and stops at the item's
    declared size, or at ``max_download_bytes`` when no size is declared.
    """

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
            self._host = _validate_host(host, "host")
        elif os.environ.get("PICSELLIA_HOST"):
            self._host = _validate_host(os.environ["PICSELLIA_HOST"], "PICSELLIA_HOST")
        else:
            self._host = DEFAULT_HOST
        for name, value in (
            ("timeout", timeout),
            ("retry_deadline", retry_deadline),
            ("download_deadline", download_deadline),
        ):
            check_number(value, name, low=0, unit="a number of seconds")
        if timeout <= 0:
            raise ValidationError(f"timeout: must be > 0 seconds, got {timeout!r}")
        max_retries = check_int(max_retries, "max_retries", low=0)
        max_download_bytes = check_int(max_download_bytes, "max_download_bytes", low=1)
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_deadline = float(retry_deadline)
        self.download_deadline = float(download_deadline)
        self.max_download_bytes = max_download_bytes
        self.max_answer_bytes = MAX_ANSWER_BYTES
        """The largest API answer read (bytes); a larger one raises ResponseTooLarge."""
        self._token = _Secret(raw)
        self._origin = _origin(self._host)
        self._session = _new_session(_BearerAuth(self._token, self._origin))
        self._session.headers["Accept"] = "application/json"
        self._storage = _new_session(None)

        self.projects: Projects = Projects(self)
        """Projects: create, list, infos, team, labels, Q&A, stats, models."""
        self.datasets: Datasets = Datasets(self)
        """Datasets and their raw data."""
        self.models: Models = Models(self)
        """Models: list, infos, update, delete."""
        self.experiments: Experiments = Experiments(self)
        """Experiment versions: init, training logs, previews."""
        self.annotations: Annotations = Annotations(self)
        """A project's annotations: read by range, upload."""

    # ------------------------------------------------------------------ identity

    @property
    def host(self) -> str:
        """The platform's base URL, without a trailing slash."""
        return self._host

    def __repr__(self) -> str:
        return f"Client(host={self._host!r})"

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
            self._host,
            timeout=self.timeout if timeout is None else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            retry_deadline=self.retry_deadline if retry_deadline is None else retry_deadline,
            download_deadline=self.download_deadline,
            max_download_bytes=self.max_download_bytes,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()
        self._storage.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ endpoint groups

    def check_connection(self) -> Account:
        """Check that the platform answers and accepts the token (``GET
        /sdk/check_connection``); what it said of the token (any field may be None)."""
        from picsellia_tf.wire import parse_account

        return parse_account(self.request("GET", "/sdk/check_connection"))

    # ------------------------------------------------------------------ API transport

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: FileParts | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one API request and return its decoded JSON answer.

        ``path`` starts with ``/`` (segments already quoted); ``json`` is the body (also on GET
        and DELETE), or ``files`` a multipart body. Idempotent requests (GET, PUT, DELETE,
        ``POST /sdk/post_logs``, or ``idempotent=True``) are retried per docs/wire.md.
        Raises the :mod:`picsellia_tf.errors` exception of the failure's family.
        """
        method = method.upper()
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValidationError(f"path: must start with '/', got {path!r}")
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS or (
                method == "POST" and path.split("?")[0] in IDEMPOTENT_POSTS
            )
        headers: dict[str, str] = {}
        data: Any = None
        parts = list(files) if files is not None else None
        if parts is not None:
            data = json  # form fields beside the file parts
        elif json is not None:
            try:
                data = jsonlib.dumps(json).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"request body of {method} {path}: {exc}") from None
            headers["Content-Type"] = "application/json"
        url = self._host + path
        start = time.monotonic()

        def send(timeout: float) -> requests.Response:
            now = time.monotonic()
            deadline = (
                max(start + self.retry_deadline, now + self.timeout)
                if idempotent
                else now + max(self.timeout, self.retry_deadline)
            )
            # an upload's body may take long to send: its headers wait by the per-read timeout
            watched = None if parts is not None else deadline
            response = self._send_api(method, url, path, data, parts, headers, timeout, watched)
            self._read_answer(response, method, path, deadline)
            return response

        try:
            response = self._with_retries(method, path, send, idempotent, self._host)
            return self._decode(response, method, path)
        except (APIError, NetworkError) as exc:
            exc.host = self._host
            raise

    def _send_api(
        self,
        method: str,
        url: str,
        path: str,
        data: Any,
        files: list[Any] | None,
        headers: dict[str, str],
        timeout: float,
        deadline: float | None = None,
    ) -> requests.Response:
        """One attempt, following redirects only within the configured host."""
        for _ in range(MAX_REDIRECTS + 1):
            with _headers_by(deadline, method, path):
                response = self._session.request(
                    method,
                    url,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
            location = response.headers.get("Location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                return response
            target = urljoin(url, location)
            response.close()
            if _origin(target) != self._origin:
                scheme, hostname, port = _origin(target)
                raise BadRequestError(
                    response.status_code,
                    method,
                    path,
                    f"redirected to another host ({scheme}://{hostname}:{port}); not followed, "
                    f"so the token stays with {self._host}. Check the host setting.",
                )
            if response.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, data, files, headers = "GET", None, None, {}
            url = target
        raise BadRequestError(
            response.status_code, method, path, f"more than {MAX_REDIRECTS} redirects"
        )

    def _decode(self, response: requests.Response, method: str, path: str) -> Any:
        if response.status_code >= 300:
            raise self._error(response, method, path)
        if not response.content:
            return None
        try:  # from the bytes (UTF-8/16/32 detected): no decoded copy of a large page
            return jsonlib.loads(response.content)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ServerError(
                response.status_code,
                method,
                path,
                f"expected a JSON answer, got {kind}: {self._scrub(response.text[:200])!r}",
            ) from None

    # ------------------------------------------------------------------ storage transport

    def storage_get(self, url: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes at a signed storage URL (never sends the token; retried like a GET).

        Bounded like an API call (``retry_deadline``); more than ``max_bytes`` (default: the
        client's ``max_answer_bytes``) raises :class:`~picsellia_tf.errors.ResponseTooLarge`."""
        path = self._storage_path(url)
        start = time.monotonic()

        def send(timeout: float) -> requests.Response:
            deadline = max(start + self.retry_deadline, time.monotonic() + self.timeout)
            with _headers_by(deadline, "GET", path):
                response = self._storage.get(url, timeout=timeout, stream=True)
            self._read_answer(response, "GET", path, deadline, max_bytes)
            return response

        response = self._with_retries("GET", path, send, True, url)
        if response.status_code >= 300:
            raise self._error(response, "GET", path)
        return response.content

    def storage_post(self, url: str, fields: Mapping[str, Any], filename: str, data: bytes) -> None:
        """Upload ``data`` to a presigned POST URL as the multipart part ``file``.

        Never sends the token. Retried like a PUT: a presigned POST names its object key, so
        sending it again only rewrites the same object.
        """
        path = self._storage_path(url)
        form = {str(k): str(v) for k, v in fields.items()}

        def send(timeout: float) -> requests.Response:
            return self._storage.post(
                url, data=form, files={"file": (filename, data)}, timeout=timeout
            )

        response = self._with_retries("POST", path, send, True, url)
        if response.status_code >= 300:
            raise self._error(response, "POST", path)

    def download(
        self,
        url: str,
        dest_path: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        size: int | None = None,
        name: str | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Stream a signed storage URL to ``dest_path`` atomically; returns the byte count.

        Written to a temporary file beside the destination, then renamed; the temporary file
        never outlives the call. With ``sha256``, a download whose digest differs is retried,
        then raises :class:`NetworkError`. With ``size`` (the item's declared size in bytes),
        reading stops there: a server announcing or sending more raises
        :class:`~picsellia_tf.errors.ResponseTooLarge` (not retried), one sending less raises
        :class:`~picsellia_tf.errors.SizeMismatch` (retried, a transfer may break). Without
        it, more than ``max_bytes`` (default: the client's ``max_download_bytes``) raises
        ``ResponseTooLarge``. The whole call, retries included, takes at most the client's
        ``download_deadline`` (then :class:`~picsellia_tf.errors.RequestTimeout`). ``name``
        names the item in messages (default: the URL without its query string).
        """
        path = self._storage_path(url)
        if sha256 is not None and not _SHA256.fullmatch(str(sha256)):
            raise ValidationError(f"sha256: expected 64 hex digits, got {sha256!r}")
        size = check_int(size, "size", low=0, or_none=True)
        max_bytes = check_int(max_bytes, "max_bytes", low=0, or_none=True)
        what = name if name is not None else path
        limit = size if size is not None else (max_bytes or self.max_download_bytes)
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        deadline = start + self.download_deadline
        written = 0

        def send(timeout: float) -> requests.Response:
            nonlocal written
            if time.monotonic() >= deadline:
                raise RequestTimeout(
                    f"download of {what} did not finish within {self.download_deadline:g} s",
                    method="GET",
                    path=path,
                )
            with _headers_by(deadline, "GET", path):
                response = self._storage.get(url, timeout=timeout, stream=True)
            if response.status_code >= 300:
                self._read_answer(response, "GET", path, deadline)
                return response
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                digest = hashlib.sha256()
                with os.fdopen(fd, "wb") as out:

                    def sink(chunk: bytes) -> None:
                        out.write(chunk)
                        digest.update(chunk)

                    got = self._stream_body(response, "GET", path, deadline, limit, what, sink)
                if size is not None and got != size:
                    raise SizeMismatch(
                        f"download of {what} ended after {got} bytes; its declared size is "
                        f"{size} bytes",
                        method="GET",
                        path=path,
                    )
                if sha256 is not None and digest.hexdigest() != sha256.lower():
                    raise NetworkError(
                        f"download of {what} is corrupt: sha256 {digest.hexdigest()} "
                        f"!= expected {sha256}",
                        method="GET",
                        path=path,
                    )
                os.replace(tmp, dest)
                written = got
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            finally:
                response.close()
            return response

        response = self._with_retries("GET", path, send, True, url, deadline=deadline)
        if response.status_code >= 300:
            raise self._error(response, "GET", path)
        return written

    # ------------------------------------------------------------------ bounded reading

    def _read_answer(
        self,
        response: requests.Response,
        method: str,
        path: str,
        deadline: float,
        limit: int | None = None,
    ) -> None:
        """Read a streamed response's whole body by ``deadline`` (at most ``limit`` bytes,
        default ``max_answer_bytes``) into ``response.content``."""
        limit = self.max_answer_bytes if limit is None else limit
        parts: list[bytes] = []
        try:
            self._stream_body(
                response,
                method,
                path,
                deadline,
                limit,
                f"the answer to {method} {path}",
                parts.append,
            )
        except BaseException:
            response.close()
            raise
        response._content = b"".join(parts)
        response._content_consumed = True  # type: ignore[attr-defined]
        response.raw.release_conn()

    def _stream_body(
        self,
        response: requests.Response,
        method: str,
        path: str,
        deadline: float,
        limit: int,
        what: str,
        sink: Callable[[bytes], object],
    ) -> int:
        """Pass a streamed body to ``sink`` chunk by chunk; answer its size. Raises
        :class:`RequestTimeout` past ``deadline`` (each read waits at most until then) and
        :class:`ResponseTooLarge` past ``limit`` bytes (announced or received)."""
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.strip().isdigit() and int(announced) > limit:
            response.close()
            raise ResponseTooLarge(
                f"{what}: the server announced {int(announced)} bytes, more than the "
                f"{limit} expected",
                method=method,
                path=path,
            )
        raw = response.raw
        read = getattr(raw, "read1", None)
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        total = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._too_slow(response, method, path, what, total)
            if sock is not None:
                sock.settimeout(max(0.01, min(self.timeout, remaining)))
            try:
                chunk = (read if read is not None else raw.read)(_CHUNK, decode_content=True)
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                if time.monotonic() >= deadline:
                    raise self._too_slow(response, method, path, what, total) from None
                if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
                    raise RequestTimeout(
                        f"{what}: no data for {self.timeout:g} s after {total} bytes",
                        method=method,
                        path=path,
                    ) from None
                raise NetworkError(
                    f"{what}: the connection broke after {total} bytes "
                    f"({self._scrub(_describe(exc))})",
                    method=method,
                    path=path,
                ) from None
            if not chunk:
                return total
            total += len(chunk)
            if total > limit:
                response.close()
                raise ResponseTooLarge(
                    f"{what}: more than the {limit} bytes expected; stopped",
                    method=method,
                    path=path,
                )
            sink(chunk)

    def _too_slow(
        self, response: requests.Response, method: str, path: str, what: str, got: int
    ) -> RequestTimeout:
        response.close()
        return RequestTimeout(
            f"{what}: not received in time (the call's deadline passed after {got} bytes)",
            method=method,
            path=path,
        )

    @staticmethod
    def _storage_path(url: str) -> str:
        """The URL without its query string (the signature), for messages."""
        if not isinstance(url, str):
            raise ValidationError(f"url: expected a string, got {type(url).__name__}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(f"url: not an absolute http(s) URL: {url[:100]!r}")
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    # ------------------------------------------------------------------ retries and errors

    def _with_retries(
        self,
        method: str,
        path: str,
        send: Callable[[float], requests.Response],
        idempotent: bool,
        target: str,
        deadline: float | None = None,
    ) -> requests.Response:
        """Call ``send(timeout)`` until it succeeds, or the retry budget is spent (retries
        stop at ``deadline``, default ``retry_deadline`` from now)."""
        start = time.monotonic()
        budget = self.retry_deadline if deadline is None else deadline - start
        backoff = Backoff(BACKOFF_BASE, BACKOFF_CAP)
        attempt = 0
        while True:
            remaining = budget - (time.monotonic() - start)
            timeout = max(0.05, min(self.timeout, remaining)) if idempotent else self.timeout
            failure: _Failure | None = None
            try:
                response = send(timeout)
            except (APIError, ResponseTooLarge):
                raise
            except NetworkError as exc:
                failure = exc
            except requests.exceptions.RequestException as exc:
                failure = self._network_error(exc, method, path, target, timeout)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if not idempotent:
                    return response
                failure = self._error(response, method, path)
            if not idempotent or not is_retryable(failure):
                raise failure
            attempt += 1
            elapsed = time.monotonic() - start
            delay = backoff.next(retry_hint(failure))
            if attempt > self.max_retries or elapsed + delay >= budget:
                raise failure
            logger.info(
                "%s %s failed (%s); retry %d/%d in %.2f s",
                method,
                path,
                failure.status or type(failure).__name__,
                attempt,
                self.max_retries,
                delay,
            )
            time.sleep(delay)

    def _network_error(
        self,
        exc: requests.exceptions.RequestException,
        method: str,
        path: str,
        target: str,
        timeout: float,
    ) -> NetworkError:
        where = _origin(target)
        server = f"{where[0]}://{where[1]}:{where[2]}"
        if isinstance(exc, requests.exceptions.Timeout):
            return RequestTimeout(
                f"{server} did not answer {method} {path} within {timeout:g} s",
                method=method,
                path=path,
            )
        reason = self._scrub(_describe(exc))
        return NetworkError(
            f"cannot reach {server} for {method} {path}: {reason}", method=method, path=path
        )

    def _error(self, response: requests.Response, method: str, path: str) -> APIError:
        message = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping):
            message = str(body.get("error") or body.get("message") or "")
        elif isinstance(body, str):
            message = body
        if not message:
            message = response.text.strip() or response.reason or "no message"
        message = self._scrub(message)
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "..."
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        return error_for_status(response.status_code, method, path, message, retry_after)

    def _scrub(self, text: str) -> str:
        token = self._token.reveal()
        return text.replace(token, "<token>") if token in text else text
