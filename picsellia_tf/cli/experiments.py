"""picsellia-tf commands: experiments (list, show, logs, previews, delete).

``logs`` and ``previews`` read the local platform's ``get_logs``/``get_previews`` routes (local
extensions: the hosted platform shows them in its web app instead).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf.cli._common import (
    add_command,
    add_group,
    command_help,
    emit,
    make_client,
    table,
)
from picsellia_tf.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from picsellia_tf.client import Client
    from picsellia_tf.types import Model


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``experiments`` command group."""
    help = command_help("experiments")
    group = add_group(subparsers, "experiments", help, dest="action", metavar="ACTION")
    listing = add_command(group, "list", "List experiment versions, newest last.", _list)
    listing.add_argument(
        "--model", metavar="ID_OR_NAME", default=None, help="only this model's versions"
    )
    listing.add_argument("--project", metavar="ID", default=None, help="only this project's")
    _add_csv(listing)

    show = add_command(group, "show", "Show one version: its series and previews.", _show)
    _add_version(show)
    logs = add_command(group, "logs", "Print one version's series as a table.", _logs)
    _add_version(logs)
    logs.add_argument("--tags", nargs="+", metavar="TAG", default=None, help="only these tags")
    _add_csv(logs)
    previews = add_command(
        group, "previews", "List one version's previews; --download saves them.", _previews
    )
    _add_version(previews)
    previews.add_argument(
        "--download", metavar="DIR", default=None, help="save the images into DIR"
    )
    _add_csv(previews)

    delete = add_command(group, "delete", "Delete one experiment version with its logs.", _delete)
    delete.add_argument("project_id", metavar="PROJECT_ID", help="project id")
    delete.add_argument("model_id", metavar="MODEL_ID", help="model id")
    delete.add_argument("training_id", metavar="TRAINING_ID", type=int, help="version (an int)")


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model id or name")
    parser.add_argument(
        "training_id", metavar="TRAINING_ID", type=int, help="version (an int, see list)"
    )


