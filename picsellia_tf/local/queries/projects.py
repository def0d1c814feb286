"""Projects: rows, their settings (stored as JSON columns), the models attached to them."""

from __future__ import annotations

import sqlite3
from typing import Any

from picsellia_tf.local.store import dumps, loads, new_id, now

SETTINGS = frozenset({"labels", "team", "image_qa", "shape_qa", "automation"})
"""The JSON columns of a project."""


def create(
    db: sqlite3.Connection,
    org: str,
    name: str,
    kind: str,
    description: str,
    private: bool,
    dataset_id: str | None,
    labels: list[Any],
    team: list[Any],
) -> str:
    """A new project's id (no Q&A, no automation)."""
    project_id = new_id()
    db.execute(
        "INSERT INTO projects (id, org_id, name, type, description, private, dataset_id, labels, "
        "team, image_qa, shape_qa, created) VALUES (?,?,?,?,?,?,?,?,?,'[]','[]',?)",
        (project_id, org, name, kind, description, private, dataset_id,
         dumps(labels), dumps(team), now()),
    )  # fmt: skip
    return project_id


def of_org(db: sqlite3.Connection, org: str) -> list[Any]:
    """The organisation's projects (``id``, ``name``), oldest first."""
    return db.execute(
        "SELECT id, name FROM projects WHERE org_id = ? ORDER BY n", (org,)
    ).fetchall()


def label_names(project: Any) -> list[str]:
    """A project row's label names, in order (the dashboard draws label ``i`` in colour
    ``label_color(i)``)."""
    return [label["label_name"] for label in loads(project["labels"])]


def store(db: sqlite3.Connection, project_id: str, column: str, value: Any) -> None:
    """Set one of a project's JSON ``SETTINGS`` to ``value``."""
    if column not in SETTINGS:
        raise ValueError(f"not a project setting: {column!r}")
    db.execute(f"UPDATE projects SET {column} = ? WHERE id = ?", (dumps(value), project_id))


def models(db: sqlite3.Connection, project_id: str) -> list[Any]:
    """The models attached to a project (``id``, ``name``), in the order attached."""
    return db.execute(
        "SELECT models.id, models.name FROM project_models JOIN models "
        "ON models.id = project_models.model_id WHERE project_id = ? ORDER BY project_models.n",
        (project_id,),
    ).fetchall()


def has_model(db: sqlite3.Connection, project_id: str, model_id: str) -> bool:
    """Whether a model is attached to a project."""
    row = db.execute(
        "SELECT 1 FROM project_models WHERE project_id = ? AND model_id = ?",
        (project_id, model_id),
    ).fetchone()
    return row is not None


def attach(db: sqlite3.Connection, project_id: str, model_id: str) -> None:
    """Attach a model to a project (nothing if it is)."""
    db.execute(
        "INSERT OR IGNORE INTO project_models (project_id, model_id) VALUES (?, ?)",
        (project_id, model_id),
    )


def detach(db: sqlite3.Connection, project_id: str, model_id: str) -> bool:
    """Detach a model from a project, dropping the project's automation with it; whether it
    was attached."""
    cursor = db.execute(
        "DELETE FROM project_models WHERE project_id = ? AND model_id = ?", (project_id, model_id)
    )
    if cursor.rowcount == 0:
        return False
    db.execute(
        "UPDATE projects SET automation = NULL WHERE id = ? "
        "AND json_extract(automation, '$.model_id') = ?",
        (project_id, model_id),
    )
    return True


def delete(db: sqlite3.Connection, project_id: str) -> None:
    """Delete a project's rows: its annotations, its model links, the project (its experiment
    versions go through :func:`picsellia_tf.local.queries.experiments.delete`)."""
    for table in ("annotations", "project_models"):
        db.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
    db.execute("DELETE FROM projects WHERE id = ?", (project_id,))
