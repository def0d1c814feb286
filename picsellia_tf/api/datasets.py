"""Datasets and raw data: ``create_dataset``, ``dataset_list``, ``dataset_info``, ``dataset``,
``raw_data`` (read by range, upload [local extension], delete), and one data row."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picsellia_tf import wire
from picsellia_tf.api._base import (
    Endpoints,
    answer_field,
    check_concurrency,
    check_page_size,
    flag,
    ident,
    pages_concurrently,
    parse_items,
    route,
    string,
    text,
)
from picsellia_tf.errors import ValidationError
from picsellia_tf.types import DataRow, Dataset, DatasetSummary, RawData

UPLOAD_FILES_PER_REQUEST = 32
UPLOAD_BYTES_PER_REQUEST = 64 * 1024 * 1024


class Datasets(Endpoints):
    """The datasets of the token's organisation and their files."""

    def create(self, name: str, *, description: str = "", private: bool = True) -> Dataset:
        """Create an empty dataset and return it."""
        body = {
            "dataset_name": text(name, "name"),
            "description": string(description, "description"),
            "private": flag(private, "private"),
        }
        answer = self._transport.request("POST", "/api/v1/create_dataset", json=body)
        return self.get(answer_field(answer, "dataset_id"))

    def list(self) -> builtins.list[DatasetSummary]:
        """Every dataset, with size, creator and the projects using it."""
        answer = self._transport.request("GET", "/api/v1/dataset_list")
        return parse_items(answer, "dataset_list", wire.parse_dataset_summary)

    def get(self, id: str) -> Dataset:
        """One dataset."""
        answer = self._transport.request("GET", route("/api/v1/dataset_info", ident(id, "id")))
        return wire.parse_dataset(answer)

    def update(self, id: str, *, name: str | None = None, description: str | None = None) -> None:
        """Rename a dataset and/or change its description."""
        body: dict[str, Any] = {}
        if name is not None:
            body["dataset_name"] = text(name, "name")
        if description is not None:
            body["description"] = string(description, "description")
        if not body:
            raise ValidationError("update: give name and/or description")
        self._transport.request("PUT", route("/api/v1/dataset_info", ident(id, "id")), json=body)

    def delete(self, id: str) -> None:
        """Delete a dataset (refused with ConflictError while a project uses it)."""
        self._transport.request("DELETE", route("/api/v1/dataset", ident(id, "id")))

    def raw_data(self, id: str, start: int, stop: int) -> builtins.list[RawData]:
        """Files ``start`` to ``stop - 1`` of a dataset, in upload order."""
        path = route("/api/v1/raw_data", ident(id, "id"))
        return self._ranged(path, start, stop, wire.parse_raw_data, "raw_data")

    def iter_raw_data(
        self, id: str, page_size: int = 100, *, concurrency: int = 1, total: int | None = None
    ) -> Iterator[RawData]:
        """Every file of a dataset, fetched ``page_size`` at a time, up to ``concurrency``
        pages at once (in order all the same), up to ``total`` files (default: the
        ``dataset_size`` the platform announces for the dataset, asked first; files added
        after that are not listed). Raises :class:`WireError` if the server repeats a page
        instead of honouring the range."""
        size = check_page_size(page_size)
        ahead = check_concurrency(concurrency)
        path = route("/api/v1/raw_data", ident(id, "id"))
        if total is None:
            total = self.get(id).size

        def fetch(start: int, stop: int) -> builtins.list[RawData]:
            return self.raw_data(id, start, stop)

        return pages_concurrently(fetch, size, ahead, total, route=f"GET {path}")

    def delete_raw_data(
        self, id: str, *, raw_id: str | None = None, filename: str | None = None
    ) -> None:
        """Delete one file, named by its ``raw_id`` or its ``filename`` (exactly one)."""
        if (raw_id is None) == (filename is None):
            raise ValidationError("delete_raw_data: give exactly one of raw_id or filename")
        body = (
            {"raw_id": ident(raw_id, "raw_id")}
            if raw_id is not None
            else {"filename": text(filename, "filename")}
        )
        self._transport.request("DELETE", route("/api/v1/raw_data", ident(id, "id")), json=body)

    def get_row(self, dataset_id: str, row_id: str) -> DataRow:
        """One file with its storage details; ``row_id`` is a raw data id or a filename."""
        path = route("/api/v1/dataset", ident(dataset_id, "dataset_id"), text(row_id, "row_id"))
        return wire.parse_data_row(self._transport.request("GET", path))

    def upload(self, id: str, paths: Any) -> builtins.list[RawData]:
        """Upload files to a dataset [local extension: ``POST /api/v1/raw_data/:id``].

        Sent in chunks (32 files or 64 MiB per request), each file read only when its chunk
        goes. A file whose name exists in the dataset replaces it, keeping its id; so a chunk
        is safe to resend, and is retried like a PUT.
        """
        path = route("/api/v1/raw_data", ident(id, "id"))
        files = _check_paths(paths)
        stored: builtins.list[RawData] = []
        for chunk in _chunks(files):
            parts = [("files", (f.name, _read(f, i, len(stored)))) for i, f in chunk]
            answer = self._transport.request("POST", path, files=parts, idempotent=True)
            stored.extend(parse_items(answer, "raw_data", wire.parse_raw_data))
        return stored


def _read(file: Path, index: int, uploaded: int) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"paths[{index}]: cannot read {str(file)!r}: {exc.strerror or exc} "
            f"(the {uploaded} files before its chunk are uploaded)"
        ) from None


def _check_paths(paths: Any) -> builtins.list[Path]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    try:
        files = [Path(p) for p in paths]
    except TypeError:
        raise ValidationError(f"paths: expected a list of file paths, got {paths!r}") from None
    if not files:
        raise ValidationError("paths: no files given")
    names: dict[str, Path] = {}
    for i, f in enumerate(files):
        if not f.is_file():
            raise ValidationError(f"paths[{i}]: {str(f)!r} is not a file")
        if f.name in names:
            raise ValidationError(
                f"paths[{i}]: {str(f)!r} has the same file name as {str(names[f.name])!r}; "
                "names are unique within a dataset"
            )
        names[f.name] = f
    return files


def _chunks(files: builtins.list[Path]) -> Iterator[builtins.list[tuple[int, Path]]]:
    """``(index in files, path)`` groups of at most a request's worth of files."""
    chunk: builtins.list[tuple[int, Path]] = []
    size = 0
    for i, f in enumerate(files):
        n = f.stat().st_size
        if chunk and (
            len(chunk) >= UPLOAD_FILES_PER_REQUEST or size + n > UPLOAD_BYTES_PER_REQUEST
        ):
            yield chunk
            chunk, size = [], 0
        chunk.append((i, f))
        size += n
    if chunk:
        yield chunk
