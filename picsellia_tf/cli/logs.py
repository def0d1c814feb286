"""``picsellia-tf sync`` and ``picsellia-tf push-logs``: send training logs after the fact.

Both deliver through :mod:`picsellia_tf.sender`, the one place that knows retries and
deadlines.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from picsellia_tf.cli._common import add_connection_options, emit, make_client


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sync`` and ``push-logs``."""
    sync = subparsers.add_parser(
        "sync",
        help=(
            "Send spooled logs and previews (offline runs, or runs that could not reach the "
            "platform)."
        ),
        description=(
            "Deliver every run spooled under SPOOL_DIR (or SPOOL_DIR itself if it is one run's "
            "directory): its points and preview images. A run whose experiment was never "
            "started is started first. Each run goes to --host if given, else to the host "
            "recorded in its meta.json, else to $PICSELLIA_HOST; the token comes from "
            "$PICSELLIA_TOKEN. Delivered runs are removed from the spool; what cannot be "
            "delivered stays there. Exit 1 if anything was left undelivered."
        ),
    )
    sync.add_argument("spool_dir", metavar="SPOOL_DIR", help="spool directory or one run in it")
    sync.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to keep retrying each run while the platform fails (default 120)",
    )
    add_connection_options(sync)
    sync.set_defaults(func=cmd_sync)

    push = subparsers.add_parser(
        "push-logs",
        help="Send the scalars of a TensorBoard logdir to an experiment version.",
        description="Read every scalar of LOGDIR's event files and post them, in chunks.",
    )
    push.add_argument("logdir", metavar="LOGDIR", help="TensorBoard log directory")
    push.add_argument("--training-id", type=int, required=True, help="experiment version")
    push.add_argument("--network-id", required=True, help="model id of the experiment")
    push.add_argument("--runs", nargs="+", default=None, help="only these runs (subdirectories)")
    push.add_argument("--tags", nargs="+", default=None, help="only these tags")
    push.add_argument(
        "--chunk", type=int, default=10_000, help="points per request (default 10000)"
    )
    push.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to keep retrying (default 120)"
    )
    add_connection_options(push)
    push.set_defaults(func=cmd_push_logs)


def cmd_sync(args: argparse.Namespace) -> int:
    """Deliver the spooled runs; 1 if any stays undelivered."""
    from picsellia_tf.client import Client
    from picsellia_tf.errors import PicselliaError
    from picsellia_tf.sender import sync_run
    from picsellia_tf.spool import Spool, find_runs

    runs = find_runs(args.spool_dir)
    clients: dict[str | None, Client] = {}
    report: list[dict[str, Any]] = []
    lines: list[str] = []
    failed = 0
    for path in runs:
        entry: dict[str, Any] = {"run": str(path), "sent": 0, "previews": 0, "complete": False}
        try:
            spool = Spool.open(path)
            host = args.host or spool.meta.host
            if host not in clients:
                clients[host] = Client(host=host)
            result = sync_run(spool, clients[host], timeout=args.timeout)
            entry.update(
                sent=result.sent - result.previews,
                previews=result.previews,
                complete=result.complete,
                training_id=spool.meta.training_id,
                network_id=spool.meta.network_id,
            )
            if result.complete:
                spool.remove()
            else:
                entry["error"] = str(result.error)
        except PicselliaError as exc:
            entry["error"] = str(exc)
        report.append(entry)
        what = f"{entry['sent']} points"
        if entry["previews"]:
            what += f" and {entry['previews']} previews"
        if entry["complete"]:
            lines.append(
                f"{path}: {what} sent to training_id={entry['training_id']} "
                f"network_id={entry['network_id']}"
            )
        else:
            failed += 1
            lines.append(f"{path}: {what} sent, the rest stays spooled: {entry['error']}")
    for client in clients.values():
        client.close()
    if not runs:
        lines.append(f"{args.spool_dir}: no spooled runs")
    emit(args, {"runs": report, "failed": failed}, "\n".join(lines))
    if failed:
        print(f"picsellia-tf: {failed} run(s) not fully delivered", file=sys.stderr)
        return 1
    return 0


def cmd_push_logs(args: argparse.Namespace) -> int:
    """Post a logdir's scalars; 1 if not everything was accepted."""
    from picsellia_tf import tfevents
    from picsellia_tf.errors import ValidationError
    from picsellia_tf.sender import post_logs_chunked

    if args.chunk < 1:
        raise ValidationError(f"--chunk: expected an int >= 1, got {args.chunk}")
    if args.training_id < 1:
        raise ValidationError(f"--training-id: expected an int >= 1, got {args.training_id}")
    logs = tfevents.read_logs(args.logdir, runs=args.runs, tags=args.tags)
    total = sum(len(series["step"]) for series in logs.values())
    client = make_client(args)
    result = post_logs_chunked(
        client,
        args.training_id,
        args.network_id,
        logs,
        chunk=args.chunk,
        timeout=args.timeout,
    )
    data = {
        "tags": len(logs),
        "points": total,
        "sent": result.sent,
        "complete": result.complete,
        "error": None if result.error is None else str(result.error),
    }
    text = f"{result.sent} of {total} points in {len(logs)} tags sent to training_id=" + (
        f"{args.training_id} network_id={args.network_id}"
    )
    if not result.complete:
        text += f"; stopped: {result.error}"
    emit(args, data, text)
    return 0 if result.complete else 1
