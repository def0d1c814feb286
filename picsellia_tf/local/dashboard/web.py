"""The dashboard's sessions, page wrapper and security headers.

A session is a cookie ``<user id>.<expiry>.<signature>``: HMAC-signed with the data folder's
storage key over the user id, a hash of the user's current token and the expiry, so it
survives restarts, is worthless once the token changes, and never holds the token itself.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from picsellia_tf.local.app import Ctx
from picsellia_tf.local.dashboard.html import Html, h, page
from picsellia_tf.local.store import User, as_user, user_row

COOKIE = "picsellia_session"
SESSION_TTL = 30 * 24 * 3600
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class PageError(Exception):
    """A page answered as an HTML error page with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(what: str) -> PageError:
    """A 404 page for ``what``."""
    return PageError(404, f"{what} not found")


def secure(response: Response, *, cache: bool = False) -> Response:
    """``response`` with the dashboard's security headers (and no caching unless ``cache``)."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    if not cache:
        response.headers["Cache-Control"] = "no-store"
    return response


def html_response(body: Html, status: int = 200) -> Response:
    """An HTML page."""
    return secure(Response(str(body), status=status, mimetype="text/html"))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signature(ctx: Ctx, user_id: str, token: str, expires: int) -> str:
    return ctx.storage.sign("SESSION", f"{user_id}/{_token_hash(token)}", expires)


def session_cookie(ctx: Ctx, user_id: str, token: str) -> str:
    """A new session cookie's value for the user owning ``token``."""
    expires = int(time.time()) + SESSION_TTL
    return f"{user_id}.{expires}.{_signature(ctx, user_id, token, expires)}"


def session_user(ctx: Ctx) -> User | None:
    """The user of the request's session cookie, if it is valid."""
    user_id, _, rest = ctx.request.cookies.get(COOKIE, "").partition(".")
    expires, _, signature = rest.partition(".")
    if not (user_id and expires.isdigit() and signature) or int(expires) < time.time():
        return None
    row = user_row(ctx.db, "id", user_id)
    if row is None:
        return None
    expected = _signature(ctx, user_id, row["token"], int(expires))
    return as_user(row) if hmac.compare_digest(expected, signature) else None


def token_user(ctx: Ctx, token: str) -> Any:
    """The user row (with its token) owning ``token``, if any."""
    return user_row(ctx.db, "token", token.strip()) if token.strip() else None


def signed_in(response: Response, ctx: Ctx, row: Any) -> Response:
    """``response`` setting the session cookie of user ``row``."""
    response.set_cookie(
        COOKIE,
        session_cookie(ctx, row["id"], row["token"]),
        max_age=SESSION_TTL,
        path="/",
        httponly=True,
        samesite="Strict",
    )
    return response


def redirect(location: str) -> Response:
    """A 303 to a path on this server."""
    return secure(Response(status=303, headers={"Location": location}))


def without_token(request: Request) -> str:
    """The request's path and query, without ``token``."""
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return request.path + ("?" + urlencode(rest) if rest else "")


def safe_next(value: str) -> str:
    """``value`` if it is a path on this server, else ``/``."""
    parts = urlsplit(value)
    ok = value.startswith("/") and not value.startswith("//") and not parts.netloc
    return value if ok and "\\" not in value else "/"


def signin_page(next_path: str, error: str | None = None, status: int = 401) -> Response:
    """The sign-in form (the token goes in a POST body, never in a URL)."""
    message = h('<p class="error" role="alert">{}</p>', error) if error else Html("")
    body = h(
        "{message}<p>Paste the token <code>picsellia-tf serve</code> printed, or open the URL "
        "it printed.</p>"
        '<form method="post" action="/signin" class="signin">'
        '<input type="hidden" name="next" value="{next}">'
        '<label>Token <input type="password" name="token" autocomplete="off" required '
        'autofocus></label> <button type="submit">Sign in</button></form>',
        message=message,
        next=next_path,
    )
    return html_response(page("Sign in", body), status)


PageHandler = Callable[..., Response]


def dashboard_page(handler: Callable[..., Html | Response]) -> PageHandler:
    """A GET page: ``?token=`` signs in and redirects without it; no session shows the
    sign-in form; ``handler(ctx, user, **args)`` answers; a PageError becomes an HTML page."""

    @functools.wraps(handler)
    def run(ctx: Ctx, **args: Any) -> Response:
        request = ctx.request
        if "token" in request.args:
            row = token_user(ctx, request.args["token"])
            if row is None:
                return signin_page(without_token(request), "That token is not valid.")
            return signed_in(redirect(without_token(request)), ctx, row)
        user = session_user(ctx)
        if user is None:
            return signin_page(without_token(request))
        try:
            result = handler(ctx, user, **args)
        except PageError as exc:
            return error_page(exc, user)
        return result if isinstance(result, Response) else html_response(result)

    return run


def error_page(exc: PageError, user: User | None) -> Response:
    """An HTML error page."""
    body = h('<p class="error">{}</p><p><a href="/">All projects</a></p>', exc.message)
    title = "Not found" if exc.status == 404 else "Error"
    return html_response(page(title, body, user=user.email if user else None), exc.status)


def same_origin(ctx: Ctx) -> bool:
    """Whether a form POST comes from a page of this server (or says nothing of its origin):
    its Origin is the server's public URL (behind a proxy, ``serve --public-url``: the
    request's Host is then the proxy's upstream) or the URL the request was sent to."""
    request = ctx.request
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    origin = origin.rstrip("/")
    return origin in (_origin_of(ctx.public_url), request.host_url.rstrip("/"))


def _origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (an Origin header has no path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def signin(ctx: Ctx) -> Response:
    """POST /signin: the form's token for a session cookie, then back to ``next``."""
    request = ctx.request
    next_path = safe_next(request.form.get("next", "/"))
    if not same_origin(ctx):
        return signin_page(next_path, "Sign-in must come from this server's own form.", 403)
    row = token_user(ctx, request.form.get("token", ""))
    if row is None:
        return signin_page(next_path, "That token is not valid.")
    return signed_in(redirect(next_path), ctx, row)


def signout(ctx: Ctx) -> Response:
    """POST /signout: forget the session cookie."""
    if not same_origin(ctx):
        return html_response(page("Error", h("<p>Sign-out must come from this server.</p>")), 403)
    response = redirect("/")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
    return response
