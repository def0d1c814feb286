"""A project's settings: collaborators, labels, automations, Q&A."""

from __future__ import annotations

from typing import Any

from picsellia_tf._limits import QA_TYPES, ROLES, TOOLS
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import date
from picsellia_tf.local.store import dumps, loads, now
from picsellia_tf.local.validate import (
    indexed,
    objects,
    one_of,
    require,
    shallow,
    text,
    unique_names,
)
from picsellia_tf.local.web import bad_request


def parse_labels(value: Any, name: str) -> list[dict[str, str]]:
    """Labels ``{label_name, tool|type}``, names unique."""
    labels = []
    for item_name, item in objects(value, name):
        label = text(item, "label_name", item_name)
        key = "tool" if "tool" in item else "type"
        tool = one_of(require(item, key, str, item_name), TOOLS, f"{item_name}.{key}")
        labels.append((item_name, {"label_name": label, "tool": tool}))
    unique_names([(f"{n}.label_name", lab["label_name"]) for n, lab in labels], "label")
    return [label for _, label in labels]


def parse_team(value: Any, name: str) -> list[dict[str, str]]:
    """Collaborators ``{email, role}``, emails unique."""
    team = []
    for item_name, item in objects(value, name):
        email = require(item, "email", str, item_name)
        if "@" not in email:
            raise bad_request(f"field '{item_name}.email': {email!r} is not an email address")
        role = one_of(require(item, "role", str, item_name), ROLES, f"{item_name}.role")
        team.append((item_name, {"email": email, "role": role}))
    unique_names([(f"{n}.email", member["email"]) for n, member in team], "email")
    return [member for _, member in team]


def join_team(team: list[dict[str, str]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``team`` with join dates: kept for members already there, today for new ones."""
    joined = {member["email"]: member["joined"] for member in old}
    today = now()
    return [{**member, "joined": joined.get(member["email"], today)} for member in team]


def get_collaborators(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """The project's collaborators, keyed from "1"."""
    project = ctx.owned("projects", project_id)
    return indexed(
        {
            "email": member["email"],
            "username": member["email"].split("@", 1)[0],
            "role": member["role"],
            "date_joigned": date(member["joined"], "%d-%m-%Y"),
        }
        for member in loads(project["team"])
    )


def put_collaborators(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Replace the collaborators."""
    project = ctx.owned("projects", project_id)
    team = parse_team(require(ctx.body, "collaborators", object), "collaborators")
    team = join_team(team, loads(project["team"]))
    ctx.db.execute("UPDATE projects SET team = ? WHERE id = ?", (dumps(team), project_id))
    return {"message": "Collaborators updated"}


def put_labels(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Replace the labels."""
    ctx.owned("projects", project_id)
    labels = parse_labels(require(ctx.body, "labels", object), "labels")
    ctx.db.execute("UPDATE projects SET labels = ? WHERE id = ?", (dumps(labels), project_id))
    return {"message": "Labels updated"}


def put_automations(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Link project labels to a model's labels."""
    project = ctx.owned("projects", project_id)
    model_id = require(ctx.body, "model_id", str)
    ctx.owned("models", model_id)
    attached = ctx.db.execute(
        "SELECT 1 FROM project_models WHERE project_id = ? AND model_id = ?",
        (project_id, model_id),
    ).fetchone()
    if attached is None:
        raise bad_request(f"model '{model_id}' is not attached to project '{project_id}'")
    names = {label["label_name"] for label in loads(project["labels"])}
    links = []
    for item_name, item in objects(require(ctx.body, "labels", object), "labels"):
        label = require(item, "label_name", str, item_name)
        if label not in names:
            raise bad_request(f"field '{item_name}.label_name': {label!r} is not a project label")
        links.append({"label_name": label, "link_with": require(item, "link_with", str, item_name)})
    automation = {"model_id": model_id, "labels": links}
    ctx.db.execute(
        "UPDATE projects SET automation = ? WHERE id = ?", (dumps(automation), project_id)
    )
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
            questions = parse_qa(ctx.body[key], key)
            ctx.db.execute(
                f"UPDATE projects SET {key} = ? WHERE id = ?", (dumps(questions), project_id)
            )
    return {"message": "Q&A updated"}


ROUTES = [
    Route("GET", "/api/v1/project_collaborators/<project_id>", get_collaborators),
    Route("PUT", "/api/v1/project_collaborators/<project_id>", put_collaborators),
    Route("PUT", "/api/v1/project_labels/<project_id>", put_labels),
    Route("PUT", "/api/v1/project_auto/<project_id>", put_automations),
    Route("PUT", "/api/v1/project_qa/<project_id>", put_qa),
]
