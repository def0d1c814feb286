"""Datasets: create, list, info, update, delete."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import name_free, rename_or_describe
from picsellia_tf.local.validate import indexed, optional, text
from picsellia_tf.local.web import conflict


def create_dataset(ctx: Ctx) -> dict[str, Any]:
    """A new, empty dataset."""
    body = ctx.body
    name = text(body, "dataset_name")
    description = optional(body, "description", str, "")
    private = optional(body, "private", bool, True)
    name_free(ctx, "datasets", name, "dataset")
    dataset_id = q.datasets.create(ctx.db, ctx.org, name, description, private, ctx.user.username)
    return {"dataset_id": dataset_id}


def _answer(ctx: Ctx, row: Any, listed: bool) -> dict[str, Any]:
    size = q.datasets.size(ctx.db, row["id"])
    return answers.dataset(row, size, q.datasets.projects(ctx.db, row["id"]), listed=listed)


def dataset_list(ctx: Ctx) -> dict[str, Any]:
    """Every dataset of the organisation, keyed from "0"."""
    rows = q.datasets.of_org(ctx.db, ctx.org)
    return indexed((_answer(ctx, row, listed=True) for row in rows), base=0)


def dataset_info(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """One dataset."""
    return _answer(ctx, ctx.owned("datasets", dataset_id), listed=False)


def update_dataset(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """Rename and/or describe a dataset."""
    ctx.owned("datasets", dataset_id)
    rename_or_describe(ctx, "datasets", dataset_id, "dataset_name", "dataset")
    return {"message": "Info updated"}


def delete_dataset(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """Delete a dataset and its files, unless a project uses it."""
    ctx.owned("datasets", dataset_id)
    users = q.datasets.projects(ctx.db, dataset_id)
    if users:
        raise conflict(f"dataset '{dataset_id}' is used by project '{users[0]['name']}'")
    q.datasets.delete(ctx.db, dataset_id)
    ctx.discard(q.datasets.folder(dataset_id), tree=True)
    return {"message": "Dataset deleted"}


ROUTES = [
    Route("POST", "/api/v1/create_dataset", create_dataset),
    Route("GET", "/api/v1/dataset_list", dataset_list),
    Route("GET", "/api/v1/dataset_info/<dataset_id>", dataset_info),
    Route("PUT", "/api/v1/dataset_info/<dataset_id>", update_dataset),
    Route("DELETE", "/api/v1/dataset/<dataset_id>", delete_dataset),
]
