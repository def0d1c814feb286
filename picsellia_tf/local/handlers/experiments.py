"""Experiment versions: init_model, delete, and their training logs."""

from __future__ import annotations

from typing import Any

from picsellia_tf._limits import MAX_TAG_LENGTH as MAX_TAG
from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import find_experiment, version_missing
from picsellia_tf.local.validate import MAX_INT, check, in_float_range, require, shown, text
from picsellia_tf.local.web import bad_request


def _init_project(ctx: Ctx) -> Any:
    """The project an init_model body names: ``project_id`` (the v1 reference's word) or
    ``project_token`` (the released SDK's; the local platform's project token is the
    project's id). Both may be given, naming the same project."""
    body = ctx.body
    given = [key for key in ("project_id", "project_token") if body.get(key) is not None]
    if not given:
        raise bad_request("missing field 'project_id' (or the released SDK's 'project_token')")
    ids = {key: require(body, key, str) for key in given}
    if len(set(ids.values())) > 1:
        raise bad_request(
            f"fields 'project_id' ({ids['project_id']!r}) and 'project_token' "
            f"({ids['project_token']!r}) name different projects"
        )
    return ctx.owned("projects", ids[given[0]])


def init_model(ctx: Ctx) -> dict[str, Any]:
    """A new experiment version of the named model (created and attached if needed)."""
    project = _init_project(ctx)
    name = text(ctx.body, "model_name")
    model_id = q.org.named(ctx.db, "models", ctx.org, name)
    if model_id is None:
        model_id = q.models.create(ctx.db, ctx.org, name, project["type"])
    q.projects.attach(ctx.db, project["id"], model_id)
    training_id = q.models.next_training_id(ctx.db, model_id)
    q.experiments.create(ctx.db, model_id, project["id"], training_id)
    return answers.new_version(model_id, training_id)


def delete_experiment(ctx: Ctx, project_id: str, model_id: str, training_id: int) -> dict[str, Any]:
    """Delete one version with its logs and previews."""
    if training_id > MAX_INT:
        raise bad_request(f"path segment 'training_id': {training_id} is out of range")
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    folders = q.experiments.delete(
        ctx.db, project_id=project_id, model_id=model_id, training_id=training_id
    )
    if not folders:
        raise version_missing(project_id, model_id, training_id)
    ctx.discard(*folders, tree=True)
    return {"message": "Experiment deleted"}


def _series(tag: Any, series: Any, experiment: int) -> list[q.experiments.LogRow]:
    if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG:
        raise bad_request(f"field 'logs': tag {shown(tag)} must be 1 to {MAX_TAG} characters")
    name = f"logs[{tag!r}]"
    check(series, dict, name)
    steps = require(series, "step", list, name)
    values = require(series, "value", list, name)
    walls = series.get("wall_time")
    walls = [None] * len(steps) if walls is None else check(walls, list, f"{name}.wall_time")
    if not len(steps) == len(values) == len(walls):
        raise bad_request(
            f"field '{name}': 'step', 'value' and 'wall_time' differ in length "
            f"({len(steps)}, {len(values)}, {len(walls)})"
        )
    for i, step in enumerate(steps):
        if type(step) is not int or not 0 <= step <= MAX_INT:
            raise bad_request(
                f"field '{name}.step[{i}]': expected an integer from 0 to {MAX_INT}, "
                f"got {shown(step)}"
            )
    for key, column in (("value", values), ("wall_time", walls)):
        for i, value in enumerate(column):
            kind = type(value)
            if kind is float or (value is None and key == "wall_time"):
                continue
            if kind is not int or not in_float_range(value):
                raise bad_request(
                    f"field '{name}.{key}[{i}]': expected a number, got {shown(value)}"
                )
    return [
        (experiment, tag, step, float(value), None if wall is None else float(wall))
        for step, value, wall in zip(steps, values, walls, strict=True)
    ]


def post_logs(ctx: Ctx) -> dict[str, Any]:
    """Merge scalar points into the version's logs, keyed by (tag, step)."""
    experiment = find_experiment(ctx)["n"]
    logs = require(ctx.body, "logs", dict)
    rows: list[q.experiments.LogRow] = []
    for tag, series in logs.items():
        rows.extend(_series(tag, series, experiment))
    q.experiments.put_logs(ctx.db, rows)
    return {"message": "Metrics saved", "points": len(rows)}


def get_logs(ctx: Ctx) -> dict[str, Any]:
    """The version's logs, each tag's points sorted by step."""
    return answers.logs(q.experiments.logs(ctx.db, find_experiment(ctx)["n"]))


ROUTES = [
    # The released SDK sends a GET with a JSON body; POST is kept for earlier clients.
    Route("GET", "/sdk/init_model", init_model, write=True),
    Route("POST", "/sdk/init_model", init_model),
    Route(
        "DELETE",
        "/api/v1/delete_experiments/<project_id>/<model_id>/<int:training_id>",
        delete_experiment,
    ),
    Route("POST", "/sdk/post_logs", post_logs, status=201),
    Route("GET", "/sdk/get_logs", get_logs),
]
