"""Raw data: list (with signed download URLs), multipart upload, delete, one row's info."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from picsellia_tf.local import answers, trash
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.storage import TempObject, check_filename
from picsellia_tf.local.store import new_id
from picsellia_tf.local.validate import check, indexed, page_range, shown, unique_names
from picsellia_tf.local.web import ApiError, bad_request, not_found

MAX_FILES = 1000


def image_shape(path: Path) -> list[int] | None:
    """``[width, height]`` of an image file, or None if it does not decode as one."""
    from PIL import Image  # at the first upload, not at the server's start

    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
    except Exception:  # noqa: BLE001 - PIL raises many types for undecodable files
        return None
    return [width, height]


def list_raw(ctx: Ctx, dataset_id: str) -> dict[str, Any]:
    """One page of a dataset's raw data, keyed by absolute index."""
    ctx.owned("datasets", dataset_id)
    start, stop = page_range(ctx.body)
    rows = q.raw_data.page(ctx.db, dataset_id, start, stop)
    return indexed((_answer(ctx, row) for row in rows), base=start)


def _answer(ctx: Ctx, row: Any) -> dict[str, Any]:
    return answers.raw_data(row, ctx.object_url(row["object_name"]))


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
    with ctx.transaction(write=False):
        ctx.owned("datasets", dataset_id)
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
            f"{q.datasets.folder(dataset_id)}/{key}/{name}"
            for key, name in zip(keys, names, strict=True)
        ]
        with ctx.store.tx() as db:
            trash.throw(db, ((name, False) for name in objects))
        for temp, object_name in zip(temps, objects, strict=True):
            ctx.storage.place(temp, object_name)
            placed.append(object_name)
        with ctx.transaction() as db:
            ctx.owned("datasets", dataset_id)
            rows = []
            for key, name, object_name, temp, shape in zip(
                keys, names, objects, temps, shapes, strict=True
            ):
                row, old = q.raw_data.put(
                    db, dataset_id, key, name, object_name, temp.size, temp.sha256, shape
                )
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
    return indexed((_answer(ctx, row) for row in rows), base=0)


def find_raw(ctx: Ctx, dataset_id: str, raw_id: str | None, filename: str | None) -> Any:
    """A raw data of the dataset by id or filename, else a 404."""
    if raw_id is not None:
        row = q.raw_data.by_id(ctx.db, dataset_id, raw_id)
    elif filename is not None:
        row = q.raw_data.by_filename(ctx.db, dataset_id, filename)
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
    q.raw_data.delete(ctx.db, row["id"])
    ctx.discard(row["object_name"])
    return {"message": "Data deleted"}


def row_info(ctx: Ctx, dataset_id: str, row_id: str | None = None) -> dict[str, Any]:
    """Everything about one raw data, named in the path (id or filename) or the body."""
    ctx.owned("datasets", dataset_id)
    if row_id is None:
        row = find_raw(ctx, dataset_id, *_body_ref(ctx))
    else:
        row = q.raw_data.by_ref(ctx.db, dataset_id, row_id)
        if row is None:
            raise not_found(f"raw data '{row_id}' not found in dataset '{dataset_id}'")
    return answers.data_row(row, ctx.object_url(row["object_name"]))


ROUTES = [
    Route("GET", "/api/v1/raw_data/<dataset_id>", list_raw),
    Route("POST", "/api/v1/raw_data/<dataset_id>", upload_raw, tx=False),
    Route("DELETE", "/api/v1/raw_data/<dataset_id>", delete_raw),
    Route("GET", "/api/v1/dataset/<dataset_id>/<row_id>", row_info),
    Route("GET", "/api/v1/dataset/<dataset_id>", row_info),
]
