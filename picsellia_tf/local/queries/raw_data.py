"""Raw data: a dataset's files, by page, id or filename."""

from __future__ import annotations

import sqlite3
from typing import Any

from picsellia_tf.local.store import now


def page(db: sqlite3.Connection, dataset_id: str, start: int, stop: int) -> list[Any]:
    """Raw data ``start`` to ``stop - 1`` of a dataset, in upload order."""
    return db.execute(
        "SELECT * FROM raw_data WHERE dataset_id = ? ORDER BY n LIMIT ? OFFSET ?",
        (dataset_id, stop - start, start),
    ).fetchall()


def by_id(db: sqlite3.Connection, dataset_id: str, raw_id: str) -> Any:
    """The dataset's raw data ``raw_id``, or None."""
    return db.execute(
        "SELECT * FROM raw_data WHERE dataset_id = ? AND id = ?", (dataset_id, raw_id)
    ).fetchone()


def by_filename(db: sqlite3.Connection, dataset_id: str, filename: str) -> Any:
    """The dataset's raw data called ``filename``, or None."""
    return db.execute(
        "SELECT * FROM raw_data WHERE dataset_id = ? AND filename = ?", (dataset_id, filename)
    ).fetchone()


def by_ref(db: sqlite3.Connection, dataset_id: str, ref: str) -> Any:
    """The dataset's raw data whose id is ``ref``, else whose filename is, or None."""
    return db.execute(
        "SELECT * FROM raw_data WHERE dataset_id = ? AND (id = ? OR filename = ?) "
        "ORDER BY id = ? DESC",
        (dataset_id, ref, ref, ref),
    ).fetchone()


def put(
    db: sqlite3.Connection,
    dataset_id: str,
    new_key: str,
    filename: str,
    object_name: str,
    size: int,
    checksum: str,
    shape: list[int] | None,
) -> tuple[Any, str | None]:
    """The row of ``filename`` (created with id ``new_key`` if the dataset has none) pointed
    at ``object_name``, and the object name it had."""
    existing = by_filename(db, dataset_id, filename)
    width, height = shape if shape else (None, None)
    values = (object_name, width, height, size, checksum, now())
    if existing:
        raw_id, old = existing["id"], existing["object_name"]
        db.execute(
            "UPDATE raw_data SET object_name = ?, width = ?, height = ?, size = ?, checksum = ?, "
            "imported = ? WHERE id = ?",
            (*values, raw_id),
        )
    else:
        raw_id, old = new_key, None
        db.execute(
            "INSERT INTO raw_data (id, dataset_id, filename, object_name, width, height, size, "
            "checksum, imported) VALUES (?,?,?,?,?,?,?,?,?)",
            (raw_id, dataset_id, filename, *values),
        )
    return db.execute("SELECT * FROM raw_data WHERE id = ?", (raw_id,)).fetchone(), old


def delete(db: sqlite3.Connection, raw_id: str) -> None:
    """Delete a raw data's row and its annotations."""
    db.execute("DELETE FROM annotations WHERE raw_id = ?", (raw_id,))
    db.execute("DELETE FROM raw_data WHERE id = ?", (raw_id,))
