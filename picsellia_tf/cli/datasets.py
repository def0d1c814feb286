"""picsellia-tf datasets commands: list, show, upload a folder, delete."""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf.cli._common import (
    add_command,
    add_group,
    command_help,
    emit,
    fields,
    make_client,
    progress,
    table,
)
from picsellia_tf.errors import PicselliaError, ValidationError

if TYPE_CHECKING:
    from picsellia_tf.types import Dataset

UPLOAD_CHUNK = 32
"""Files sent per upload request by ``datasets upload`` (progress is reported per chunk)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` command group."""
    group = add_group(
        subparsers, "datasets", command_help("datasets"), dest="action", metavar="ACTION"
    )
    add_command(group, "list", "List the organisation's datasets.", _datasets_list)
    show = add_command(group, "show", "Show one dataset.", _datasets_show)
    show.add_argument("id", metavar="ID", help="dataset id")
    upload = add_command(
        group, "upload", "Upload the files of a folder to a dataset.", _datasets_upload
    )
    upload.add_argument("dir", metavar="DIR", help="folder of files to upload")
    target = upload.add_mutually_exclusive_group(required=True)
    target.add_argument("--dataset", metavar="ID", help="an existing dataset's id")
    target.add_argument("--name", metavar="NAME", help="create a dataset of this name")
    upload.add_argument(
        "--pattern", default="*", help="only file names matching this glob (default: *)"
    )
    upload.add_argument(
        "--recursive", action="store_true", help="include sub-folders (file names must be unique)"
    )
    delete = add_command(group, "delete", "Delete one dataset and its files.", _datasets_delete)
    delete.add_argument("id", metavar="ID", help="dataset id")


def _datasets_list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        datasets = client.datasets.list()
    rows = [(d.id, d.name, d.size if d.size is not None else "-") for d in datasets]
    emit(args, datasets, table(("ID", "NAME", "FILES"), rows, empty="no datasets"))
    return 0


def _datasets_show(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        dataset = client.datasets.get(args.id)
        if dataset.created_by is None:  # dataset_info has no creator; dataset_list has it
            listed = [d for d in client.datasets.list() if d.id == dataset.id]
            if listed:
                dataset = dataclasses.replace(dataset, created_by=listed[0].created_by)
    emit(args, dataset, _dataset_text(dataset))
    return 0


def _dataset_text(d: Dataset) -> str:
    return fields(
        ("id", d.id),
        ("name", d.name),
        ("files", d.size),
        ("description", d.description),
        ("private", d.private),
        ("created by", d.created_by),
        ("used in", ", ".join(f"{p.name} ({p.id})" for p in d.used_in)),
    )


def upload_files(folder: str | Path, pattern: str = "*", *, recursive: bool = False) -> list[Path]:
    """The files ``datasets upload`` sends: visible files matching ``pattern``, sorted.

    Raises :class:`ValidationError` when ``folder`` is not a folder, holds no matching file,
    or (recursive) two files share a name.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValidationError(f"{folder}: not a folder")
    files = sorted(p for p in _visible_files(root, recursive) if fnmatch.fnmatch(p.name, pattern))
    if not files:
        raise ValidationError(f"{folder}: no files matching {pattern!r} (hidden files are skipped)")
    seen: dict[str, Path] = {}
    for path in files:
        if path.name in seen:
            raise ValidationError(
                f"{path} and {seen[path.name]} have the same name; a dataset keeps one file "
                "per name"
            )
        seen[path.name] = path
    return files


def _visible_files(root: Path, recursive: bool) -> Iterator[Path]:
    """The files under ``root`` (in sub-folders too if ``recursive``), hidden ones skipped."""
    for folder, subfolders, names in os.walk(root):
        # Pruned in place: hidden or (not recursive) any sub-folders are never listed.
        subfolders[:] = [d for d in subfolders if recursive and not d.startswith(".")]
        for name in names:
            path = Path(folder, name)
            if not name.startswith(".") and path.is_file():
                yield path


def _datasets_upload(args: argparse.Namespace) -> int:
    files = upload_files(args.dir, args.pattern, recursive=args.recursive)
    with make_client(args) as client:
        if args.name is not None:
            dataset = client.datasets.create(args.name)
            progress(f"created dataset {dataset.name!r} ({dataset.id})")
        else:
            dataset = client.datasets.get(args.dataset)
        uploaded: list[Any] = []
        try:
            for start in range(0, len(files), UPLOAD_CHUNK):
                chunk = files[start : start + UPLOAD_CHUNK]
                uploaded.extend(client.datasets.upload(dataset.id, chunk))
                progress(f"uploaded {len(uploaded)}/{len(files)} files")
        except (PicselliaError, OSError):
            progress(
                f"stopped after {len(uploaded)}/{len(files)} files in dataset "
                f"{dataset.name!r} ({dataset.id}); run the upload again with "
                f"--dataset {dataset.id}",
            )
            raise
    text = f"uploaded {len(uploaded)} files to dataset {dataset.name!r} ({dataset.id})"
    emit(args, {"dataset": dataset, "uploaded": uploaded}, text)
    return 0


def _datasets_delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        client.datasets.delete(args.id)
    emit(args, {"deleted": "dataset", "id": args.id}, f"deleted dataset {args.id}")
    return 0
