"""Experiment versions (a model's trainings in a project) with their logs and previews."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from picsellia_tf.local.store import now

LogRow = tuple[int, str, int, float, float | None]
"""(version ``n``, tag, step, value, wall time)."""


def create(db: sqlite3.Connection, model_id: str, project_id: str, training_id: int) -> None:
    """Record a new version."""
    db.execute(
        "INSERT INTO experiments (model_id, project_id, training_id, created) VALUES (?,?,?,?)",
        (model_id, project_id, training_id, now()),
    )


def find(db: sqlite3.Connection, org: str, model_id: str, training_id: int) -> Any:
    """Version ``training_id`` of a model of organisation ``org``, or None."""
    return db.execute(
        "SELECT experiments.* FROM experiments JOIN models ON models.id = experiments.model_id "
        "WHERE model_id = ? AND training_id = ? AND models.org_id = ?",
        (model_id, training_id, org),
    ).fetchone()


def exists(db: sqlite3.Connection, project_id: str, model_id: str, training_id: int) -> bool:
    """Whether version ``training_id`` of a model exists in a project."""
    row = db.execute(
        "SELECT 1 FROM experiments WHERE project_id = ? AND model_id = ? AND training_id = ?",
        (project_id, model_id, training_id),
    ).fetchone()
    return row is not None


def of_model(db: sqlite3.Connection, model_id: str) -> list[Any]:
    """A model's versions, by training id."""
    return db.execute(
        "SELECT * FROM experiments WHERE model_id = ? ORDER BY training_id", (model_id,)
    ).fetchall()


def folder(row: Any) -> str:
    """The storage folder of a version's files (``<project>/<model>/<training id>``)."""
    return f"{row['project_id']}/{row['model_id']}/{row['training_id']}"


def delete(
    db: sqlite3.Connection,
    *,
    project_id: str | None = None,
    model_id: str | None = None,
    training_id: int | None = None,
) -> list[str]:
    """Delete the versions matching every given filter, with their logs and previews; their
    storage folders (for the caller to discard)."""
    filters = {"project_id": project_id, "model_id": model_id, "training_id": training_id}
    given = {column: value for column, value in filters.items() if value is not None}
    if not given:
        raise ValueError("delete: give at least one of project_id, model_id, training_id")
    where = " AND ".join(f"{column} = ?" for column in given)
    rows = db.execute(f"SELECT * FROM experiments WHERE {where}", tuple(given.values())).fetchall()
    for row in rows:
        for table in ("logs", "previews"):
            db.execute(f"DELETE FROM {table} WHERE experiment = ?", (row["n"],))
        db.execute("DELETE FROM experiments WHERE n = ?", (row["n"],))
    return [folder(row) for row in rows]


def put_logs(db: sqlite3.Connection, rows: Iterable[LogRow]) -> None:
    """Store log points, each replacing the point of its (version, tag, step)."""
    db.executemany("INSERT OR REPLACE INTO logs VALUES (?,?,?,?,?)", rows)


def logs(db: sqlite3.Connection, experiment: int) -> Iterable[Any]:
    """A version's points (``tag``, ``step``, ``value``, ``wall_time``) by tag, then step,
    read as they are iterated."""
    return db.execute(
        "SELECT tag, step, value, wall_time FROM logs WHERE experiment = ? ORDER BY tag, step",
        (experiment,),
    )


def add_previews(db: sqlite3.Connection, experiment: int, object_names: Iterable[str]) -> None:
    """Record a version's uploaded preview images (each once)."""
    db.executemany(
        "INSERT OR IGNORE INTO previews (experiment, object_name) VALUES (?, ?)",
        ((experiment, name) for name in object_names),
    )


def previews(db: sqlite3.Connection, experiment: int) -> list[str]:
    """A version's preview object names, in the order first posted."""
    rows = db.execute(
        "SELECT object_name FROM previews WHERE experiment = ? ORDER BY n", (experiment,)
    ).fetchall()
    return [row[0] for row in rows]
