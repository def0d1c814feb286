"""Models: rows, their training counter, the projects they are attached to."""

from __future__ import annotations

import sqlite3
from typing import Any

from picsellia_tf.local.store import new_id, now

EDITABLE = frozenset({"name", "description", "github_link", "paper_link", "private", "tags"})
"""The columns :func:`update` may set."""


def create(db: sqlite3.Connection, org: str, name: str, kind: str) -> str:
    """A new model's id."""
    model_id = new_id()
    db.execute(
        "INSERT INTO models (id, org_id, name, type, created) VALUES (?,?,?,?,?)",
        (model_id, org, name, kind, now()),
    )
    return model_id


def of_org(db: sqlite3.Connection, org: str) -> list[Any]:
    """The organisation's models, oldest first."""
    return db.execute("SELECT * FROM models WHERE org_id = ? ORDER BY n", (org,)).fetchall()


def projects(db: sqlite3.Connection, model_id: str) -> list[Any]:
    """The projects a model is attached to (``id``, ``name``, ``type``), in the order
    attached."""
    return db.execute(
        "SELECT projects.id, projects.name, projects.type FROM project_models JOIN projects "
        "ON projects.id = project_models.project_id WHERE model_id = ? ORDER BY project_models.n",
        (model_id,),
    ).fetchall()


def has_versions(db: sqlite3.Connection, model_id: str) -> bool:
    """Whether a model has an experiment version."""
    row = db.execute("SELECT 1 FROM experiments WHERE model_id = ?", (model_id,)).fetchone()
    return row is not None


def update(db: sqlite3.Connection, model_id: str, changes: dict[str, Any]) -> None:
    """Set columns of a model (names in ``EDITABLE``, values as stored)."""
    unknown = set(changes) - EDITABLE
    if unknown or not changes:
        raise ValueError(f"not model columns to update: {sorted(unknown) or 'none'}")
    assignments = ", ".join(f"{column} = ?" for column in changes)
    db.execute(f"UPDATE models SET {assignments} WHERE id = ?", (*changes.values(), model_id))


def next_training_id(db: sqlite3.Connection, model_id: str) -> int:
    """The model's next version number, counted (1, 2, ...; never reused)."""
    db.execute(
        "UPDATE models SET last_training_id = last_training_id + 1 WHERE id = ?", (model_id,)
    )
    row = db.execute("SELECT last_training_id FROM models WHERE id = ?", (model_id,))
    return int(row.fetchone()[0])


def delete(db: sqlite3.Connection, model_id: str) -> None:
    """Delete a model's row, detach it everywhere and drop the automations using it (its
    experiment versions go through :func:`picsellia_tf.local.queries.experiments.delete`)."""
    db.execute("DELETE FROM project_models WHERE model_id = ?", (model_id,))
    db.execute(
        "UPDATE projects SET automation = NULL WHERE json_extract(automation, '$.model_id') = ?",
        (model_id,),
    )
    db.execute("DELETE FROM models WHERE id = ?", (model_id,))
