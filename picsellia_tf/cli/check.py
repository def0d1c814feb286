"""``picsellia-tf check``: is the platform reachable, and whose is the token?"""

from __future__ import annotations

import argparse
import dataclasses

from picsellia_tf.cli._common import add_connection_options, command_help, emit, make_client
from picsellia_tf.types import Account


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check``."""
    parser = subparsers.add_parser(
        "check",
        help=command_help("check"),
        description="Check that the platform answers and the token in $PICSELLIA_TOKEN is valid.",
    )
    add_connection_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print who the token belongs to and the host; 1 on auth or network errors."""
    # A check answers quickly: two retries within 10 s rather than the API defaults. Its
    # errors (refused token, unreachable host) are worded as every command's, by cli.main.
    with make_client(args, timeout=10.0, max_retries=2, retry_deadline=10.0) as client:
        account = client.check_connection()
    emit(args, {"host": client.host, **dataclasses.asdict(account)}, describe(client.host, account))
    return 0


def describe(host: str, account: Account) -> str:
    """One line saying what the check confirmed: the token, and who or what it names where the
    platform said so (the reference's answer names only a project)."""
    who = account.username or account.email
    if account.username and account.email:
        who = f"{account.username} <{account.email}>"
    text = f"Connected to {host}: token accepted"
    if who:
        text += f", as {who}"
    if account.organisation:
        text += f" ({account.organisation})"
    if account.project_id:
        text += f", project {account.project_id}"
    if not who:
        text += "; the platform did not say whose token it is"
    return text