def _add_csv(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", action="store_true", help="print CSV (one row per value)")


def _one_format(args: argparse.Namespace) -> None:
    if args.csv and args.json:
        raise ValidationError("--csv and --json: give one of them")


def find_model(client: Client, model: str) -> Model:
    """The model with id ``model``, else the one named so (an error names the choices)."""
    try:
        return client.models.get(model)
    except NotFoundError:
        pass
    named = [m for m in client.models.list() if m.name == model]
    if len(named) == 1:
        return client.models.get(named[0].id)
    if named:
        ids = ", ".join(m.id for m in named)
        raise ValidationError(f"MODEL: {len(named)} models are named {model!r} ({ids}): give an id")
    known = ", ".join(sorted(m.name for m in client.models.list())) or "none"
    raise ValidationError(f"MODEL: no model has the id or name {model!r} (models: {known})")


def _version(client: Client, args: argparse.Namespace) -> tuple[Model, Any]:
    from picsellia_tf.types import ExperimentRef

    model = find_model(client, args.model)
    if not model.experiments:  # model_infos need not list them (the reference shows none)
        return model, ExperimentRef(args.training_id)
    for version in model.experiments:
        if version.training_id == args.training_id:
            return model, version
    have = ", ".join(str(e.training_id) for e in model.experiments) or "none"
    raise ValidationError(
        f"TRAINING_ID: model {model.name!r} has no version {args.training_id} (versions: {have})"
    )


def _read(client: Client, what: str, training_id: int, network_id: str) -> Any:
    """A version's logs or previews; a 404 of a platform without these local-extension routes
    says so, rather than that the version is missing."""
    read = client.experiments.get_logs if what == "logs" else client.experiments.previews
    try:
        return read(training_id, network_id)
    except NotFoundError as exc:
        raise ValidationError(
            f"{client.host} answered 404 to {exc.method} {exc.path} ({exc.message}): reading "
            f"a version's {what} is a local-platform extension, which this platform may not "
            "have; its web app shows them"
        ) from None


def _list(args: argparse.Namespace) -> int:
    _one_format(args)
    with make_client(args) as client:
        models = [find_model(client, args.model)] if args.model else None
        if models is None:
            models = [client.models.get(m.id) for m in client.models.list()]
    rows = [
        {
            "model_id": m.id,
            "model_name": m.name,
            "training_id": e.training_id,
            "project_id": e.project_id,
            "created": e.created,
        }
        for m in models
        for e in sorted(m.experiments, key=lambda e: e.training_id)
        if args.project is None or e.project_id == args.project
    ]
    if args.csv:
        return _print_csv(rows, ("model_id", "model_name", "training_id", "project_id", "created"))
    text = table(
        ("MODEL", "NAME", "VERSION", "PROJECT", "CREATED"),
        [
            [r["model_id"], r["model_name"], r["training_id"], r["project_id"], r["created"]]
            for r in rows
        ],
        empty="no experiment versions listed (the platform's model_infos may not list them)",
    )
    emit(args, rows, text)
    return 0


def _show(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        model, version = _version(client, args)
        logs = _read(client, "logs", version.training_id, model.id)
        previews = _read(client, "previews", version.training_id, model.id)
    series = {
        tag: {
            "points": len(s["step"]),
            "last_step": s["step"][-1] if s["step"] else None,
            "last_value": s["value"][-1] if s["value"] else None,
        }
        for tag, s in sorted(logs.items())
    }
    data = {
        "model_id": model.id,
        "model_name": model.name,
        "training_id": version.training_id,
        "project_id": version.project_id,
        "created": version.created,
        "series": series,
        "previews": [p.object_name for p in previews],
    }
    lines = [
        f"model:    {model.name} ({model.id})",
        f"version:  {version.training_id}",
        f"project:  {version.project_id or '-'}",
    ]
    if version.created:
        lines.append(f"created:  {version.created}")
    rows = [
        [tag, s["points"], s["last_step"], _number(s["last_value"])] for tag, s in series.items()
    ]
    lines.append(table(("TAG", "POINTS", "LAST STEP", "LAST VALUE"), rows, empty="no series"))
    lines.append(f"previews: {len(previews)} (picsellia-tf experiments previews lists them)")
    emit(args, data, "\n".join(lines))
    return 0


def _logs(args: argparse.Namespace) -> int:
    _one_format(args)
    with make_client(args) as client:
        model, version = _version(client, args)
        logs = _read(client, "logs", version.training_id, model.id)
    if args.tags:
        missing = [t for t in args.tags if t not in logs]
        if missing:
            have = ", ".join(sorted(logs)) or "none"
            raise ValidationError(f"--tags: no series {', '.join(missing)} (tags: {have})")
        logs = {t: logs[t] for t in args.tags}
    if args.csv:
        points = [
            {"tag": tag, "step": step, "value": value, "wall_time": wall}
            for tag, series in sorted(logs.items())
            for step, value, wall in zip(
                series["step"], series["value"], _walls(series), strict=True
            )
        ]
        return _print_csv(points, ("tag", "step", "value", "wall_time"))
    tags = sorted(logs)
    by_step: dict[int, dict[str, Any]] = {}
    for tag in tags:
        for step, value in zip(logs[tag]["step"], logs[tag]["value"], strict=True):
            by_step.setdefault(step, {})[tag] = value
    rows = [
        [step, *(_number(values.get(tag)) for tag in tags)]
        for step, values in sorted(by_step.items())
    ]
    name = f"{model.name!r} version {version.training_id}"
    emit(args, logs, table(("STEP", *tags), rows, empty=f"no series in {name}"))
    return 0


def _previews(args: argparse.Namespace) -> int:
    _one_format(args)
    with make_client(args) as client:
        model, version = _version(client, args)
        previews = _read(client, "previews", version.training_id, model.id)
        saved: list[str] = []
        if args.download:
            folder = Path(args.download)
            folder.mkdir(parents=True, exist_ok=True)
            for preview in previews:
                if preview.url is None:
                    raise ValidationError(
                        f"{preview.object_name}: the platform gave no URL to download it from"
                    )
                target = folder / preview.object_name.rsplit("/", 1)[-1]
                client.download(preview.url, target)
                saved.append(str(target))
    rows = [{"object_name": p.object_name} for p in previews]
    if args.csv:
        return _print_csv(rows, ("object_name",))
    lines = [p.object_name for p in previews] or [
        f"no previews in {model.name!r} version {version.training_id}"
    ]
    if args.download:
        lines.append(f"{len(saved)} saved in {Path(args.download).resolve()}")
    emit(args, {"previews": previews, "saved": saved}, "\n".join(lines))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        client.experiments.delete(args.project_id, args.model_id, args.training_id)
    data = {
        "deleted": "experiment",
        "project_id": args.project_id,
        "model_id": args.model_id,
        "training_id": args.training_id,
    }
    emit(args, data, f"deleted experiment version {args.training_id} of model {args.model_id}")
    return 0


# --- output -----------------------------------------------------------------------------------


def _walls(series: dict[str, list[Any]]) -> list[Any]:
    walls = series.get("wall_time") or []
    return walls if len(walls) == len(series["step"]) else [None] * len(series["step"])


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _print_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> int:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    sys.stdout.write(buf.getvalue())
    return 0
