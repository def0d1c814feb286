"""The WSGI app: routing table, authentication, one transaction per request, error answers."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.wrappers import Request, Response

from picsellia_tf.local import queries, trash
from picsellia_tf.local.limits import Limits
from picsellia_tf.local.storage import SignatureError, Storage
from picsellia_tf.local.store import Store, User
from picsellia_tf.local.web import ApiError, error_response, json_response, read_json_body

log = logging.getLogger("picsellia_tf.local")

Handler = Callable[..., Any]

_OWNED = {"projects": "project", "datasets": "dataset", "models": "model"}
MAX_PATH = 8192  # bytes of a request path; longer is a 414
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Route:
    """One route: ``handler(ctx, **url_args)`` answers ``method rule``.

    ``auth``: needs a Bearer token. ``tx``: runs inside one database transaction (``ctx.db``),
    the JSON body read before it starts; handlers doing file work set it False and open their
    own (``ctx.transaction``), never reading the request or a file inside one. ``status``: the
    success status of a JSON answer (201 where the released SDK checks for it). ``write``:
    whether the handler writes (default: all but GET); a route that does not runs in a
    read-only transaction beside the writes, not after them.
    """

    method: str
    rule: str
    handler: Handler
    auth: bool = True
    tx: bool = True
    status: int = 200
    write: bool | None = None

    @property
    def writes(self) -> bool:
        """Whether the handler writes to the database."""
        return self.method != "GET" if self.write is None else self.write


class Ctx:
    """What a handler gets: the request, its caller, the database and the files."""

    def __init__(self, app: App, request: Request, user: User | None):
        self.request = request
        self.store = app.store
        self.storage = app.storage
        self.public_url = app.public_url
        self._max_json = app.max_json_size
        self._user = user
        self._db: sqlite3.Connection | None = None
        self._body: dict[str, Any] | None = None
        self.trashed: list[trash.Item] = []

    @property
    def user(self) -> User:
        """The authenticated caller."""
        if self._user is None:
            raise RuntimeError("route has no authenticated user")
        return self._user

    @property
    def org(self) -> str:
        """The caller's organisation id."""
        return self.user.org_id

    @property
    def db(self) -> sqlite3.Connection:
        """The current transaction (see :meth:`transaction`)."""
        if self._db is None:
            raise RuntimeError("route runs outside a transaction")
        return self._db

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction, ``ctx.db`` for the block: committed if the block succeeds, rolled
        back if it raises; read-only beside the writes (not after them) unless ``write``.
        Never read the request or a file inside one."""
        if self._db is not None:
            raise RuntimeError("already in a transaction")
        with self.store.tx() if write else self.store.read() as db:
            self._db = db
            try:
                yield db
            finally:
                self._db = None

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body (``{}`` when empty)."""
        if self._body is None:
            self._body = read_json_body(self.request, self._max_json)
        return self._body

    def read_body(self) -> None:
        """Read the body now: a form (the dashboard's) parsed, anything else as JSON (a 400 if
        it is not)."""
        if self.request.mimetype in _FORMS:
            self.request.form  # noqa: B018 - parsed and kept by the request
        else:
            self.body  # noqa: B018 - parsed and kept

    def discard(self, *names: str, tree: bool = False) -> None:
        """Delete stored objects (or folders, ``tree``) once the transaction commits; at the
        next start if the server dies first."""
        items = [(name, tree) for name in names]
        trash.throw(self.db, items)
        self.trashed.extend(items)

    def owned(self, table: str, item_id: str) -> Any:
        """The row of ``table`` with ``item_id`` in the caller's organisation, else a 404."""
        what = _OWNED[table]
        row = queries.org.owned(self.db, table, self.org, item_id)
        if row is None:
            raise ApiError(404, f"{what} '{item_id}' not found")
        return row

    def object_url(self, object_name: str) -> str:
        """A signed GET URL for a stored object, on the server's public URL (never the
        request's Host header, which the client chooses)."""
        return self.storage.get_url(self.public_url, object_name, self.storage.url_ttl)


@functools.lru_cache(maxsize=4)
def _routing(rules: tuple[tuple[str, str], ...]) -> MapAdapter:
    """The routing table of these (rule, method) pairs, each rule's endpoint its index, bound for
    matching. Compiling it costs ~18 ms (werkzeug builds each rule's matcher and URL builders),
    so every App serving the same routes shares one: matching only reads it."""
    table = Map(
        [Rule(rule, methods=[method], endpoint=i) for i, (rule, method) in enumerate(rules)],
        merge_slashes=False,
    )
    return table.bind("localhost")


class App:
    """The local platform's WSGI application.

    ``public_url``: the base of the URLs it hands out (signed storage URLs, upload forms).
    ``max_json_size``: bytes of a JSON body (413 past it).
    """

    def __init__(
        self,
        store: Store,
        storage: Storage,
        routes: Iterable[Route],
        *,
        public_url: str = "http://127.0.0.1",
        max_json_size: int = Limits.max_json_size,
    ):
        self.store = store
        self.storage = storage
        self.public_url = public_url
        self.max_json_size = max_json_size
        self.routes = list(routes)
        self._urls = _routing(tuple((r.rule, r.method) for r in self.routes))
        self.map = self._urls.map

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self.handle(request)
        finally:
            request.close()  # the multipart parts' temporary files
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """The response to one request."""
        if len(request.environ.get("PATH_INFO", "")) > MAX_PATH:
            return error_response(414, f"request path longer than {MAX_PATH} bytes")
        path = request.path
        if path.startswith("/api/V1/"):
            path = "/api/v1/" + path[len("/api/V1/") :]
        try:
            index, args = self._urls.match(path, request.method)
            route = self.routes[index]
            return self._run(route, request, args)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except SignatureError as exc:
            return error_response(403, str(exc))
        except NotFound:
            return error_response(404, f"unknown route {request.method} {request.path}")
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            return error_response(
                405, f"method {request.method} not allowed on {request.path} (allowed: {allowed})"
            )
        except HTTPException as exc:
            return error_response(exc.code or 500, exc.description or exc.name)
        except Exception as exc:
            log.exception("internal error on %s %s", request.method, request.path)
            return error_response(500, f"internal error: {type(exc).__name__}")

    def _run(self, route: Route, request: Request, args: Mapping[str, Any]) -> Response:
        user = self._authenticate(request) if route.auth else None
        ctx = Ctx(self, request, user)
        if route.tx:
            ctx.read_body()  # before the transaction starts: never read under its lock
            with ctx.transaction(route.writes):
                result = route.handler(ctx, **args)
        else:
            result = route.handler(ctx, **args)
        if ctx.trashed:
            trash.empty(self.store, self.storage, ctx.trashed)
        return result if isinstance(result, Response) else json_response(result, route.status)

    def _authenticate(self, request: Request) -> User:
        header = request.headers.get("Authorization")
        if header is None:
            raise ApiError(401, "missing Authorization header (expected 'Bearer <token>')")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise ApiError(401, "malformed Authorization header (expected 'Bearer <token>')")
        user = self.store.user_for_token(token)
        if user is None:
            raise ApiError(401, "invalid token")
        return user
