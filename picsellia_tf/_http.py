"""The transport: how the package talks HTTP to the platform and to its storage.

One :class:`Transport` per :class:`~picsellia_tf.client.Client`: a session for the API that
carries the token (only to the configured host: redirects elsewhere are refused, other hosts
never see it), a second session for signed storage URLs that never carries it, per-read
timeouts and total deadlines (:mod:`picsellia_tf._watchdog` bounds the wait for headers),
size bounds on what is read, the retry rule of :mod:`picsellia_tf._retry`, and the mapping of
failures to :mod:`picsellia_tf.errors`. :meth:`Transport.request` is the only place that sends
API requests; the endpoint wrappers in :mod:`picsellia_tf.api` build on it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json as jsonlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from picsellia_tf._checks import check_int, is_sha256
from picsellia_tf._retry import BACKOFF_BASE, Backoff, is_retryable, retry_hint
from picsellia_tf._version import __version__
from picsellia_tf._watchdog import WatchedHTTPPool, WatchedHTTPSPool, headers_by
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

logger = logging.getLogger("picsellia_tf.client")

DEFAULT_HOST = "https://app.picsellia.com"
POOL_SIZE = 32
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_REDIRECTS = 5
MAX_MESSAGE = 500
MAX_ANSWER_BYTES = 128 * 1024 * 1024
"""The largest API answer (or :meth:`Transport.storage_get` body) read; larger is an error."""
MAX_DOWNLOAD_BYTES = 1 << 30
"""The default cap on a :meth:`Transport.download` whose size is not declared (1 GiB)."""
DOWNLOAD_DEADLINE = 600.0
"""The default total time a :meth:`Transport.download` may take, retries included (seconds)."""
_CHUNK = 1 << 16

# (field name, (filename, bytes)) parts of a multipart body.
FileParts = Sequence[tuple[str, tuple[str, bytes]]]
# What a failed attempt leaves behind: an API error (an answer of 300 or more) or a network error.
_Failure = APIError | NetworkError


class Secret:
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


def _server(url: str) -> str:
    """``scheme://host:port`` of a URL, for messages (no path, query or credentials)."""
    scheme, hostname, port = _origin(url)
    return f"{scheme}://{hostname}:{port}"


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer`` only to requests for the configured host."""

    def __init__(self, token: Secret, origin: tuple[str, str, int | None]) -> None:
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


class _Session(requests.Session):
    """A session that reads the environment's proxy and CA bundle settings once per origin.

    ``requests`` reads them again for every request (the whole of ``os.environ``, twice): about
    a quarter of the client's CPU for a small download. They are the same for every URL of an
    origin (``no_proxy`` matches hosts), so the first answer is kept for the session's life.
    Explicit ``proxies``, ``verify`` or ``cert`` arguments take requests' own path.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[tuple[str, str, int | None], bool], Any] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or verify is not None or cert is not None or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = (_origin(url), bool(stream))
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, stream, None, None)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def _new_session(auth: requests.auth.AuthBase | None) -> requests.Session:
    session = _Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE, max_retries=0)
    pools = getattr(adapter.poolmanager, "pool_classes_by_scheme", None)
    if isinstance(pools, dict):
        adapter.poolmanager.pool_classes_by_scheme = {
            **pools,
            "http": WatchedHTTPPool,
            "https": WatchedHTTPSPool,
        }
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = (
        f"picsellia-tf/{__version__} python-requests/{requests.__version__}"
    )
    session.auth = auth
    return session


def validate_host(host: str, source: str) -> str:
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


