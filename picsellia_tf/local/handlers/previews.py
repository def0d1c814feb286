"""Previews: presigned uploads, recording uploaded images, listing them."""

from __future__ import annotations

import re
from typing import Any

from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.experiments import find_experiment
from picsellia_tf.local.storage import object_parts
from picsellia_tf.local.validate import check, indexed, items, require, shown
from picsellia_tf.local.web import bad_request, not_found

_FORMAT = "<project_id>/<network_id>/<training_id>/results/<file>"
# as the version's folder is named: ASCII, no sign or 0, within SQLite's integers
_TRAINING_ID = re.compile(r"[1-9][0-9]{0,17}")
VERSION_MISSING = "experiment version {} of model '{}' not found in project '{}'"


def preview_parts(object_name: str, name: str) -> tuple[str, str, int]:
    """(project_id, network_id, training_id) of a preview's object name, else a 400 naming
    the field ``name``."""
    try:
        parts = object_parts(object_name)
    except ValueError as exc:
        raise bad_request(
            f"field '{name}': {shown(object_name)} is not of the form {_FORMAT}: {exc}"
        ) from None
    ok = len(parts) == 5 and parts[3] == "results" and _TRAINING_ID.fullmatch(parts[2])
    if not ok:
        raise bad_request(f"field '{name}': {shown(object_name)} is not of the form {_FORMAT}")
    return parts[0], parts[1], int(parts[2])


def post_url(ctx: Ctx) -> dict[str, Any]:
    """A presigned POST for one preview image of an existing version, nested under ``url``
    as the released SDK reads it: ``{"url": {"url", "fields"}}``. The SDK's ``bucket_model``
    field is accepted and ignored (previews have one bucket here)."""
    object_name = require(ctx.body, "object_name", str)
    project_id, model_id, training_id = preview_parts(object_name, "object_name")
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    row = ctx.db.execute(
        "SELECT 1 FROM experiments WHERE project_id = ? AND model_id = ? AND training_id = ?",
        (project_id, model_id, training_id),
    ).fetchone()
    if row is None:
        raise not_found(VERSION_MISSING.format(training_id, model_id, project_id))
    return {"url": ctx.storage.post_form(ctx.public_url, object_name)}


def post_preview(ctx: Ctx) -> dict[str, Any]:
    """Record uploaded preview images (each once)."""
    experiment = find_experiment(ctx)
    prefix = f"{experiment['project_id']}/{experiment['model_id']}/{experiment['training_id']}/"
    names = []
    for item_name, value in items(require(ctx.body, "urls", object), "urls"):
        object_name = check(value, str, item_name)
        preview_parts(object_name, item_name)
        if not object_name.startswith(prefix):
            raise bad_request(f"field '{item_name}': {shown(object_name)} is not under {prefix!r}")
        if not ctx.storage.exists(object_name):
            raise bad_request(f"field '{item_name}': {shown(object_name)} has not been uploaded")
        names.append(object_name)
    ctx.db.executemany(
        "INSERT OR IGNORE INTO previews (experiment, object_name) VALUES (?, ?)",
        [(experiment["n"], name) for name in names],
    )
    return {"message": "Preview saved"}


def get_previews(ctx: Ctx) -> dict[str, Any]:
    """The version's previews with signed download URLs, in the order first posted."""
    experiment = find_experiment(ctx)
    rows = ctx.db.execute(
        "SELECT object_name FROM previews WHERE experiment = ? ORDER BY n", (experiment["n"],)
    ).fetchall()
    previews = (
        {"object_name": row["object_name"], "url": ctx.object_url(row["object_name"])}
        for row in rows
    )
    return {"previews": indexed(previews, base=0)}


ROUTES = [
    Route("GET", "/sdk/get_post_url_preview", post_url),
    Route("POST", "/sdk/post_preview", post_preview, status=201),
    Route("GET", "/sdk/get_previews", get_previews),
]
