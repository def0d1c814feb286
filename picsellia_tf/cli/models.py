"""picsellia-tf models commands: list, show (with its experiment versions), delete."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from picsellia_tf.cli._common import (
    add_command,
    add_group,
    command_help,
    emit,
    fields,
    make_client,
    table,
)

if TYPE_CHECKING:
    from picsellia_tf.types import Model


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` command group."""
    group = add_group(subparsers, "models", command_help("models"), dest="action", metavar="ACTION")
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
    return fields(
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
