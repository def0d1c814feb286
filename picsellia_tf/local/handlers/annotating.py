"""Annotations: upload (validated, upserted per image) and list by page."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from picsellia_tf._limits import TOOLS
from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.store import dumps
from picsellia_tf.local.validate import (
    check,
    finite,
    objects,
    one_of,
    optional,
    page_range,
    require,
    shallow,
)
from picsellia_tf.local.web import bad_request, not_found

_MIN_POINTS = {"polygon": 3, "line": 2, "point": 1}


def _rectangle(shape: dict[str, Any], name: str) -> dict[str, Any]:
    rect = require(shape, "rectangle", dict, name)
    values = {}
    for key in ("left", "top", "width", "height"):
        field = f"{name}.rectangle.{key}"
        value = require(rect, key, float, f"{name}.rectangle")
        if finite(value, field) < 0 or (key in ("width", "height") and value == 0):
            bound = "> 0" if key in ("width", "height") else ">= 0"
            raise bad_request(f"field '{field}': must be {bound}, got {value!r}")
        values[key] = value
    return values


def _geometry(shape: dict[str, Any], kind: str, name: str) -> list[dict[str, Any]]:
    polygon = require(shape, "polygon", dict, name)
    field = f"{name}.polygon.geometry"
    points = []
    for i, point in enumerate(require(polygon, "geometry", list, f"{name}.polygon")):
        point = check(point, dict, f"{field}[{i}]")
        x, y = (require(point, key, float, f"{field}[{i}]") for key in ("x", "y"))
        finite(x, f"{field}[{i}].x"), finite(y, f"{field}[{i}].y")
        points.append({"x": x, "y": y})
    distinct = len({(p["x"], p["y"]) for p in points})
    if distinct < _MIN_POINTS[kind]:
        raise bad_request(
            f"field '{field}': a {kind} needs at least {_MIN_POINTS[kind]} distinct points, "
            f"got {distinct}"
        )
    return points


def parse_shape(shape: dict[str, Any], name: str, labels: set[str]) -> dict[str, Any]:
    """One shape, normalised to the shape the list answers."""
    kind = one_of(require(shape, "type", str, name), TOOLS, f"{name}.type")
    label = require(shape, "label", str, name)
    if label not in labels:
        raise bad_request(f"field '{name}.label': {label!r} is not a label of the project")
    if kind == "rectangle":
        rectangle, geometry = _rectangle(shape, name), []
    else:
        rectangle, geometry = {}, _geometry(shape, kind, name)
    return {"type": kind, "label": label, "rectangle": rectangle, "polygon": {"geometry": geometry}}


_PICTURE = (
    ("internal_picture_id", q.raw_data.by_id),
    ("external_picture_url", q.raw_data.by_filename),
)


def _picture(ctx: Ctx, dataset_id: str, item: dict[str, Any], name: str) -> str:
    for key, lookup in _PICTURE:
        if item.get(key) is not None:
            value = check(item[key], str, f"{name}.{key}")
            row = lookup(ctx.db, dataset_id, value)
            if row is None:
                raise not_found(
                    f"field '{name}.{key}': no image {value!r} in the project's dataset"
                )
            return str(row["id"])
    raise bad_request(f"missing field '{name}.internal_picture_id' (or 'external_picture_url')")


def _record(
    ctx: Ctx, project: Any, labels: set[str], item: dict[str, Any], name: str
) -> q.annotations.Record:
    raw_id = _picture(ctx, project["dataset_id"], item, name)
    time_spent = finite(optional(item, "time_spent", float, 0, name), f"{name}.time_spent")
    if time_spent < 0:
        raise bad_request(f"field '{name}.time_spent': must be >= 0")
    qanda = shallow(optional(item, "QandA", dict, {}, name), f"{name}.QandA")
    listed = require(item, "annotations", object, name)
    shapes = [
        parse_shape(shape, shape_name, labels)
        for shape_name, shape in objects(listed, f"{name}.annotations")
    ]
    return project["id"], raw_id, time_spent, dumps(qanda), dumps(shapes)


def upload_annotations(ctx: Ctx) -> dict[str, Any]:
    """Validate every item, then upsert each image's annotation."""
    project = ctx.owned("projects", require(ctx.body, "project_id", str))
    fmt = require(ctx.body, "format", str)
    if fmt != "picsellia":
        raise bad_request(f"field 'format': only 'picsellia' is supported here, got {fmt!r}")
    if project["dataset_id"] is None:
        raise bad_request(f"project '{project['id']}' has no dataset to annotate")
    labels = set(q.projects.label_names(project))
    records = [
        _record(ctx, project, labels, item, name)
        for name, item in objects(require(ctx.body, "annotations", object), "annotations")
    ]
    q.annotations.upsert(ctx.db, records)
    return {"message": "Annotation uploaded", "count": len(records)}


def list_annotations(ctx: Ctx, project_id: str) -> Response:
    """One page of the project's annotated images, keyed by absolute index."""
    ctx.owned("projects", project_id)
    start, stop = page_range(ctx.body)
    page = q.annotations.page(ctx.db, project_id, start, stop)
    return Response(answers.annotation_page(page, start), mimetype="application/json")


ROUTES = [
    Route("GET", "/api/v1/annotations/<project_id>", list_annotations),
    Route("POST", "/sdk/upload_annotations", upload_annotations),
]
