"""``picsellia-tf sync`` and ``picsellia-tf push-logs``: send training logs after the fact.

Both deliver through :mod:`picsellia_tf.sender`, the one place that knows retries and
deadlines.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from picsellia_tf.cli._common import (
    add_connection_options,
    cli_client,
    command_help,
    describe_error,
    emit,
    make_client,
)
from picsellia_tf.errors import ValidationError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sync`` and ``push-logs``."""
    sync = subparsers.add_parser(
        "sync",
        help=command_help("sync"),
        description=(
            "Deliver every run spooled under SPOOL_DIR (or SPOOL_DIR itself if it is one run's "
            "directory): its points and preview images. A run whose experiment was never "
            "started is started first. Each run goes to the host recorded in its meta.json, "
            "else to $PICSELLIA_HOST; the token comes from $PICSELLIA_TOKEN. Runs whose server "
            "does not answer are listed and left spooled; the others are delivered and removed "
            "from the spool. --host sends the runs to another platform from now on (the same "
            "experiment ids, as when a platform moved with its data; --training-id and "
            "--network-id map one run to a version there, --project-id starts a new version "
            "there: both resend the whole run). --drop deletes the runs from the spool, after "
            "a prompt. Exit 1 if anything was left undelivered, or if a run lost points while "
            "training (its disk full and the platform unreachable: the count is reported)."
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
    sync.add_argument(
        "--training-id",
        type=int,
        default=None,
        help="with --network-id: send the run to this experiment version (one run only)",
    )
    sync.add_argument("--network-id", default=None, help="model id of --training-id's version")
    sync.add_argument(
        "--project-id", default=None, help="start a new experiment version in this project"
    )
    sync.add_argument(
        "--model-name", default=None, help="with --project-id: the model (default: the run's)"
    )
    sync.add_argument(
        "--drop", action="store_true", help="delete the runs from the spool instead (prompts)"
    )
    sync.add_argument("--yes", "-y", action="store_true", help="with --drop: do not ask")

    push = subparsers.add_parser(
        "push-logs",
        help=command_help("push-logs"),
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
    """Deliver the spooled runs (or drop them); 1 if any stays undelivered."""
    from picsellia_tf.client import Client
    from picsellia_tf.errors import PicselliaError
    from picsellia_tf.sender import sync_run
    from picsellia_tf.spool import Spool, find_runs, read_dropped

    runs = find_runs(args.spool_dir)
    _check_sync_options(args, runs)
    if args.drop:
        return _drop_runs(args, runs)
    cli_client(args.host).close()  # no token, or a bad --host: said once, before any run
    clients: dict[str | None, Client] = {}
    unusable: dict[str | None, tuple[str, bool] | None] = {}  # host -> (why, unreachable)
    report: list[dict[str, Any]] = []
    lines: list[str] = []
    stranded: dict[str, list[str]] = {}  # unreachable host -> its runs
    failed = 0
    for path in runs:
        entry: dict[str, Any] = {"run": str(path), "sent": 0, "previews": 0, "complete": False}
        entry["lost"] = lost = read_dropped(path)  # points dropped while training
        try:
            spool = Spool.open(path)
            moved = _retarget(spool, args)
            host = spool.meta.host
            entry["host"] = host or _default_host()
            if host not in clients:
                clients[host] = cli_client(host)
                unusable[host] = _probe(clients[host])
            problem = unusable[host]
            if problem is not None:
                entry.update(error=problem[0], unreachable=problem[1])
                if problem[1]:
                    stranded.setdefault(entry["host"], []).append(str(path))
                report.append(entry)
                failed += 1
                lines.append(f"{path}: not sent, stays spooled: {problem[0]}")
                if lost:
                    lines.append(_lost_note(path, lost))
                continue
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
                error = result.error
                hint = _not_found_hint(error, moved, spool)
                entry["error"] = (describe_error(error) if error else "incomplete") + hint
        except PicselliaError as exc:
            entry["error"] = describe_error(exc)
        report.append(entry)
        what = f"{entry['sent']} points"
        if entry["previews"]:
            what += f" and {entry['previews']} previews"
        if lost:
            lines.append(_lost_note(path, lost))
        if entry["complete"]:
            failed += 1 if lost else 0
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
    for host, paths in stranded.items():
        lines.append(_stranded_note(host, paths))
    emit(args, {"runs": report, "failed": failed}, "\n".join(lines))
    if failed:
        lost = sum(entry["lost"] for entry in report)
        extra = f" ({lost} points lost while training)" if lost else ""
        print(f"picsellia-tf: {failed} run(s) not fully delivered{extra}", file=sys.stderr)
        return 1
    return 0


def _lost_note(path: Any, lost: int) -> str:
    return (
        f"{path}: {lost} points were lost while training (the spool's disk was full and the "
        "platform unreachable); they cannot be sent"
    )


def _default_host() -> str:
    from picsellia_tf.client import DEFAULT_HOST

    return os.environ.get("PICSELLIA_HOST") or DEFAULT_HOST


def _check_sync_options(args: argparse.Namespace, runs: list[Any]) -> None:
    """Refuse the option combinations ``sync`` cannot honour, in the CLI's words."""
    mapped = args.training_id is not None or args.network_id is not None
    if mapped and (args.training_id is None or args.network_id is None):
        raise ValidationError("--training-id and --network-id go together")
    if args.training_id is not None and args.training_id < 1:
        raise ValidationError(f"--training-id: expected an int >= 1, got {args.training_id}")
    if mapped and args.project_id is not None:
        raise ValidationError(
            "--project-id starts a new version; --training-id/--network-id name an existing "
            "one: pass one or the other"
        )
    if args.model_name is not None and args.project_id is None:
        raise ValidationError("--model-name goes with --project-id")
    if mapped and len(runs) > 1:
        raise ValidationError(
            f"--training-id/--network-id map one run, and {args.spool_dir} holds {len(runs)}: "
            "pass that run's directory"
        )
    if args.drop and (mapped or args.project_id is not None or args.host is not None):
        raise ValidationError("--drop deletes runs: it takes no --host, --project-id or ids")
    if args.yes and not args.drop:
        raise ValidationError("--yes goes with --drop")


def _retarget(spool: Any, args: argparse.Namespace) -> bool:
    """Point the run at ``--host`` and the mapped or new version, in its ``meta.json``.

    The same ids on another host keep what was delivered; mapped ids or a new version resend
    the whole run. True if the run's destination changed.
    """
    from dataclasses import replace

    meta = spool.meta
    host = args.host.rstrip("/") if args.host is not None else meta.host
    if args.training_id is not None:
        new = replace(meta, host=host, training_id=args.training_id, network_id=args.network_id)
        new.project_id = None  # the recorded project is the old host's; found from used_in
    elif args.project_id is not None:
        new = replace(
            meta,
            host=host,
            project_id=args.project_id,
            model_name=args.model_name or meta.model_name or "model",
            training_id=None,
            network_id=None,
        )
    elif host != meta.host:
        new = replace(meta, host=host)
    else:
        return False
    resend = new.training_id != meta.training_id or new.network_id != meta.network_id
    spool.meta = new
    spool.write_meta()
    if resend or new.training_id is None:
        spool.ack(0)
        spool.ack_previews(0)
    return True


def _probe(client: Any) -> tuple[str, bool] | None:
    """None if ``client``'s server answers and takes the token, else (why not, unreachable).

    One try, without retries: a server that is gone is reported at once rather than after
    ``--timeout``; retries are for the failures met while delivering."""
    from picsellia_tf.errors import AuthenticationError, NetworkError, PicselliaError

    try:
        with client.with_options(max_retries=0, timeout=10.0) as probe:
            probe.check_connection()
    except NetworkError as exc:
        return str(exc), True
    except AuthenticationError as exc:
        return f"{client.host} refused the token ({exc.message}): check PICSELLIA_TOKEN", False
    except PicselliaError:
        return None  # it answers; delivery reports what goes wrong
    return None


def _not_found_hint(error: BaseException | None, moved: bool, spool: Any) -> str:
    from picsellia_tf.errors import NotFoundError

    if not moved or not isinstance(error, NotFoundError):
        return ""
    return (
        f" (training_id={spool.meta.training_id} network_id={spool.meta.network_id} is not on "
        f"{spool.meta.host}: pass --project-id to start a new version there, or "
        "--training-id/--network-id to map the run to one)"
    )


def _stranded_note(host: str, paths: list[str]) -> str:
    runs = "\n".join(f"  {p}" for p in paths)
    return (
        f"{len(paths)} run(s) spooled for {host}, which does not answer:\n{runs}\n"
        f"  send one to another platform: picsellia-tf sync RUN_DIR --host URL "
        "[--project-id ID to start a new version there]\n"
        "  or delete it: picsellia-tf sync RUN_DIR --drop"
    )


def _drop_runs(args: argparse.Namespace, runs: list[Any]) -> int:
    """Delete runs from the spool after a prompt (or ``--yes``)."""
    from picsellia_tf.cli._common import confirm
    from picsellia_tf.spool import Spool

    if not runs:
        emit(args, {"dropped": []}, f"{args.spool_dir}: no spooled runs")
        return 0
    spools = [Spool.open(path) for path in runs]
    listing = "\n".join(f"  {_describe_run(spool)}" for spool in spools)
    if not args.yes:
        print(f"about to delete from the spool:\n{listing}", file=sys.stderr)
        if not confirm(f"Delete {len(spools)} run(s) and what they hold? [y/N] "):
            print("picsellia-tf: aborted; nothing deleted", file=sys.stderr)
            return 1
    for spool in spools:
        spool.remove()
    dropped = [str(spool.path) for spool in spools]
    emit(args, {"dropped": dropped}, "\n".join(f"dropped {p}" for p in dropped))
    return 0


def _describe_run(spool: Any) -> str:
    points = sum(1 for _ in spool.iter_points(spool.acked()))
    previews = len(spool.read_previews(spool.previews_acked(), 1_000_000)[0])
    where = spool.meta.host or _default_host()
    ids = (
        f"training_id={spool.meta.training_id} network_id={spool.meta.network_id}"
        if spool.meta.has_experiment
        else f"a new version of {spool.meta.model_name!r}"
    )
    return f"{spool.path}: {points} points, {previews} previews undelivered, for {ids} on {where}"


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
    if total == 0:
        raise ValidationError(_nothing_to_push(args))
    with make_client(args) as client:
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
        "error": None if result.error is None else describe_error(result.error, args),
    }
    text = f"{result.sent} of {total} points in {len(logs)} tags sent to training_id=" + (
        f"{args.training_id} network_id={args.network_id}"
    )
    if not result.complete:
        text += "; stopped: " + (describe_error(result.error, args) if result.error else "?")
    emit(args, data, text)
    return 0 if result.complete else 1


def _nothing_to_push(args: argparse.Namespace) -> str:
    """Why ``push-logs`` would send nothing, with the runs and tags the logdir does have."""
    from picsellia_tf import tfevents

    everything = tfevents.LogdirTailer(args.logdir)
    tags = sorted(everything.poll_logs())
    runs = sorted({file.run or "." for file in everything.files})
    if not runs:
        return (
            f"{args.logdir}: no TensorBoard event files (*tfevents*) in it or below; nothing sent"
        )
    have = f"runs: {', '.join(runs)}"
    if not tags:
        return f"{args.logdir}: its event files hold no scalars ({have}); nothing sent"
    shown = ", ".join(tags[:12]) + (f", ... ({len(tags)} in all)" if len(tags) > 12 else "")
    asked = " ".join(
        f"{flag} {' '.join(values)}"
        for flag, values in (("--runs", args.runs), ("--tags", args.tags))
        if values
    )
    return f"{args.logdir}: {asked} select no scalars; {have}; tags: {shown}; nothing sent"
