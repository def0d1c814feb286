"""Annotations: one row per annotated image of a project, shapes and Q&A as JSON."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

Record = tuple[str, str, float, str, str]
"""(project id, raw data id, time spent, Q&A JSON, shapes JSON)."""


def upsert(db: sqlite3.Connection, records: Iterable[Record]) -> None:
    """Store each image's annotation, replacing the one it had."""
    db.executemany(
        "INSERT INTO annotations (project_id, raw_id, time_spent, qanda, shapes) "
        "VALUES (?,?,?,?,?) ON CONFLICT (project_id, raw_id) DO UPDATE SET "
        "time_spent = excluded.time_spent, qanda = excluded.qanda, shapes = excluded.shapes",
        records,
    )


def page(db: sqlite3.Connection, project_id: str, start: int, stop: int) -> list[Any]:
    """Annotated images ``start`` to ``stop - 1`` of a project, in the order first uploaded:
    ``raw_id``, ``time_spent``, ``qanda`` and ``shapes`` (JSON text), ``nb_labels``,
    ``filename``."""
    # the page is cut from the index first: OFFSET then skips index entries, not joined rows
    return db.execute(
        "SELECT page.raw_id, page.time_spent, page.qanda, page.shapes, "
        "json_array_length(page.shapes) AS nb_labels, raw_data.filename FROM "
        "(SELECT * FROM annotations WHERE project_id = ? ORDER BY n LIMIT ? OFFSET ?) AS page "
        "JOIN raw_data ON raw_data.id = page.raw_id ORDER BY page.n",
        (project_id, stop - start, start),
    ).fetchall()


def of_project(db: sqlite3.Connection, project_id: str) -> list[Any]:
    """Every annotation of a project (``time_spent``, ``shapes`` JSON), in upload order."""
    return db.execute(
        "SELECT time_spent, shapes FROM annotations WHERE project_id = ? ORDER BY n",
        (project_id,),
    ).fetchall()


def shape_count(db: sqlite3.Connection, project_id: str) -> int:
    """How many shapes a project's annotations hold."""
    row = db.execute(
        "SELECT COALESCE(SUM(json_array_length(shapes)), 0) FROM annotations WHERE project_id = ?",
        (project_id,),
    ).fetchone()
    return int(row[0])
