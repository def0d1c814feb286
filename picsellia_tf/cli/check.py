"""``picsellia-tf check``: is the platform reachable, and whose is the token?"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from picsellia_tf.cli._common import add_connection_options, emit
from picsellia_tf.client import Client
from picsellia_tf.errors import AuthenticationError, NetworkError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check``."""
    parser = subparsers.add_parser(
        "check",
        help="Check the connection and the token ($PICSELLIA_TOKEN).",
        description="Check that the platform answers and the token in $PICSELLIA_TOKEN is valid.",
    )
    add_connection_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print who the token belongs to and the host; 1 on auth or network errors."""
    # A check answers quickly: two retries within 10 s rather than the API defaults.
    client = Client(host=args.host, timeout=10.0, max_retries=2, retry_deadline=10.0)
    with client:
        try:
            account = client.check_connection()
        except AuthenticationError as exc:
            print(
                f"picsellia-tf: error: {client.host} refused the token ({exc.message}); "
                "check PICSELLIA_TOKEN",
                file=sys.stderr,
            )
            return 1
        except NetworkError as exc:
            print(f"picsellia-tf: error: cannot reach {client.host}: {exc}", file=sys.stderr)
            return 1
    org = f" ({account.organisation})" if account.organisation else ""
    emit(
        args,
        {"host": client.host, **dataclasses.asdict(account)},
        f"Connected to {client.host} as {account.username} <{account.email}>{org}",
    )
    return 0
