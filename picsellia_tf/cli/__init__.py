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
from picsellia_tf.errors import PicselliaError

# Each module defines ``register(subparsers)``, adding its commands with ``set_defaults(func=...)``.
COMMAND_MODULES = ("check", "serve", "resources", "experiments", "logs", "cleanup")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every command registered."""
    parser = argparse.ArgumentParser(
        prog="picsellia-tf",
        description="Picsellia for TensorFlow/Keras: platform setup, teardown and log upload.",
    )
    parser.add_argument("--version", action="version", version=f"picsellia-tf {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"picsellia_tf.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = build_parser()
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
