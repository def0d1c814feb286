"""Projects: create, list, infos, update, delete; attaching and detaching models."""

from __future__ import annotations

from typing import Any

from picsellia_tf._limits import PROJECT_TYPES
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import name_free, rename_or_describe
from picsellia_tf.local.handlers.models import delete_experiment_rows
from picsellia_tf.local.handlers.project_config import join_team, parse_labels, parse_team
from picsellia_tf.local.store import dumps, loads, new_id, now
from picsellia_tf.local.validate import indexed, one_of, optional, require, text
from picsellia_tf.local.web import not_found


def create_project(ctx: Ctx) -> dict[str, Any]:
    """A new project, with its team, labels and dataset."""
    body = ctx.body
    name = text(body, "project_name")
    kind = one_of(require(body, "type", str), PROJECT_TYPES, "type")
    description = optional(body, "description", str, "")
    private = optional(body, "private", bool, True)
    team = join_team(parse_team(body.get("team") or {}, "team"), [])
    labels = parse_labels(body.get("labels") or {}, "labels")
    dataset_id = None
    dataset_name = optional(body, "dataset_name", str, None)
    if dataset_name is not None:
        row = ctx.db.execute(
            "SELECT id FROM datasets WHERE org_id = ? AND name = ?", (ctx.org, dataset_name)
        ).fetchone()
        if row is None:
            raise not_found(f"dataset '{dataset_name}' not found")
        dataset_id = row["id"]
    name_free(ctx, "projects", name, "project")
    project_id = new_id()
    ctx.db.execute(
        "INSERT INTO projects (id, org_id, name, type, description, private, dataset_id, labels, "
        "team, image_qa, shape_qa, created) VALUES (?,?,?,?,?,?,?,?,?,'[]','[]',?)",
        (project_id, ctx.org, name, kind, description, private, dataset_id,
         dumps(labels), dumps(team), now()),
    )  # fmt: skip
    return {"project_id": project_id}


def project_list(ctx: Ctx) -> dict[str, Any]:
    """The organisation's projects, keyed from "1"."""
    rows = ctx.db.execute(
        "SELECT id, name FROM projects WHERE org_id = ? ORDER BY n", (ctx.org,)
    ).fetchall()
    return indexed({"project_name": row["name"], "id": row["id"]} for row in rows)


def _dataset_ref(ctx: Ctx, dataset_id: str | None) -> dict[str, str] | None:
    if dataset_id is None:
        return None
    row = ctx.db.execute("SELECT id, name FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
    return {"dataset_id": row["id"], "dataset_name": row["name"]}


def nb_shapes(ctx: Ctx, project_id: str) -> int:
    """How many shapes the project's annotations hold."""
    row = ctx.db.execute(
        "SELECT COALESCE(SUM(json_array_length(shapes)), 0) FROM annotations WHERE project_id = ?",
        (project_id,),
    ).fetchone()
    return int(row[0])


def project_infos(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Everything about one project."""
    row = ctx.owned("projects", project_id)
    models = ctx.db.execute(
        "SELECT models.id, models.name FROM project_models JOIN models "
        "ON models.id = project_models.model_id WHERE project_id = ? ORDER BY project_models.n",
        (project_id,),
    ).fetchall()
    return {
        "id": row["id"],
        "project_name": row["name"],
        "type": row["type"],
        "description": row["description"],
        "private": bool(row["private"]),
        "dataset": _dataset_ref(ctx, row["dataset_id"]),
        "labels": indexed(loads(row["labels"])),
        "collaborators": indexed(
            {"email": m["email"], "role": m["role"]} for m in loads(row["team"])
        ),
        "models": indexed({"model_id": m["id"], "model_name": m["name"]} for m in models),
        "metrics": {"nb_annotations": nb_shapes(ctx, project_id)},
        "image_qa": indexed(loads(row["image_qa"])),
        "shape_qa": indexed(loads(row["shape_qa"])),
    }


def update_project(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Rename and/or describe a project."""
    ctx.owned("projects", project_id)
    rename_or_describe(ctx, "projects", project_id, "project_name", "project")
    return {"message": "Project updated"}


def attach_model(ctx: Ctx, project_id: str, model_id: str) -> dict[str, Any]:
    """Attach a model to a project (idempotent)."""
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    ctx.db.execute(
        "INSERT OR IGNORE INTO project_models (project_id, model_id) VALUES (?, ?)",
        (project_id, model_id),
    )
    return {"message": "Model attached"}


def detach_model(ctx: Ctx, project_id: str, model_id: str) -> dict[str, Any]:
    """Detach a model from a project."""
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    cursor = ctx.db.execute(
        "DELETE FROM project_models WHERE project_id = ? AND model_id = ?", (project_id, model_id)
    )
    if cursor.rowcount == 0:
        raise not_found(f"model '{model_id}' is not attached to project '{project_id}'")
    ctx.db.execute(
        "UPDATE projects SET automation = NULL WHERE id = ? "
        "AND json_extract(automation, '$.model_id') = ?",
        (project_id, model_id),
    )
    return {"message": "Model detached"}


def delete_project(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Delete a project with its annotations and experiment versions (models stay)."""
    ctx.owned("projects", project_id)
    delete_experiment_rows(ctx, "project_id = ?", (project_id,))
    for table in ("annotations", "project_models"):
        ctx.db.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
    ctx.db.execute("DELETE FROM projects WHERE id = ?", (project_id,))
    return {"message": "Project deleted"}


ROUTES = [
    Route("POST", "/api/v1/create_project", create_project),
    Route("GET", "/api/v1/project_list", project_list),
    Route("GET", "/api/v1/project_infos/<project_id>", project_infos),
    Route("PUT", "/api/v1/project_infos/<project_id>", update_project),
    Route("POST", "/api/v1/attach_model/<project_id>/<model_id>", attach_model),
    Route("PUT", "/api/v1/delete_project/<project_id>/<model_id>", detach_model),
    Route("DELETE", "/api/v1/delete_project/<project_id>", delete_project),
]
