"""Experiment versions: init_model, delete, and their training logs."""

from __future__ import annotations

import math
from typing import Any

from picsellia_tf._limits import MAX_TAG_LENGTH as MAX_TAG
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.models import delete_experiment_rows
from picsellia_tf.local.store import new_id, now
from picsellia_tf.local.validate import MAX_INT, check, in_float_range, require, shown, text
from picsellia_tf.local.web import bad_request, not_found

LogRow = tuple[int, str, int, float, float | None]


def _version_args(ctx: Ctx) -> dict[str, Any]:
    """The JSON body; for a GET without one (``curl``), the query string: ``?training_id=1
    &network_id=...`` (a local extension, as are the read routes that use it)."""
    args = ctx.request.args
    if ctx.request.method != "GET" or ctx.body or not args:
        return ctx.body
    found: dict[str, Any] = dict(args)
    if "training_id" in found:
        try:
            found["training_id"] = int(found["training_id"])
        except ValueError:
            raise bad_request(
                f"query parameter 'training_id': expected an int, got {found['training_id']!r}"
            ) from None
    return found


def find_experiment(ctx: Ctx) -> Any:
    """The version named by the body's (or query's) ``training_id`` and ``network_id``, else a
    404."""
    body = _version_args(ctx)
    training_id = require(body, "training_id", int)
    network_id = require(body, "network_id", str)
    row = ctx.db.execute(
        "SELECT experiments.* FROM experiments JOIN models ON models.id = experiments.model_id "
        "WHERE model_id = ? AND training_id = ? AND models.org_id = ?",
        (network_id, training_id, ctx.org),
    ).fetchone()
    if row is None:
        raise not_found(f"experiment version {training_id} of model '{network_id}' not found")
    return row


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
    model = ctx.db.execute(
        "SELECT * FROM models WHERE org_id = ? AND name = ?", (ctx.org, name)
    ).fetchone()
    model_id = model["id"] if model else new_id()
    if model is None:
        ctx.db.execute(
            "INSERT INTO models (id, org_id, name, type, created) VALUES (?,?,?,?,?)",
            (model_id, ctx.org, name, project["type"], now()),
        )
    ctx.db.execute(
        "INSERT OR IGNORE INTO project_models (project_id, model_id) VALUES (?, ?)",
        (project["id"], model_id),
    )
    ctx.db.execute(
        "UPDATE models SET last_training_id = last_training_id + 1 WHERE id = ?", (model_id,)
    )
    training_id = ctx.db.execute(
        "SELECT last_training_id FROM models WHERE id = ?", (model_id,)
    ).fetchone()[0]
    ctx.db.execute(
        "INSERT INTO experiments (model_id, project_id, training_id, created) VALUES (?,?,?,?)",
        (model_id, project["id"], training_id, now()),
    )
    return {"network_id": model_id, "training_id": training_id}


def delete_experiment(ctx: Ctx, project_id: str, model_id: str, training_id: int) -> dict[str, Any]:
    """Delete one version with its logs and previews."""
    if training_id > MAX_INT:
        raise bad_request(f"path segment 'training_id': {training_id} is out of range")
    ctx.owned("projects", project_id)
    ctx.owned("models", model_id)
    where = "project_id = ? AND model_id = ? AND training_id = ?"
    if not delete_experiment_rows(ctx, where, (project_id, model_id, training_id)):
        raise not_found(
            f"experiment version {training_id} of model '{model_id}' not found "
            f"in project '{project_id}'"
        )
    return {"message": "Experiment deleted"}


def _series(tag: Any, series: Any, experiment: int) -> list[LogRow]:
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
    rows: list[LogRow] = []
    for tag, series in logs.items():
        rows.extend(_series(tag, series, experiment))
    ctx.db.executemany("INSERT OR REPLACE INTO logs VALUES (?,?,?,?,?)", rows)
    return {"message": "Metrics saved", "points": len(rows)}


def get_logs(ctx: Ctx) -> dict[str, Any]:
    """The version's logs, each tag's points sorted by step."""
    experiment = find_experiment(ctx)["n"]
    logs: dict[str, dict[str, list[Any]]] = {}
    for tag, step, value, wall in ctx.db.execute(
        "SELECT tag, step, value, wall_time FROM logs WHERE experiment = ? ORDER BY tag, step",
        (experiment,),
    ):
        series = logs.setdefault(tag, {"step": [], "value": [], "wall_time": []})
        series["step"].append(step)
        series["value"].append(math.nan if value is None else value)
        series["wall_time"].append(wall)
    return {"logs": logs}


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
