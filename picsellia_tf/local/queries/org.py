"""What every organisation-owned resource (project, dataset, model) shares: lookup by id or
name, renaming, describing."""

from __future__ import annotations

import sqlite3
from typing import Any

TABLES = frozenset({"projects", "datasets", "models"})


def _table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"not an organisation's table: {table!r}")
    return table


def owned(db: sqlite3.Connection, table: str, org: str, item_id: str) -> Any:
    """The row of ``table`` with ``item_id`` in organisation ``org``, or None."""
    return db.execute(
        f"SELECT * FROM {_table(table)} WHERE id = ? AND org_id = ?", (item_id, org)
    ).fetchone()


def named(db: sqlite3.Connection, table: str, org: str, name: str) -> str | None:
    """The id of the ``table`` row of ``org`` called ``name``, or None."""
    row = db.execute(
        f"SELECT id FROM {_table(table)} WHERE org_id = ? AND name = ?", (org, name)
    ).fetchone()
    return None if row is None else str(row["id"])


def rename(db: sqlite3.Connection, table: str, item_id: str, name: str) -> None:
    """Set a row's name."""
    db.execute(f"UPDATE {_table(table)} SET name = ? WHERE id = ?", (name, item_id))


def describe(db: sqlite3.Connection, table: str, item_id: str, description: str) -> None:
    """Set a row's description."""
    db.execute(f"UPDATE {_table(table)} SET description = ? WHERE id = ?", (description, item_id))
