"""Helpers shared by the commands: global options, the client, output."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from picsellia_tf.client import Client


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


def make_client(args: argparse.Namespace) -> Client:
    """A client from the environment's token and ``--host``; never takes the token as a flag."""
    from picsellia_tf.client import Client

    # A person is waiting: fail within seconds rather than retrying for a minute.
    return Client(host=getattr(args, "host", None), max_retries=3, retry_deadline=15.0)


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
