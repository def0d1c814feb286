"""The ``serve`` command, shared by ``picsellia-tf serve`` and ``python -m picsellia_tf.local``."""

from __future__ import annotations

import argparse
import ipaddress
import sys

DEFAULT_DATA_DIR = "./picsellia-data"
DEFAULT_PORT = 8080


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serve options."""
    parser.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help=f"data folder (default {DEFAULT_DATA_DIR})"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    parser.add_argument("--token", default=None, help="use this token for the default user")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    from picsellia_tf.local.server import LocalServer

    try:
        server = LocalServer(args.data_dir, host=args.host, port=args.port, token=args.token)
        server.start()
    except (OSError, ValueError) as exc:
        print(f"picsellia-tf serve: error: {exc}", file=sys.stderr)
        return 1
    if not is_loopback(args.host):
        print(
            f"warning: serving on {args.host}, reachable from other machines; "
            "anyone who knows the token can use this platform",
            file=sys.stderr,
        )
    print(f"Picsellia local platform at {server.url}", flush=True)
    print(f"token: {server.token}", flush=True)
    print(f"dashboard: {server.url}/?token={server.token}", flush=True)
    print(f"data: {server.data_dir.resolve()}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0
