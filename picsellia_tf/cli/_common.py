"""Helpers shared by the commands: global options, the client, output."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from picsellia_tf.client import Client


COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "Check the connection and the token ($PICSELLIA_TOKEN)."),
    "serve": ("serve", "Serve the local platform (SQLite + files) until Ctrl-C."),
    "projects": ("projects", "List, show, create and delete projects."),
    "datasets": ("datasets", "List, show, upload to and delete datasets."),
    "models": ("models", "List, show and delete models."),
    "experiments": (
        "experiments",
        "List experiment versions; show, print the logs of, or download the previews of one.",
    ),
    "sync": (
        "logs",
        "Send spooled logs and previews (offline runs, or runs that could not reach the "
        "platform); send a run to another host, or drop it.",
    ),
    "push-logs": ("logs", "Send the scalars of a TensorBoard logdir to an experiment version."),
    "cleanup": (
        "cleanup",
        "Delete projects, models, datasets or experiment versions by id or name pattern.",
    ),
}
"""Every command: the module of ``picsellia_tf.cli`` that registers it, and its one-line help
(here, so that ``picsellia-tf --help`` lists the commands without importing them)."""


def command_help(name: str) -> str:
    """The one-line help of the command ``name``."""
    return COMMANDS[name][1]


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """``--host`` and ``--json`` for a command that talks to the platform."""
    parser.add_argument(
        "--host", default=None, help="platform URL (default: $PICSELLIA_HOST or app.picsellia.com)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_group(subparsers: Any, name: str, help: str, *, dest: str, metavar: str) -> Any:
    """A command group ``name``; returns the subparsers its commands are added to."""
    parser = subparsers.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest=dest, metavar=metavar, required=True)


def add_command(
    group: Any, name: str, help: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """A command of ``group`` that talks to the platform and runs ``func``."""
    parser: argparse.ArgumentParser = group.add_parser(name, help=help, description=help)
    add_connection_options(parser)
    parser.set_defaults(func=func)
    return parser


NO_TOKEN = (
    "no API token: set PICSELLIA_TOKEN (yours is in your Picsellia profile settings, "
    "'API token'; `picsellia-tf serve` prints the one of the local platform it runs)"
)


CLIENT_DEFAULTS: dict[str, Any] = {"max_retries": 3, "retry_deadline": 15.0}
"""The CLI's client options: a person is waiting, so fail within seconds rather than retrying
for a minute (a command may ask for others)."""


def cli_client(host: str | None, **options: Any) -> Client:
    """The one way the commands build a client (close it after use: ``with``): the token from
    ``$PICSELLIA_TOKEN``, never from a flag; ``host`` (``--host``, a spooled run's host) or
    ``$PICSELLIA_HOST``; :data:`CLIENT_DEFAULTS` unless ``options`` say otherwise; errors in
    the CLI's words."""
    import os

    from picsellia_tf._http import validate_host
    from picsellia_tf.client import Client
    from picsellia_tf.errors import ConfigurationError

    if not os.environ.get("PICSELLIA_TOKEN", "").strip():
        raise ConfigurationError(NO_TOKEN)
    if host is not None:
        host = validate_host(host, "--host")
    return Client(host=host, **{**CLIENT_DEFAULTS, **options})


def make_client(args: argparse.Namespace, **options: Any) -> Client:
    """The client of a command with ``--host``: see :func:`cli_client`."""
    return cli_client(getattr(args, "host", None), **options)


def describe_error(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """An error as the CLI says it: the full URL it tried, one wording for a refused token,
    and a note when no host was given so the public platform was used."""
    import os

    from picsellia_tf.errors import APIError, AuthenticationError

    host = getattr(exc, "host", None)
    if isinstance(exc, AuthenticationError) and exc.status == 401 and host:
        text = (
            f"{host} refused the token ({exc.message}; 401 on {exc.method} {exc.path}): "
            "check PICSELLIA_TOKEN"
        )
    elif isinstance(exc, APIError) and host:
        text = f"{exc.status} on {exc.method} {host}{exc.path}: {exc.message}"
    else:
        text = str(exc)
    if host is not None and getattr(args, "host", None) is None:
        from picsellia_tf.client import DEFAULT_HOST

        if host == DEFAULT_HOST and not os.environ.get("PICSELLIA_HOST"):
            text += " (neither --host nor PICSELLIA_HOST was given: this is the public platform)"
    return text


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, lists and dicts as plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    return obj


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        json.dump(to_jsonable(data), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(text)


def confirm(question: str) -> bool:
    """Ask on stderr, read one line of stdin; only ``y``/``yes`` is yes (EOF means no)."""
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):
        answer = ""
    if not answer.endswith("\n"):
        print(file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> str:
    """Left-aligned columns; ``empty`` when there are no rows."""
    if not rows:
        return empty
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def fields(*pairs: tuple[str, Any]) -> str:
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


def progress(message: str) -> None:
    """A progress line on stderr (stdout stays clean for ``--json``)."""
    print(message, file=sys.stderr, flush=True)
