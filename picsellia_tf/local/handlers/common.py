"""Queries and formats several sections share."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from picsellia_tf.local.app import Ctx
from picsellia_tf.local.validate import indexed, require, text
from picsellia_tf.local.web import bad_request, conflict


def name_free(ctx: Ctx, table: str, name: str, what: str, own_id: str | None = None) -> None:
    """409 if another ``table`` row of the organisation is called ``name``."""
    row = ctx.db.execute(
        f"SELECT id FROM {table} WHERE org_id = ? AND name = ?", (ctx.org, name)
    ).fetchone()
    if row is not None and row["id"] != own_id:
        raise conflict(f"{what} name '{name}' is already taken")


def rename_or_describe(ctx: Ctx, table: str, item_id: str, name_field: str, what: str) -> None:
    """Apply the body's ``name_field`` and/or ``description`` (at least one) to a row."""
    body = ctx.body
    if name_field not in body and "description" not in body:
        raise bad_request(f"nothing to update: give '{name_field}' and/or 'description'")
    if name_field in body:
        name = text(body, name_field)
        name_free(ctx, table, name, what, own_id=item_id)
        ctx.db.execute(f"UPDATE {table} SET name = ? WHERE id = ?", (name, item_id))
    if "description" in body:
        description = require(body, "description", str)
        ctx.db.execute(f"UPDATE {table} SET description = ? WHERE id = ?", (description, item_id))


def dataset_size(db: sqlite3.Connection, dataset_id: str | None) -> int:
    """How many raw data a dataset holds (0 for none)."""
    if dataset_id is None:
        return 0
    return int(
        db.execute("SELECT COUNT(*) FROM raw_data WHERE dataset_id = ?", (dataset_id,)).fetchone()[
            0
        ]
    )


def projects_of(db: sqlite3.Connection, column: str, value: str, with_type: bool) -> dict[str, Any]:
    """The projects whose ``column`` is ``value`` (dataset) as the wire's ``used_in``."""
    rows = db.execute(
        f"SELECT id, name, type FROM projects WHERE {column} = ? ORDER BY n", (value,)
    ).fetchall()
    return indexed((project_ref(row, with_type) for row in rows), base=0)


def project_ref(row: Any, with_type: bool) -> dict[str, Any]:
    """``{"project_id", "project_name"[, "project_type"]}``."""
    ref = {"project_id": row["id"], "project_name": row["name"]}
    if with_type:
        ref["project_type"] = row["type"]
    return ref


def date(timestamp: float, fmt: str) -> str:
    """A stored time as a date string (``%d-%m-%Y`` or ``%m-%d-%Y``), local time."""
    return time.strftime(fmt, time.localtime(timestamp))


def iso(timestamp: float) -> str:
    """A stored time as ISO-8601 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
