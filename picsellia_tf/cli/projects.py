"""picsellia-tf projects commands: list, show, create (from a JSON spec), delete."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf._checks import InvalidArgument, check_choice, check_string, check_text, invalid
from picsellia_tf._limits import PROJECT_TYPES
from picsellia_tf.cli._common import (
    add_command,
    add_group,
    command_help,
    emit,
    fields,
    make_client,
    table,
)
from picsellia_tf.errors import ValidationError
from picsellia_tf.wire import coerce_collaborator, coerce_label

if TYPE_CHECKING:
    from picsellia_tf.types import Project

_SPEC_FIELDS = ("name", "type", "labels", "team", "description", "private", "dataset_name")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``projects`` command group."""
    group = add_group(
        subparsers, "projects", command_help("projects"), dest="action", metavar="ACTION"
    )
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
    return fields(
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
