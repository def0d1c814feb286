"""HTML building with escaping by default: every value is escaped unless it is :class:`Html`."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode


class Html(str):
    """Markup already safe to put in a page (built by :func:`h` or :func:`join`)."""


def esc(value: Any) -> Html:
    """``value`` as text in a page: escaped, unless it already is :class:`Html`."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def h(template: str, *args: Any, **kwargs: Any) -> Html:
    """``template.format(...)`` with every argument escaped (``Html`` arguments kept)."""
    return Html(template.format(*(esc(a) for a in args), **{k: esc(v) for k, v in kwargs.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """The parts (escaped unless ``Html``) one after the other."""
    return Html(sep.join(esc(p) for p in parts))


def path(*segments: Any, **query: Any) -> str:
    """A dashboard path from URL-quoted segments, with an optional query (lists repeat)."""
    text = "/" + "/".join(quote(str(s), safe="") for s in segments)
    pairs = [
        (k, v)
        for k, vs in query.items()
        if vs is not None
        for v in (vs if isinstance(vs, list | tuple) else [vs])
    ]
    return text + ("?" + urlencode(pairs) if pairs else "")


def number(value: float | None) -> str:
    """A metric value, short: 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def when(timestamp: float | None) -> str:
    """A stored time, as local date and time to the minute."""
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def table(head: Iterable[Any], rows: Iterable[Iterable[Any]], cls: str = "") -> Html:
    """A ``<table>`` with a header row."""
    header = join(h('<th scope="col">{}</th>', c) for c in head)
    body = join(h("<tr>{}</tr>", join(h("<td>{}</td>", c) for c in row)) for row in rows)
    return h(
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', cls, header, body
    )


def swatch(color: str) -> Html:
    """A small square of ``color`` (SVG, as inline styles are not allowed by the page CSP)."""
    return h(
        '<svg class="swatch" width="10" height="10" aria-hidden="true">'
        '<rect width="10" height="10" fill="{}"/></svg>',
        color,
    )


def page(
    title: str,
    body: Html,
    *,
    user: str | None = None,
    crumbs: Html | None = None,
    scripts: tuple[str, ...] = (),
) -> Html:
    """A whole page: head (our CSS, favicon, scripts), header with sign-out, ``body``."""
    script_tags = join(h('<script src="/static/{}" defer></script>', s) for s in scripts)
    account = (
        h(
            '<form method="post" action="/signout" class="signout"><span>{}</span> '
            '<button type="submit">Sign out</button></form>',
            user,
        )
        if user
        else Html("")
    )
    return h(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} · picsellia_tf</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/dashboard.css">{scripts}</head>'
        '<body><header><a class="home" href="/">picsellia_tf · local platform</a>'
        "<nav>{crumbs}</nav>{account}</header><main><h1>{title}</h1>{body}</main></body></html>",
        title=title,
        scripts=script_tags,
        crumbs=crumbs or Html(""),
        account=account,
        body=body,
    )
