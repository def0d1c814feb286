"""A project's settings: collaborators, labels, automations, Q&A."""

from __future__ import annotations

from typing import Any

from picsellia_tf._limits import QA_TYPES
from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.parse import join_team, parse_labels, parse_team
from picsellia_tf.local.store import loads
from picsellia_tf.local.validate import indexed, objects, one_of, require, shallow, text
from picsellia_tf.local.web import bad_request


def get_collaborators(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """The project's collaborators, keyed from "1"."""
    project = ctx.owned("projects", project_id)
    return indexed(answers.collaborator(m, full=True) for m in loads(project["team"]))


def put_collaborators(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Replace the collaborators."""
    project = ctx.owned("projects", project_id)
    team = parse_team(require(ctx.body, "collaborators", object), "collaborators")
    q.projects.store(ctx.db, project_id, "team", join_team(team, loads(project["team"])))
    return {"message": "Collaborators updated"}


def put_labels(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Replace the labels."""
    ctx.owned("projects", project_id)
    labels = parse_labels(require(ctx.body, "labels", object), "labels")
    q.projects.store(ctx.db, project_id, "labels", labels)
    return {"message": "Labels updated"}


def put_automations(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Link project labels to a model's labels."""
    project = ctx.owned("projects", project_id)
    model_id = require(ctx.body, "model_id", str)
    ctx.owned("models", model_id)
    if not q.projects.has_model(ctx.db, project_id, model_id):
        raise bad_request(f"model '{model_id}' is not attached to project '{project_id}'")
    names = set(q.projects.label_names(project))
    links = []
    for item_name, item in objects(require(ctx.body, "labels", object), "labels"):
        label = require(item, "label_name", str, item_name)
        if label not in names:
            raise bad_request(f"field '{item_name}.label_name': {label!r} is not a project label")
        links.append({"label_name": label, "link_with": require(item, "link_with", str, item_name)})
    q.projects.store(ctx.db, project_id, "automation", {"model_id": model_id, "labels": links})
    return {"message": "Automations updated"}


def parse_qa(value: Any, name: str) -> list[dict[str, Any]]:
    """Q&A questions ``{question, type, min?, max?, values?}``."""
    questions = []
    for item_name, item in objects(value, name):
        question = {"question": text(item, "question", item_name)}
        kind = one_of(require(item, "type", str, item_name), QA_TYPES, f"{item_name}.type")
        question["type"] = kind
        if kind == "range":
            low = require(item, "min", float, item_name)
            high = require(item, "max", float, item_name)
            if not low < high:
                raise bad_request(f"field '{item_name}': 'min' must be less than 'max'")
            question.update(min=low, max=high)
        if kind in ("choice", "mc"):
            values = require(item, "values", list, item_name)
            if not values:
                raise bad_request(f"field '{item_name}.values': must not be empty")
            question["values"] = shallow(values, f"{item_name}.values")
        questions.append(question)
    return questions


def put_qa(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Set the image and/or shape Q&A."""
    ctx.owned("projects", project_id)
    for key in ("image_qa", "shape_qa"):
        if ctx.body.get(key) is not None:
            q.projects.store(ctx.db, project_id, key, parse_qa(ctx.body[key], key))
    return {"message": "Q&A updated"}


ROUTES = [
    Route("GET", "/api/v1/project_collaborators/<project_id>", get_collaborators),
    Route("PUT", "/api/v1/project_collaborators/<project_id>", put_collaborators),
    Route("PUT", "/api/v1/project_labels/<project_id>", put_labels),
    Route("PUT", "/api/v1/project_auto/<project_id>", put_automations),
    Route("PUT", "/api/v1/project_qa/<project_id>", put_qa),
]
