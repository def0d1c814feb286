"""The ``serve`` command, shared by ``picsellia-tf serve`` and ``python -m picsellia_tf.local``."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import re
import sys
from typing import TYPE_CHECKING, Any

from picsellia_tf.local.limits import Limits, format_size, parse_size

if TYPE_CHECKING:
    from picsellia_tf.local.server import LocalServer

DEFAULT_DATA_DIR = "./picsellia-data"
DEFAULT_PORT = 8080
_DEFAULTS = Limits()


def _size(text: str) -> int:
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return size


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serve options."""
    parser.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help=f"data folder (default {DEFAULT_DATA_DIR})"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    parser.add_argument("--token", default=None, help="use this token for the default user")
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="base of the URLs the server hands out (signed storage URLs), for a server behind "
        "a proxy or reached by another name, e.g. https://picsellia.example.org "
        "(default: http://HOST:PORT as bound)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-body-size",
        type=_size,
        default=_DEFAULTS.max_body_size,
        metavar="SIZE",
        help=f"largest request body, e.g. an upload (default {format_size(_DEFAULTS.max_body_size)})",
    )
    limits.add_argument(
        "--max-json-size",
        type=_size,
        default=_DEFAULTS.max_json_size,
        metavar="SIZE",
        help=f"largest JSON body (default {format_size(_DEFAULTS.max_json_size)})",
    )
    limits.add_argument(
        "--max-header-size",
        type=_size,
        default=_DEFAULTS.max_header_size,
        metavar="SIZE",
        help=f"largest request line + headers (default {format_size(_DEFAULTS.max_header_size)})",
    )
    limits.add_argument(
        "--request-timeout",
        type=_positive(float),
        default=_DEFAULTS.request_timeout,
        metavar="SECONDS",
        help="time a client has to send a request, plus 1 s per "
        f"{format_size(_DEFAULTS.min_rate)} received; slower is answered 408 "
        f"(default {_DEFAULTS.request_timeout:g})",
    )
    limits.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=_DEFAULTS.idle_timeout,
        metavar="SECONDS",
        help=f"close a connection silent this long (default {_DEFAULTS.idle_timeout:g})",
    )
    limits.add_argument(
        "--threads",
        type=_positive(int),
        default=_DEFAULTS.threads,
        help=f"requests handled at once (default {_DEFAULTS.threads})",
    )
    limits.add_argument(
        "--connection-limit",
        type=_positive(int),
        default=_DEFAULTS.connection_limit,
        metavar="N",
        help=f"open connections at once (default {_DEFAULTS.connection_limit})",
    )


def limits_of(args: argparse.Namespace) -> Limits:
    """The Limits the parsed options give; ValueError naming the options."""
    try:
        return _limits(args)
    except ValueError as exc:
        names = "|".join(field.name for field in dataclasses.fields(Limits))
        raise ValueError(re.sub(rf"\b({names})\b", _option, str(exc))) from None


def _option(match: re.Match[str]) -> str:
    return "--" + match[1].replace("_", "-")


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_body_size=args.max_body_size,
        max_json_size=args.max_json_size,
        max_header_size=args.max_header_size,
        request_timeout=args.request_timeout,
        idle_timeout=args.idle_timeout,
        threads=args.threads,
        connection_limit=args.connection_limit,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    from picsellia_tf.local.server import LocalServer

    try:
        limits = limits_of(args)
        server = LocalServer(
            args.data_dir,
            host=args.host,
            port=args.port,
            token=args.token,
            limits=limits,
            public_url=args.public_url,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"picsellia-tf serve: error: {exc}", file=sys.stderr)
        return 1
    # From the start on, Ctrl-C (a SIGINT as early as the first answer) stops the server
    # cleanly, whichever line the main thread is at.
    try:
        try:
            server.start()
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"picsellia-tf serve: error: {exc}", file=sys.stderr)
            return 1
        _announce(args, server)
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.stop()
    return 0


def _announce(args: argparse.Namespace, server: LocalServer) -> None:
    """Print where the server is, the token, and the warnings its options deserve."""
    if not is_loopback(args.host):
        print(
            f"warning: serving on {args.host}, reachable from other machines; "
            "anyone who knows the token can use this platform",
            file=sys.stderr,
        )
    if args.public_url is None and _unspecified(args.host):
        print(
            f"warning: signed URLs will point at {server.url}, which other machines cannot "
            "open; give --public-url with the address they use",
            file=sys.stderr,
        )
    print(f"Picsellia local platform at {server.url}", flush=True)
    print(f"public URL: {server.public_url}", flush=True)  # what signed URLs point at
    print(f"token: {server.token}", flush=True)
    print(f"dashboard: {server.public_url}/?token={server.token}", flush=True)
    print(f"data: {server.data_dir.resolve()}  (Ctrl-C to stop)", flush=True)
