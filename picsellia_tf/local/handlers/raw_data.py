"""Raw data: list (with signed download URLs), multipart upload, delete, one row's info."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from picsellia_tf.local import trash
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import date
from picsellia_tf.local.storage import TempObject, check_filename
from picsellia_tf.local.store import new_id, now
from picsellia_tf.local.validate import check, page_range, shown, unique_names
from picsellia_tf.local.web import ApiError, bad_request, not_found

MAX_FILES = 1000


def image_shape(path: Path) -> list[int] | None:
    """``[width, height]`` of an image file, or None if it does not decode as one."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
    except Exception:  # noqa: BLE001 - PIL raises many types for undecodable files
        return None
    return [width, height]


def _shape(row: Any) -> list[int] | None:
    return None if row["width"] is None else [row["width"], row["height"]]


def raw_item(ctx: Ctx, row: Any) -> dict[str, Any]:
    """A raw data as the list answers it."""
    return {
        "id": row["id"],
        "external_url": row["filename"],
        "shape": _shape(row),
        "url": ctx.object_url(row["object_name"]),
        "checksum": row["checksum"],
        "size": row["size"],
    }


def list_raw(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """One page of a dataset's raw data, keyed by absolute index."""
    ctx.owned("datasets", dataset_id)
    start, stop = page_range(ctx.body)
    rows = ctx.db.execute(
        "SELECT * FROM raw_data WHERE dataset_id = ? ORDER BY n LIMIT ? OFFSET ?",
        (dataset_id, stop - start, start),
    ).fetchall()
    return {str(start + i): raw_item(ctx, row) for i, row in enumerate(rows)}


def _filename(part: FileStorage, index: int) -> str:
    raw = (part.filename or "").replace("\\", "/")
    name = raw.rsplit("/", 1)[-1]
    problem = check_filename(name)
    if problem is not None:
        raise bad_request(f"field 'files[{index}]': filename {shown(raw)} {problem}")
    return name


def upload_raw(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """Store the ``files`` parts in the dataset (a known filename keeps its id).

    Crash-consistent: each file's bytes go under a new object name (in the trash until used),
    and one transaction points the rows at them with their checksums and trashes the names
    they replace; the replaced bytes are deleted after it commits.
    """
    with ctx.store.read() as db:
        ctx.owned("datasets", dataset_id, db)
    ctx.request.max_form_parts = MAX_FILES  # the body's size: the server's max body size
    try:
        parts = ctx.request.files.getlist("files")
    except RequestEntityTooLarge:
        raise ApiError(413, f"upload of more than {MAX_FILES} parts") from None
    if not parts:
        raise bad_request("no file parts named 'files' in the multipart body")
    names = [_filename(part, i) for i, part in enumerate(parts)]
    unique_names([(f"files[{i}]", name) for i, name in enumerate(names)], "filename")
    temps: list[TempObject] = []
    placed: list[str] = []
    replaced: list[trash.Item] = []
    try:
        for part in parts:
            temps.append(ctx.storage.write_temp(part.stream))
        shapes = [image_shape(temp.path) for temp in temps]
        keys = [new_id() for _ in names]
        objects = [
            f"datasets/{dataset_id}/{key}/{name}" for key, name in zip(keys, names, strict=True)
        ]
        with ctx.store.tx() as db:
            trash.throw(db, ((name, False) for name in objects))
        for temp, object_name in zip(temps, objects, strict=True):
            ctx.storage.place(temp, object_name)
            placed.append(object_name)
        with ctx.store.tx() as db:
            ctx.owned("datasets", dataset_id, db)
            rows = []
            for key, name, object_name, temp, shape in zip(
                keys, names, objects, temps, shapes, strict=True
            ):
                row, old = _upsert(db, dataset_id, key, name, object_name, temp, shape)
                rows.append(row)
                if old is not None:
                    replaced.append((old, False))
            trash.keep(db, objects)
            trash.throw(db, replaced)
        placed.clear()
    finally:
        for temp in temps:
            ctx.storage.discard(temp)
        if placed:  # the rows were not switched: the new bytes go
            trash.empty(ctx.store, ctx.storage, [(name, False) for name in placed])
    trash.empty(ctx.store, ctx.storage, replaced)
    return {str(i): raw_item(ctx, row) for i, row in enumerate(rows)}


def _upsert(
    db: sqlite3.Connection,
    dataset_id: str,
    key: str,
    name: str,
    object_name: str,
    temp: TempObject,
    shape: list[int] | None,
) -> tuple[Any, str | None]:
    """The row of ``name`` pointed at ``object_name``, and the object name it had."""
    existing = db.execute(
        "SELECT id, object_name FROM raw_data WHERE dataset_id = ? AND filename = ?",
        (dataset_id, name),
    ).fetchone()
    width, height = shape if shape else (None, None)
    values = (object_name, width, height, temp.size, temp.sha256, now())
    if existing:
        raw_id, old = existing["id"], existing["object_name"]
        db.execute(
            "UPDATE raw_data SET object_name = ?, width = ?, height = ?, size = ?, checksum = ?, "
            "imported = ? WHERE id = ?",
            (*values, raw_id),
        )
    else:
        raw_id, old = key, None
        db.execute(
            "INSERT INTO raw_data (id, dataset_id, filename, object_name, width, height, size, "
            "checksum, imported) VALUES (?,?,?,?,?,?,?,?,?)",
            (raw_id, dataset_id, name, *values),
        )
    return db.execute("SELECT * FROM raw_data WHERE id = ?", (raw_id,)).fetchone(), old


def find_raw(ctx: Ctx, dataset_id: str, raw_id: str | None, filename: str | None) -> Any:
    """A raw data of the dataset by id or filename, else a 404."""
    if raw_id is not None:
        row = ctx.db.execute(
            "SELECT * FROM raw_data WHERE dataset_id = ? AND id = ?", (dataset_id, raw_id)
        ).fetchone()
    elif filename is not None:
        row = ctx.db.execute(
            "SELECT * FROM raw_data WHERE dataset_id = ? AND filename = ?", (dataset_id, filename)
        ).fetchone()
    else:
        raise bad_request("missing field 'raw_id' (or 'filename')")
    if row is None:
        raise not_found(f"raw data '{raw_id or filename}' not found in dataset '{dataset_id}'")
    return row


def _body_ref(ctx: Ctx) -> tuple[str | None, str | None]:
    body = ctx.body
    raw_id = check(body["raw_id"], str, "raw_id") if "raw_id" in body else None
    filename = check(body["filename"], str, "filename") if "filename" in body else None
    return raw_id, filename


def delete_raw(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """Delete one raw data, its file and its annotations."""
    ctx.owned("datasets", dataset_id)
    row = find_raw(ctx, dataset_id, *_body_ref(ctx))
    ctx.db.execute("DELETE FROM annotations WHERE raw_id = ?", (row["id"],))
    ctx.db.execute("DELETE FROM raw_data WHERE id = ?", (row["id"],))
    ctx.discard(row["object_name"])
    return {"message": "Data deleted"}


def row_info(ctx: Ctx, dataset_id: str, row_id: str | None = None) -> dict[str, Any]:
    """Everything about one raw data, named in the path (id or filename) or the body."""
    ctx.owned("datasets", dataset_id)
    if row_id is None:
        row = find_raw(ctx, dataset_id, *_body_ref(ctx))
    else:
        row = ctx.db.execute(
            "SELECT * FROM raw_data WHERE dataset_id = ? AND (id = ? OR filename = ?) "
            "ORDER BY id = ? DESC",
            (dataset_id, row_id, row_id, row_id),
        ).fetchone()
        if row is None:
            raise not_found(f"raw data '{row_id}' not found in dataset '{dataset_id}'")
    shape = _shape(row)
    return {
        "id": row["id"],
        "external_url": row["filename"],
        "object_name": row["object_name"],
        "type": "image" if shape else "file",
        "format": os.path.splitext(row["filename"])[1].lstrip(".").lower(),
        "size": row["size"] / 1e6,
        "import_date": date(row["imported"], "%m-%d-%Y"),
        "shape": shape,
        "url": ctx.object_url(row["object_name"]),
        "checksum": row["checksum"],
    }


ROUTES = [
    Route("GET", "/api/v1/raw_data/<dataset_id>", list_raw),
    Route("POST", "/api/v1/raw_data/<dataset_id>", upload_raw, tx=False),
    Route("DELETE", "/api/v1/raw_data/<dataset_id>", delete_raw),
    Route("GET", "/api/v1/dataset/<dataset_id>/<row_id>", row_info),
    Route("GET", "/api/v1/dataset/<dataset_id>", row_info),
]
