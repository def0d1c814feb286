"""Datasets: rows, sizes, the projects using them."""

from __future__ import annotations

import sqlite3
from typing import Any

from picsellia_tf.local.store import new_id, now


def create(
    db: sqlite3.Connection, org: str, name: str, description: str, private: bool, created_by: str
) -> str:
    """A new, empty dataset's id."""
    dataset_id = new_id()
    db.execute(
        "INSERT INTO datasets (id, org_id, name, description, private, created_by, created) "
        "VALUES (?,?,?,?,?,?,?)",
        (dataset_id, org, name, description, private, created_by, now()),
    )
    return dataset_id


def of_org(db: sqlite3.Connection, org: str) -> list[Any]:
    """The organisation's datasets, oldest first."""
    return db.execute("SELECT * FROM datasets WHERE org_id = ? ORDER BY n", (org,)).fetchall()


def get(db: sqlite3.Connection, dataset_id: str) -> Any:
    """A dataset's row, or None."""
    return db.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()


def size(db: sqlite3.Connection, dataset_id: str | None) -> int:
    """How many raw data a dataset holds (0 for none)."""
    if dataset_id is None:
        return 0
    row = db.execute("SELECT COUNT(*) FROM raw_data WHERE dataset_id = ?", (dataset_id,))
    return int(row.fetchone()[0])


def projects(db: sqlite3.Connection, dataset_id: str) -> list[Any]:
    """The projects using a dataset (``id``, ``name``, ``type``), oldest first."""
    return db.execute(
        "SELECT id, name, type FROM projects WHERE dataset_id = ? ORDER BY n", (dataset_id,)
    ).fetchall()


def folder(dataset_id: str) -> str:
    """The storage folder of a dataset's files."""
    return f"datasets/{dataset_id}"


def delete(db: sqlite3.Connection, dataset_id: str) -> None:
    """Delete a dataset's rows: its raw data, their annotations, the dataset."""
    db.execute(
        "DELETE FROM annotations WHERE raw_id IN (SELECT id FROM raw_data WHERE dataset_id = ?)",
        (dataset_id,),
    )
    db.execute("DELETE FROM raw_data WHERE dataset_id = ?", (dataset_id,))
    db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
