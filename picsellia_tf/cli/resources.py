"""picsellia-tf commands: projects, datasets and models (list, show, create, delete)."""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf._checks import InvalidArgument, check_choice, check_string, check_text, invalid
from picsellia_tf._limits import PROJECT_TYPES
from picsellia_tf.cli._common import (
    add_command,
    add_group,
    command_help,
    emit,
    make_client,
    table,
)
from picsellia_tf.errors import PicselliaError, ValidationError
from picsellia_tf.wire import coerce_collaborator, coerce_label

if TYPE_CHECKING:
    from picsellia_tf.types import Dataset, Model, Project

UPLOAD_CHUNK = 32
"""Files sent per upload request by ``datasets upload`` (progress is reported per chunk)."""

_SPEC_FIELDS = ("name", "type", "labels", "team", "description", "private", "dataset_name")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``projects``, ``datasets`` and ``models`` command groups."""
    _register_projects(subparsers)
    _register_datasets(subparsers)
    _register_models(subparsers)


def _group(subparsers: Any, name: str, help: str) -> Any:
    return add_group(subparsers, name, help, dest="action", metavar="ACTION")


# --- projects ---------------------------------------------------------------------------------


def _register_projects(subparsers: Any) -> None:
    group = _group(subparsers, "projects", command_help("projects"))
    add_command(group, "list", "List the organisation's projects.", _projects_list)
    show = add_command(group, "show", "Show one project in full.", _projects_show)
    show.add_argument("id", metavar="ID", help="project id")
    create = add_command(
        group, "create", "Create a project from a JSON spec file.", _projects_create
    )
    create.add_argument(
        "--spec",
        required=True,
        metavar="FILE",
        help='JSON file: {"name", "type", "labels", "team", "description", "private", '
        '"dataset_name"}',
    )
    delete = add_command(
        group, "delete", "Delete one project (its annotations go too).", _projects_delete
    )
    delete.add_argument("id", metavar="ID", help="project id")


def _projects_list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        projects = client.projects.list()
    rows = [(p.id, p.name) for p in projects]
    emit(args, projects, table(("ID", "NAME"), rows, empty="no projects"))
    return 0


def _projects_show(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        project = client.projects.get(args.id)
    emit(args, project, _project_text(project))
    return 0


def _projects_create(args: argparse.Namespace) -> int:
    spec = load_project_spec(args.spec)
    with make_client(args) as client:
        project = client.projects.create(spec.pop("name"), spec.pop("type"), **spec)
    emit(args, project, f"created project {project.name!r} ({project.id})")
    return 0


def _projects_delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        client.projects.delete(args.id)
    emit(args, {"deleted": "project", "id": args.id}, f"deleted project {args.id}")
    return 0


def _project_text(p: Project) -> str:
    dataset = f"{p.dataset.name} ({p.dataset.id})" if p.dataset else "-"
    return _fields(
        ("id", p.id),
        ("name", p.name),
        ("type", p.type),
        ("description", p.description),
        ("private", p.private),
        ("dataset", dataset),
        ("labels", ", ".join(f"{lb.name} ({lb.tool})" for lb in p.labels)),
        ("collaborators", ", ".join(f"{c.email} ({c.role})" for c in p.collaborators)),
        ("models", ", ".join(f"{m.name} ({m.id})" for m in p.models)),
        ("annotations", p.nb_annotations),
        ("image Q&A", ", ".join(q.question for q in p.image_qa)),
        ("shape Q&A", ", ".join(q.question for q in p.shape_qa)),
    )


def load_project_spec(path: str | Path) -> dict[str, Any]:
    """The ``projects.create`` arguments from a JSON spec file, validated field by field.

    Errors are :class:`ValidationError` naming the file and the field. Labels may be
    ``{"name", "tool"}`` objects or ``["name", "tool"]`` pairs (tool defaults to rectangle);
    team members ``{"email", "role"}`` objects or ``["email", "role"]`` pairs. Each is checked
    as ``projects.create`` checks it (:func:`picsellia_tf.wire.coerce_label`,
    :func:`~picsellia_tf.wire.coerce_collaborator`).
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"{where}: cannot read the spec file: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SPEC_FIELDS))
    if unknown:
        raise ValidationError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(_SPEC_FIELDS)}"
        )
    try:
        return _project_spec(raw)
    except InvalidArgument as exc:
        raise ValidationError(f"{where}: field {exc.arg!r}: {exc.problem}") from None


