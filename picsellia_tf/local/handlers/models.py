"""Models: list, infos, update, delete."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import name_free
from picsellia_tf.local.store import dumps
from picsellia_tf.local.validate import check, indexed, text
from picsellia_tf.local.web import bad_request

_EDITABLE = {"description": str, "github_link": str, "paper_link": str, "private": bool}


def models_list(ctx: Ctx) -> dict[str, Any]:
    """The organisation's models, keyed from "0"."""
    return indexed(
        (
            answers.model(
                row,
                q.models.projects(ctx.db, row["id"]),
                q.models.has_versions(ctx.db, row["id"]),
            )
            for row in q.models.of_org(ctx.db, ctx.org)
        ),
        base=0,
    )


def model_infos(ctx: Ctx, model_id: str) -> dict[str, Any]:
    """Everything about one model, with its experiment versions."""
    row = ctx.owned("models", model_id)
    versions = q.experiments.of_model(ctx.db, model_id)
    return answers.model(row, q.models.projects(ctx.db, model_id), bool(versions), versions)


def update_model(ctx: Ctx, model_id: str) -> dict[str, Any]:
    """Change a model's name, description, links, privacy or tags."""
    ctx.owned("models", model_id)
    body = ctx.body
    unknown = sorted(set(body) - set(_EDITABLE) - {"model_name", "tags"})
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(repr(k) for k in unknown)}")
    if not body:
        raise bad_request("nothing to update")
    changes: dict[str, Any] = {}
    if "model_name" in body:
        changes["name"] = text(body, "model_name")
        name_free(ctx, "models", changes["name"], "model", own_id=model_id)
    for key, kind in _EDITABLE.items():
        if key in body:
            changes[key] = check(body[key], kind, key)
    if "tags" in body:
        tags = check(body["tags"], list, "tags")
        for i, tag in enumerate(tags):
            check(tag, str, f"tags[{i}]")
        changes["tags"] = dumps(tags)
    q.models.update(ctx.db, model_id, changes)
    return {"message": "Model updated"}


def delete_model(ctx: Ctx, model_id: str) -> dict[str, Any]:
    """Delete a model, its experiments, logs and previews; detach it everywhere."""
    ctx.owned("models", model_id)
    ctx.discard(*q.experiments.delete(ctx.db, model_id=model_id), tree=True)
    q.models.delete(ctx.db, model_id)
    return {"message": "Model deleted"}


ROUTES = [
    Route("GET", "/api/v1/models_list", models_list),
    Route("GET", "/api/v1/model_infos/<model_id>", model_infos),
    Route("PUT", "/api/v1/model_infos/<model_id>", update_model),
    Route("DELETE", "/api/v1/delete_model/<model_id>", delete_model),
]
