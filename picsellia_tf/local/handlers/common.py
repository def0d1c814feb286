"""What several sections' handlers share (no handler here): names free in the organisation,
renaming, finding an experiment version."""

from __future__ import annotations

import sqlite3
from typing import Any

from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx
from picsellia_tf.local.validate import require, text
from picsellia_tf.local.web import ApiError, bad_request, conflict, not_found


def name_free(ctx: Ctx, table: str, name: str, what: str, own_id: str | None = None) -> None:
    """409 if another ``table`` row of the organisation is called ``name``."""
    found = q.org.named(ctx.db, table, ctx.org, name)
    if found is not None and found != own_id:
        raise conflict(f"{what} name '{name}' is already taken")


def rename_or_describe(ctx: Ctx, table: str, item_id: str, name_field: str, what: str) -> None:
    """Apply the body's ``name_field`` and/or ``description`` (at least one) to a row."""
    body = ctx.body
    if name_field not in body and "description" not in body:
        raise bad_request(f"nothing to update: give '{name_field}' and/or 'description'")
    if name_field in body:
        name = text(body, name_field)
        name_free(ctx, table, name, what, own_id=item_id)
        q.org.rename(ctx.db, table, item_id, name)
    if "description" in body:
        q.org.describe(ctx.db, table, item_id, require(body, "description", str))


def _version_args(ctx: Ctx) -> dict[str, Any]:
    """The JSON body; for a GET without one (``curl``), the query string: ``?training_id=1
    &network_id=...`` (a local extension, as are the read routes that use it)."""
    args = ctx.request.args
    if ctx.request.method != "GET" or ctx.body or not args:
        return ctx.body
    found: dict[str, Any] = dict(args)
    if "training_id" in found:
        try:
            found["training_id"] = int(found["training_id"])
        except ValueError:
            raise bad_request(
                f"query parameter 'training_id': expected an int, got {found['training_id']!r}"
            ) from None
    return found


def find_experiment(ctx: Ctx) -> Any:
    """The version named by the body's (or query's) ``training_id`` and ``network_id``, else a
    404."""
    body = _version_args(ctx)
    training_id = require(body, "training_id", int)
    network_id = require(body, "network_id", str)
    row = q.experiments.find(ctx.db, ctx.org, network_id, training_id)
    if row is None:
        raise not_found(f"experiment version {training_id} of model '{network_id}' not found")
    return row


def version_missing(project_id: str, model_id: str, training_id: int) -> ApiError:
    """The 404 of a version not in the project."""
    return not_found(
        f"experiment version {training_id} of model '{model_id}' not found "
        f"in project '{project_id}'"
    )


def require_version(
    db: sqlite3.Connection, project_id: str, model_id: str, training_id: int
) -> None:
    """404 unless version ``training_id`` of the model exists in the project."""
    if not q.experiments.exists(db, project_id, model_id, training_id):
        raise version_missing(project_id, model_id, training_id)
