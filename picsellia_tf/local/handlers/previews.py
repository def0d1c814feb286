"""Previews: presigned uploads, recording uploaded images, listing them."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import find_experiment, require_version
from picsellia_tf.local.parse import preview_parts
from picsellia_tf.local.validate import check, indexed, items, require, shown
from picsellia_tf.local.web import bad_request


def post_url(ctx: Ctx) -> dict[str, Any]:
    """A presigned POST for one preview image of an existing version, nested under ``url``
    as the released SDK reads it: ``{"url": {"url", "fields"}}``. The SDK's ``bucket_model``
    field is accepted and ignored (previews have one bucket here)."""
    object_name = require(ctx.body, "object_name", str)
    project_id, model_id, training_id = preview_parts(object_name, "object_name")
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    require_version(ctx.db, project_id, model_id, training_id)
    return {"url": ctx.storage.post_form(ctx.public_url, object_name)}


def post_preview(ctx: Ctx) -> dict[str, Any]:
    """Record uploaded preview images (each once)."""
    experiment = find_experiment(ctx)
    prefix = q.experiments.folder(experiment) + "/"
    names = []
    for item_name, value in items(require(ctx.body, "urls", object), "urls"):
        object_name = check(value, str, item_name)
        preview_parts(object_name, item_name)
        if not object_name.startswith(prefix):
            raise bad_request(f"field '{item_name}': {shown(object_name)} is not under {prefix!r}")
        if not ctx.storage.exists(object_name):
            raise bad_request(f"field '{item_name}': {shown(object_name)} has not been uploaded")
        names.append(object_name)
    q.experiments.add_previews(ctx.db, experiment["n"], names)
    return {"message": "Preview saved"}


def get_previews(ctx: Ctx) -> dict[str, Any]:
    """The version's previews with signed download URLs, in the order first posted."""
    experiment = find_experiment(ctx)
    names = q.experiments.previews(ctx.db, experiment["n"])
    previews = (answers.preview(name, ctx.object_url(name)) for name in names)
    return {"previews": indexed(previews, base=0)}


ROUTES = [
    Route("GET", "/sdk/get_post_url_preview", post_url),
    Route("POST", "/sdk/post_preview", post_preview, status=201),
    Route("GET", "/sdk/get_previews", get_previews),
]
