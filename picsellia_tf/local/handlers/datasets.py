"""Datasets: create, list, info, update, delete."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import (
    dataset_size,
    name_free,
    projects_of,
    rename_or_describe,
)
from picsellia_tf.local.store import new_id, now
from picsellia_tf.local.validate import indexed, optional, text
from picsellia_tf.local.web import conflict


def create_dataset(ctx: Ctx) -> dict[str, Any]:
    """A new, empty dataset."""
    body = ctx.body
    name = text(body, "dataset_name")
    description = optional(body, "description", str, "")
    private = optional(body, "private", bool, True)
    name_free(ctx, "datasets", name, "dataset")
    dataset_id = new_id()
    ctx.db.execute(
        "INSERT INTO datasets (id, org_id, name, description, private, created_by, created) "
        "VALUES (?,?,?,?,?,?,?)",
        (dataset_id, ctx.org, name, description, private, ctx.user.username, now()),
    )
    return {"dataset_id": dataset_id}


def dataset_list(ctx: Ctx) -> dict[str, Any]:
    """Every dataset of the organisation, keyed from "0"."""
    rows = ctx.db.execute(
        "SELECT * FROM datasets WHERE org_id = ? ORDER BY n", (ctx.org,)
    ).fetchall()
    return indexed(
        (
            {
                "dataset_id": row["id"],
                "dataset_name": row["name"],
                "dataset_size": dataset_size(ctx.db, row["id"]),
                "created_by": row["created_by"],
                "description": row["description"],
                "used_in": projects_of(ctx.db, "dataset_id", row["id"], with_type=True),
            }
            for row in rows
        ),
        base=0,
    )


def dataset_info(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """One dataset."""
    row = ctx.owned("datasets", dataset_id)
    return {
        "dataset_id": row["id"],
        "dataset_name": row["name"],
        "dataset_size": dataset_size(ctx.db, row["id"]),
        "description": row["description"],
        "private": bool(row["private"]),
        "used_in": projects_of(ctx.db, "dataset_id", row["id"], with_type=False),
    }


def update_dataset(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """Rename and/or describe a dataset."""
    ctx.owned("datasets", dataset_id)
    rename_or_describe(ctx, "datasets", dataset_id, "dataset_name", "dataset")
    return {"message": "Info updated"}


def delete_dataset(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """Delete a dataset and its files, unless a project uses it."""
    ctx.owned("datasets", dataset_id)
    used = ctx.db.execute(
        "SELECT name FROM projects WHERE dataset_id = ? ORDER BY n", (dataset_id,)
    ).fetchone()
    if used is not None:
        raise conflict(f"dataset '{dataset_id}' is used by project '{used['name']}'")
    ctx.db.execute(
        "DELETE FROM annotations WHERE raw_id IN (SELECT id FROM raw_data WHERE dataset_id = ?)",
        (dataset_id,),
    )
    ctx.db.execute("DELETE FROM raw_data WHERE dataset_id = ?", (dataset_id,))
    ctx.db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
    ctx.discard(f"datasets/{dataset_id}", tree=True)
    return {"message": "Dataset deleted"}


ROUTES = [
    Route("POST", "/api/v1/create_dataset", create_dataset),
    Route("GET", "/api/v1/dataset_list", dataset_list),
    Route("GET", "/api/v1/dataset_info/<dataset_id>", dataset_info),
    Route("PUT", "/api/v1/dataset_info/<dataset_id>", update_dataset),
    Route("DELETE", "/api/v1/dataset/<dataset_id>", delete_dataset),
]
