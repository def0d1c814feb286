"""``picsellia-tf``: the command line, thin commands over the package's functions.

Exit codes: 0 success, 1 the command failed (API, network, bad data, I/O), 2 usage error,
130 interrupted.
Errors go to stderr. The token comes from ``PICSELLIA_TOKEN`` and is never printed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from picsellia_tf._version import __version__
from picsellia_tf.cli._common import COMMANDS
from picsellia_tf.errors import PicselliaError


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser. Without ``argv``, every command is registered in full; with it,
    only the module of the command ``argv`` names is imported (each module defines
    ``register(subparsers)``), the others are listed by name and help only, so that
    ``picsellia-tf --help`` and each command import only what they use."""
    parser = argparse.ArgumentParser(
        prog="picsellia-tf",
        description="Picsellia for TensorFlow/Keras: platform setup, teardown and log upload.",
    )
    parser.add_argument("--version", action="version", version=f"picsellia-tf {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if argv is None:
        wanted = {module for module, _ in COMMANDS.values()}
    else:
        named = next((a for a in argv if not a.startswith("-")), None)
        wanted = {COMMANDS[named][0]} if named in COMMANDS else set()
    registered: set[str] = set()
    for name, (module, help) in COMMANDS.items():
        if module not in wanted:
            subparsers.add_parser(name, help=help, description=help)
        elif module not in registered:
            importlib.import_module(f"picsellia_tf.cli.{module}").register(subparsers)
            registered.add(module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
    except PicselliaError as exc:
        from picsellia_tf.cli._common import describe_error

        print(f"picsellia-tf: error: {describe_error(exc, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("picsellia-tf: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file that cannot be read, stdout full or closed (``| head``)
        if not isinstance(exc, BrokenPipeError):
            print(f"picsellia-tf: error: {exc}", file=sys.stderr)
        _release_stdout()
        return 1
    return int(code or 0)


def _release_stdout() -> None:
    """After an I/O error, make sure the interpreter's final flush of stdout cannot fail."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
