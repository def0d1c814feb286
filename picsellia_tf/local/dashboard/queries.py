"""The dashboard's reads, each scoped to the signed-in user's organisation (those the API
shares are in :mod:`picsellia_tf.local.queries`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from picsellia_tf.local import queries as q
from picsellia_tf.local.dashboard.web import not_found


@dataclass(frozen=True)
class Version:
    """One experiment version and the names around it."""

    n: int
    model_id: str
    model_name: str
    training_id: int
    project_id: str
    project_name: str
    created: float

    @property
    def label(self) -> str:
        """``<model> v<training id>``."""
        return f"{self.model_name} v{self.training_id}"

    @property
    def ref(self) -> str:
        """``<model id>:<training id>``, as the compare page's ``v`` argument."""
        return f"{self.model_id}:{self.training_id}"


def project(db: sqlite3.Connection, org: str, project_id: str) -> Any:
    """The organisation's project row, else a 404 page."""
    row = q.org.owned(db, "projects", org, project_id)
    if row is None:
        raise not_found(f"project '{project_id}'")
    return row


def projects(db: sqlite3.Connection, org: str) -> list[dict[str, Any]]:
    """The organisation's projects with dataset, models and annotation progress."""
    rows = db.execute(
        "SELECT p.*, d.name AS dataset_name, "
        "(SELECT COUNT(*) FROM raw_data r WHERE r.dataset_id = p.dataset_id) AS size, "
        "(SELECT COUNT(*) FROM annotations a WHERE a.project_id = p.id) AS annotated "
        "FROM projects p LEFT JOIN datasets d ON d.id = p.dataset_id "
        "WHERE p.org_id = ? ORDER BY p.n",
        (org,),
    ).fetchall()
    return [
        {
            "row": row,
            "labels": q.projects.label_names(row),
            "models": [m["name"] for m in q.projects.models(db, row["id"])],
        }
        for row in rows
    ]


def _version(row: Any) -> Version:
    return Version(
        row["n"],
        row["model_id"],
        row["model_name"],
        row["training_id"],
        row["project_id"],
        row["project_name"],
        row["created"],
    )


# The SELECT of one version with its model and project names (callers add WHERE/ORDER BY).
VERSION_SELECT = (
    "SELECT e.n, e.model_id, m.name AS model_name, e.training_id, e.project_id, "
    "p.name AS project_name, e.created FROM experiments e "
    "JOIN models m ON m.id = e.model_id JOIN projects p ON p.id = e.project_id "
)


def version(db: sqlite3.Connection, org: str, model_id: str, training_id: int) -> Version:
    """The organisation's experiment version, else a 404 page."""
    row = db.execute(
        VERSION_SELECT + "WHERE e.model_id = ? AND e.training_id = ? AND m.org_id = ?",
        (model_id, training_id, org),
    ).fetchone()
    if row is None:
        raise not_found(f"experiment version {training_id} of model '{model_id}'")
    return _version(row)


def versions(db: sqlite3.Connection, project_id: str) -> list[dict[str, Any]]:
    """A project's versions, newest first, with their point count and last update."""
    rows = db.execute(
        VERSION_SELECT + "WHERE e.project_id = ? ORDER BY e.n DESC", (project_id,)
    ).fetchall()
    result = []
    for row in rows:
        count, last = db.execute(
            "SELECT COUNT(*), MAX(wall_time) FROM logs WHERE experiment = ?", (row["n"],)
        ).fetchone()
        result.append({"version": _version(row), "points": count, "updated": last})
    return result