def _project_spec(raw: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": check_text(raw.get("name"), "name"),
        "type": check_choice(raw.get("type"), PROJECT_TYPES, "type"),
    }
    for key in ("description", "dataset_name"):
        if key in raw:
            spec[key] = check_string(raw[key], key)
    if "private" in raw:
        if not isinstance(raw["private"], bool):  # in JSON's words
            raise invalid("private", f"expected true or false, got {raw['private']!r}")
        spec["private"] = raw["private"]
    if "labels" in raw:
        items = enumerate(_json_list(raw["labels"], "labels"))
        spec["labels"] = [
            coerce_label(_pair(item, f"labels[{i}]", ("name", "tool"), "rectangle"), f"labels[{i}]")
            for i, item in items
        ]
        names = [label.name for label in spec["labels"]]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise invalid("labels", f"duplicate label name(s) {', '.join(map(repr, dupes))}")
    if "team" in raw:
        items = enumerate(_json_list(raw["team"], "team"))
        spec["team"] = [
            coerce_collaborator(_pair(item, f"team[{i}]", ("email", "role")), f"team[{i}]")
            for i, item in items
        ]
    return spec


def _json_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(field, f"expected a list, got {type(value).__name__}")
    return value


def _pair(
    item: Any, field: str, keys: tuple[str, str], default_second: str | None = None
) -> tuple[Any, Any]:
    """``{"a": .., "b": ..}`` or ``["a", "b"]`` (``["a"]`` with a default second) as a pair;
    the values are checked by the caller."""
    first, second = keys
    if isinstance(item, dict):
        extra = sorted(set(item) - set(keys))
        if extra:
            raise invalid(field, f"unknown key(s) {', '.join(map(repr, extra))}; expected {keys}")
        return item.get(first), item.get(second, default_second)
    if isinstance(item, list) and len(item) in ((1, 2) if default_second else (2,)):
        return (item[0], default_second) if len(item) == 1 else (item[0], item[1])
    shape = f'{{"{first}": .., "{second}": ..}} or ["{first}", "{second}"]'
    raise invalid(field, f"expected {shape}, got {item!r}")


# --- datasets ---------------------------------------------------------------------------------


def _register_datasets(subparsers: Any) -> None:
    group = _group(subparsers, "datasets", command_help("datasets"))
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
    return _fields(
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
            _progress(f"created dataset {dataset.name!r} ({dataset.id})")
        else:
            dataset = client.datasets.get(args.dataset)
        uploaded: list[Any] = []
        try:
            for start in range(0, len(files), UPLOAD_CHUNK):
                chunk = files[start : start + UPLOAD_CHUNK]
                uploaded.extend(client.datasets.upload(dataset.id, chunk))
                _progress(f"uploaded {len(uploaded)}/{len(files)} files")
        except (PicselliaError, OSError):
            _progress(
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


# --- models and experiments -------------------------------------------------------------------


def _register_models(subparsers: Any) -> None:
    group = _group(subparsers, "models", command_help("models"))
    add_command(group, "list", "List the organisation's models.", _models_list)
    show = add_command(group, "show", "Show one model and its experiment versions.", _models_show)
    show.add_argument("id", metavar="ID", help="model id")
    delete = add_command(group, "delete", "Delete one model and its experiments.", _models_delete)
    delete.add_argument("id", metavar="ID", help="model id")


def _models_list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        models = client.models.list()
    rows = [(m.id, m.name, m.type or "-") for m in models]
    emit(args, models, table(("ID", "NAME", "TYPE"), rows, empty="no models"))
    return 0


def _models_show(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        model = client.models.get(args.id)
    emit(args, model, _model_text(model))
    return 0


def _model_text(m: Model) -> str:
    versions = ", ".join(
        f"{e.training_id} (project {e.project_id}{', ' + e.created if e.created else ''})"
        for e in m.experiments
    )
    if not m.versions_listed:
        versions = "(this platform does not list them)"
    return _fields(
        ("id", m.id),
        ("name", m.name),
        ("type", m.type),
        ("tags", ", ".join(m.tags)),
        ("description", m.description),
        ("private", m.private),
        ("trainable", m.trainable),
        ("predictable", m.predictable),
        ("used in", ", ".join(f"{p.name} ({p.id})" for p in m.used_in)),
        ("experiments", versions),
    )


def _models_delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        client.models.delete(args.id)
    emit(args, {"deleted": "model", "id": args.id}, f"deleted model {args.id}")
    return 0


# --- output -----------------------------------------------------------------------------------


def _fields(*pairs: tuple[str, Any]) -> str:
    """``name: value`` lines; empty values shown as ``-``, values the platform did not give
    (``None``) left out."""
    width = max(len(k) for k, _ in pairs)
    lines = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        shown = "-" if value == "" else str(value)
        lines.append(f"{key + ':':<{width + 1}} {shown}")
    return "\n".join(lines)


def _progress(message: str) -> None:
    """A progress line on stderr (stdout stays clean for ``--json``)."""
    print(message, file=sys.stderr, flush=True)
