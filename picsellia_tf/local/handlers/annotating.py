"""Annotations: upload (validated, upserted per image) and list by page."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from picsellia_tf._limits import TOOLS
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.store import dumps, loads
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


def _picture(ctx: Ctx, dataset_id: str, item: dict[str, Any], name: str) -> str:
    for key, column in (("internal_picture_id", "id"), ("external_picture_url", "filename")):
        if item.get(key) is not None:
            value = check(item[key], str, f"{name}.{key}")
            row = ctx.db.execute(
                f"SELECT id FROM raw_data WHERE dataset_id = ? AND {column} = ?",
                (dataset_id, value),
            ).fetchone()
            if row is None:
                raise not_found(
                    f"field '{name}.{key}': no image {value!r} in the project's dataset"
                )
            return str(row["id"])
    raise bad_request(f"missing field '{name}.internal_picture_id' (or 'external_picture_url')")


def _record(
    ctx: Ctx, project: Any, labels: set[str], item: dict[str, Any], name: str
) -> tuple[Any, ...]:
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
    labels = {label["label_name"] for label in loads(project["labels"])}
    records = [
        _record(ctx, project, labels, item, name)
        for name, item in objects(require(ctx.body, "annotations", object), "annotations")
    ]
    ctx.db.executemany(
        "INSERT INTO annotations (project_id, raw_id, time_spent, qanda, shapes) "
        "VALUES (?,?,?,?,?) ON CONFLICT (project_id, raw_id) DO UPDATE SET "
        "time_spent = excluded.time_spent, qanda = excluded.qanda, shapes = excluded.shapes",
        records,
    )
    return {"message": "Annotation uploaded", "count": len(records)}


def list_annotations(ctx: Ctx, project_id: str) -> Response:
    """One page of the project's annotated images, keyed by absolute index.

    The stored JSON columns (written by ``dumps``) are spliced into the answer as they are,
    not parsed and written again: a 10,000-item page in 0.06 s instead of 0.19."""
    ctx.owned("projects", project_id)
    start, stop = page_range(ctx.body)
    # the page is cut from the index first: OFFSET then skips index entries, not joined rows
    rows = ctx.db.execute(
        "SELECT page.raw_id, page.time_spent, page.qanda, page.shapes, "
        "json_array_length(page.shapes) AS nb_labels, raw_data.filename FROM "
        "(SELECT * FROM annotations WHERE project_id = ? ORDER BY n LIMIT ? OFFSET ?) AS page "
        "JOIN raw_data ON raw_data.id = page.raw_id ORDER BY page.n",
        (project_id, stop - start, start),
    ).fetchall()
    items = (
        f'"{i}": {{"internal_picture_id": {dumps(row["raw_id"])}, '
        f'"external_picture_url": {dumps(row["filename"])}, "nb_labels": {row["nb_labels"]}, '
        f'"time_spent": {dumps(row["time_spent"])}, "QandA": {row["qanda"]}, '
        f'"annotations": {row["shapes"]}}}'
        for i, row in enumerate(rows, start=start)
    )
    return Response("{" + ", ".join(items) + "}", mimetype="application/json")


ROUTES = [
    Route("GET", "/api/v1/annotations/<project_id>", list_annotations),
    Route("POST", "/sdk/upload_annotations", upload_annotations),
]
