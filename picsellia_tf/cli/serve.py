"""picsellia-tf serve: run the local platform."""

from __future__ import annotations

import argparse

from picsellia_tf.cli._common import command_help
from picsellia_tf.local.command import add_arguments, run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help=command_help("serve"),
        description="Serve the Picsellia API locally, with its data in a folder.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
