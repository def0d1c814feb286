"""Projects: create, list, infos, update, delete; attaching and detaching models."""

from __future__ import annotations

from typing import Any

from picsellia_tf._limits import PROJECT_TYPES
from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import name_free, rename_or_describe
from picsellia_tf.local.parse import join_team, parse_labels, parse_team
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
        dataset_id = q.org.named(ctx.db, "datasets", ctx.org, dataset_name)
        if dataset_id is None:
            raise not_found(f"dataset '{dataset_name}' not found")
    name_free(ctx, "projects", name, "project")
    project_id = q.projects.create(
        ctx.db, ctx.org, name, kind, description, private, dataset_id, labels, team
    )
    return {"project_id": project_id}


def project_list(ctx: Ctx) -> dict[str, Any]:
    """The organisation's projects, keyed from "1"."""
    return indexed(answers.project_entry(row) for row in q.projects.of_org(ctx.db, ctx.org))


def project_infos(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Everything about one project."""
    row = ctx.owned("projects", project_id)
    dataset_id = row["dataset_id"]
    return answers.project(
        row,
        None if dataset_id is None else q.datasets.get(ctx.db, dataset_id),
        q.projects.models(ctx.db, project_id),
        q.annotations.shape_count(ctx.db, project_id),
    )


def update_project(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Rename and/or describe a project."""
    ctx.owned("projects", project_id)
    rename_or_describe(ctx, "projects", project_id, "project_name", "project")
    return {"message": "Project updated"}


def attach_model(ctx: Ctx, project_id: str, model_id: str) -> dict[str, Any]:
    """Attach a model to a project (idempotent)."""
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    q.projects.attach(ctx.db, project_id, model_id)
    return {"message": "Model attached"}


def detach_model(ctx: Ctx, project_id: str, model_id: str) -> dict[str, Any]:
    """Detach a model from a project."""
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    if not q.projects.detach(ctx.db, project_id, model_id):
        raise not_found(f"model '{model_id}' is not attached to project '{project_id}'")
    return {"message": "Model detached"}


def delete_project(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Delete a project with its annotations and experiment versions (models stay)."""
    ctx.owned("projects", project_id)
    ctx.discard(*q.experiments.delete(ctx.db, project_id=project_id), tree=True)
    q.projects.delete(ctx.db, project_id)
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
