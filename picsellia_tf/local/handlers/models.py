"""Models: list, infos, update, delete."""

from __future__ import annotations

import sqlite3
from typing import Any

from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import iso, name_free, project_ref
from picsellia_tf.local.store import dumps, loads
from picsellia_tf.local.validate import check, indexed, text
from picsellia_tf.local.web import bad_request

_EDITABLE = {"description": str, "github_link": str, "paper_link": str, "private": bool}


def used_in(db: sqlite3.Connection, model_id: str, with_type: bool) -> dict[str, Any]:
    """The projects a model is attached to, keyed from "0"."""
    rows = db.execute(
        "SELECT projects.id, projects.name, projects.type FROM project_models JOIN projects "
        "ON projects.id = project_models.project_id WHERE model_id = ? ORDER BY project_models.n",
        (model_id,),
    ).fetchall()
    return indexed((project_ref(row, with_type) for row in rows), base=0)


def _has_experiments(db: sqlite3.Connection, model_id: str) -> bool:
    row = db.execute("SELECT 1 FROM experiments WHERE model_id = ?", (model_id,)).fetchone()
    return row is not None


def models_list(ctx: Ctx) -> dict[str, Any]:
    """The organisation's models, keyed from "0"."""
    rows = ctx.db.execute("SELECT * FROM models WHERE org_id = ? ORDER BY n", (ctx.org,))
    return indexed(
        (
            {
                "model_id": row["id"],
                "model_name": row["name"],
                "model_type": row["type"],
                "tags": loads(row["tags"]),
                "used_in": used_in(ctx.db, row["id"], with_type=True),
                "predictable": _has_experiments(ctx.db, row["id"]),
                "trainable": True,
            }
            for row in rows.fetchall()
        ),
        base=0,
    )


def model_infos(ctx: Ctx, model_id: str) -> dict[str, Any]:
    """Everything about one model, with its experiment versions."""
    row = ctx.owned("models", model_id)
    experiments = ctx.db.execute(
        "SELECT * FROM experiments WHERE model_id = ? ORDER BY training_id", (model_id,)
    ).fetchall()
    return {
        "model_id": row["id"],
        "model_name": row["name"],
        "model_type": row["type"],
        "tags": loads(row["tags"]),
        "description": row["description"],
        "private": bool(row["private"]),
        "trainable": True,
        "predicatble": bool(experiments),
        "paper_link": row["paper_link"],
        "github_link": row["github_link"],
        "performances": {},
        "labels": {},
        "used_in": used_in(ctx.db, model_id, with_type=False),
        "experiments": indexed(
            (
                {
                    "training_id": e["training_id"],
                    "project_id": e["project_id"],
                    "created": iso(e["created"]),
                }
                for e in experiments
            ),
            base=0,
        ),  # fmt: skip
    }


def update_model(ctx: Ctx, model_id: str) -> dict[str, Any]:
    """Change a model's name, description, links, privacy or tags."""
    ctx.owned("models", model_id)
    body = ctx.body
    unknown = sorted(set(body) - set(_EDITABLE) - {"model_name", "tags"})
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(repr(k) for k in unknown)}")
    if not body:
        raise bad_request("nothing to update")
    changes: dict[str, Any] = {}
    if "model_name" in body:
        changes["name"] = text(body, "model_name")
        name_free(ctx, "models", changes["name"], "model", own_id=model_id)
    for key, kind in _EDITABLE.items():
        if key in body:
            changes[key] = check(body[key], kind, key)
    if "tags" in body:
        tags = check(body["tags"], list, "tags")
        for i, tag in enumerate(tags):
            check(tag, str, f"tags[{i}]")
        changes["tags"] = dumps(tags)
    assignments = ", ".join(f"{column} = ?" for column in changes)
    ctx.db.execute(f"UPDATE models SET {assignments} WHERE id = ?", (*changes.values(), model_id))
    return {"message": "Model updated"}


def delete_experiment_rows(ctx: Ctx, where: str, args: tuple[Any, ...]) -> int:
    """Delete the experiments matching ``where`` with their logs, previews and files."""
    rows = ctx.db.execute(f"SELECT * FROM experiments WHERE {where}", args).fetchall()
    for row in rows:
        for table in ("logs", "previews"):
            ctx.db.execute(f"DELETE FROM {table} WHERE experiment = ?", (row["n"],))
        ctx.db.execute("DELETE FROM experiments WHERE n = ?", (row["n"],))
        ctx.discard(f"{row['project_id']}/{row['model_id']}/{row['training_id']}", tree=True)
    return len(rows)


def delete_model(ctx: Ctx, model_id: str) -> dict[str, Any]:
    """Delete a model, its experiments, logs and previews; detach it everywhere."""
    ctx.owned("models", model_id)
    delete_experiment_rows(ctx, "model_id = ?", (model_id,))
    ctx.db.execute("DELETE FROM project_models WHERE model_id = ?", (model_id,))
    ctx.db.execute(
        "UPDATE projects SET automation = NULL WHERE json_extract(automation, '$.model_id') = ?",
        (model_id,),
    )
    ctx.db.execute("DELETE FROM models WHERE id = ?", (model_id,))
    return {"message": "Model deleted"}


ROUTES = [
    Route("GET", "/api/v1/models_list", models_list),
    Route("GET", "/api/v1/model_infos/<model_id>", model_infos),
    Route("PUT", "/api/v1/model_infos/<model_id>", update_model),
    Route("DELETE", "/api/v1/delete_model/<model_id>", delete_model),
]