class Transport:
    """API requests and storage transfers for one host and token, within the bounds set.

    Built by :class:`~picsellia_tf.client.Client`, which checks the settings first; they stay
    readable and writable there (``client.max_retries = 1`` sets this transport's). Safe to
    share between threads.
    """

    backoff_base: float = BACKOFF_BASE
    """The longest first delay between two tries of one call (seconds; see
    :class:`~picsellia_tf._retry.Backoff`). Not a client setting: tests shorten it, on a
    transport or on the class, to retry through a scripted failure without waiting."""

    def __init__(
        self,
        token: Secret,
        host: str,
        *,
        timeout: float,
        max_retries: int,
        retry_deadline: float,
        download_deadline: float,
        max_download_bytes: int,
    ) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_deadline = retry_deadline
        self.download_deadline = download_deadline
        self.max_download_bytes = max_download_bytes
        self.max_answer_bytes = MAX_ANSWER_BYTES
        self._token = token
        self._host = host
        self._origin = _origin(host)
        self._session = _new_session(_BearerAuth(token, self._origin))
        self._session.headers["Accept"] = "application/json"
        self._storage = _new_session(None)

    @property
    def host(self) -> str:
        """The platform's base URL, without a trailing slash."""
        return self._host

    def __repr__(self) -> str:
        return f"Transport(host={self._host!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a Transport cannot be pickled (it holds the API token)")

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()
        self._storage.close()

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
        and DELETE), or ``files`` a multipart body. Idempotent requests (GET, HEAD, OPTIONS, PUT,
        DELETE, or any with ``idempotent=True``) are retried per docs/wire.md.
        Raises the :mod:`picsellia_tf.errors` exception of the failure's family.
        """
        method = method.upper()
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValidationError(f"path: must start with '/', got {path!r}")
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
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
            deadline = self._attempt_deadline(start, idempotent)
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
            with headers_by(deadline, method, path):
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
                raise BadRequestError(
                    response.status_code,
                    method,
                    path,
                    f"redirected to another host ({_server(target)}); not followed, "
                    f"so the token stays with {self._host}. Check the host setting.",
                )
            if response.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, data, files, headers = "GET", None, None, {}
            url = target
        raise BadRequestError(
            response.status_code, method, path, f"more than {MAX_REDIRECTS} redirects"
        )

    def _decode(self, response: requests.Response, method: str, path: str) -> Any:
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
            deadline = self._attempt_deadline(start, idempotent=True)
            with headers_by(deadline, "GET", path):
                response = self._storage.get(url, timeout=timeout, stream=True)
            self._read_answer(response, "GET", path, deadline, max_bytes)
            return response

        return self._with_retries("GET", path, send, True, url).content

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

        self._with_retries("POST", path, send, True, url)

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
        if sha256 is not None and not is_sha256(str(sha256)):
            raise ValidationError(f"sha256: expected 64 hex digits, got {sha256!r}")
        size = check_int(size, "size", low=0, or_none=True)
        max_bytes = check_int(max_bytes, "max_bytes", low=0, or_none=True)
        what = name if name is not None else path
        limit = size if size is not None else (max_bytes or self.max_download_bytes)
        dest = Path(dest_path)
        if not dest.parent.is_dir():  # (one stat where mkdir would be two calls)
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
            with headers_by(deadline, "GET", path):
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

        self._with_retries("GET", path, send, True, url, deadline=deadline)
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

    def _attempt_deadline(self, start: float, idempotent: bool) -> float:
        """When an attempt begun now must be done, answer read: within the call's
        ``retry_deadline`` from ``start`` but at least ``timeout`` from now; an attempt that
        is not retried has ``max(timeout, retry_deadline)`` from now."""
        now = time.monotonic()
        if idempotent:
            return max(start + self.retry_deadline, now + self.timeout)
        return now + max(self.timeout, self.retry_deadline)

    def _with_retries(
        self,
        method: str,
        path: str,
        send: Callable[[float], requests.Response],
        idempotent: bool,
        target: str,
        deadline: float | None = None,
    ) -> requests.Response:
        """Call ``send(timeout)`` until it answers below 300 (that answer is returned), or raise
        the failure that ends it: one :func:`~picsellia_tf._retry.is_retryable` does not retry
        (any failure of a call that is not ``idempotent``), or the last once the retry budget
        is spent (retries stop at ``deadline``, default ``retry_deadline`` from now)."""
        start = time.monotonic()
        budget = self.retry_deadline if deadline is None else deadline - start
        backoff = Backoff(self.backoff_base)
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
                if response.status_code < 300:
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
        server = _server(target)
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
