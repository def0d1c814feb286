"""The charts' JSON (``/ui/series``, ``/ui/stamp``) and the dashboard's static files."""

from __future__ import annotations

import mimetypes
import threading
import weakref
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

from picsellia_tf.local.app import Ctx
from picsellia_tf.local.dashboard import queries, series
from picsellia_tf.local.dashboard.pages import split_ref
from picsellia_tf.local.dashboard.web import PageError, secure, session_user
from picsellia_tf.local.store import Store
from picsellia_tf.local.web import json_response

STATIC = Path(__file__).with_name("static")
MAX_VERSIONS = 20
_CACHES: weakref.WeakKeyDictionary[Store, series.BucketCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache(store: Store) -> series.BucketCache:
    """The bucket cache of one data folder's database."""
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = series.BucketCache()
        return cache


def _versions(ctx: Ctx) -> list[queries.Version] | Response:
    user = session_user(ctx)
    if user is None:
        return secure(json_response({"error": "not signed in"}, 401))
    refs = ctx.request.args.getlist("v")
    if not 0 < len(refs) <= MAX_VERSIONS:
        return secure(json_response({"error": f"give 1 to {MAX_VERSIONS} 'v' arguments"}, 400))
    try:
        return [queries.version(ctx.db, user.org_id, *split_ref(ref)) for ref in refs]
    except PageError as exc:
        return secure(json_response({"error": exc.message}, exc.status))


def stamp(ctx: Ctx) -> Response:
    """``{"stamp"}``: changes when any of the versions gains or changes points."""
    found = _versions(ctx)
    if isinstance(found, Response):
        return found
    return secure(json_response({"stamp": series.stamp(ctx.db, [v.n for v in found])}))


def series_json(ctx: Ctx) -> Response:
    """Every chart of the versions ``v``: families of series, downsampled to ``width``."""
    found = _versions(ctx)
    if isinstance(found, Response):
        return found
    buckets = series.clamp_buckets(ctx.request.args.get("width"))
    several = len(found) > 1
    cache = _cache(ctx.store)
    charts: dict[str, dict[str, Any]] = {}
    per_version = [(v, {i.tag: i for i in series.tag_infos(ctx.db, v.n)}) for v in found]
    all_tags = sorted({tag for _, infos in per_version for tag in infos})
    for fam in series.families(all_tags):
        drawn: list[dict[str, Any]] = []
        for v, infos in per_version:
            for tag in fam.tags:
                if tag in infos:
                    item = series.points(ctx.db, v.n, infos[tag], buckets, cache, (v.created,))
                    item["version"] = v.ref
                    item["label"] = f"{v.label} · {tag}" if several else tag
                    drawn.append(item)
        charts[fam.key] = {
            "key": fam.key,
            "section": fam.section,
            "title": fam.title,
            "series": drawn,
        }
    body = {
        "stamp": series.stamp(ctx.db, [v.n for v in found]),
        "sections": series.SECTIONS,
        "versions": [{"ref": v.ref, "label": v.label} for v in found],
        "charts": list(charts.values()),
    }
    return secure(json_response(body))


_STATIC_NAMES = frozenset(p.name for p in STATIC.iterdir() if p.is_file())


def static(ctx: Ctx, name: str) -> Response:
    """One of the dashboard's own CSS, JavaScript or icon files."""
    file = STATIC / name
    # only the files shipped: a name is looked up, never opened (a 300-character name was an
    # OSError, a 500)
    if name not in _STATIC_NAMES:
        return secure(json_response({"error": f"no static file {name!r}"}, 404))
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = Response(file.read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = "max-age=300"
    return secure(response, cache=True)
