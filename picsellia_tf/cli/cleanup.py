"""picsellia-tf commands: cleanup (delete projects, models, datasets, experiment versions)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from picsellia_tf import teardown
from picsellia_tf.cli._common import (
    add_command,
    add_group,
    command_help,
    confirm,
    emit,
    make_client,
)

if TYPE_CHECKING:
    from picsellia_tf.client import Client

Planner = Callable[["Client", argparse.Namespace], list[teardown.Target]]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cleanup`` and its ``projects``/``models``/``datasets``/``experiments`` commands."""
    help = command_help("cleanup")
    kinds = add_group(subparsers, "cleanup", help, dest="kind", metavar="KIND")
    for kind, planner in (
        ("projects", _plan_projects),
        ("models", _plan_models),
        ("datasets", _plan_datasets),
    ):
        sub = _command(kinds, kind, f"Delete {kind} by id or name pattern.", planner)
        sub.add_argument(
            "patterns",
            nargs="+",
            metavar="PATTERN",
            help=f"{kind[:-1]} id, or name glob (quote it: 'tmp-*')",
        )
    sub = _command(
        kinds,
        "experiments",
        "Delete the experiment versions of models, optionally keeping the newest.",
        _plan_experiments,
    )
    sub.add_argument(
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="ID_OR_PATTERN",
        help="model id or name glob (repeatable)",
    )
    sub.add_argument(
        "--keep-last",
        type=_non_negative,
        default=0,
        metavar="N",
        help="keep the N newest versions of each model (default 0)",
    )
    sub.add_argument(
        "--project",
        dest="projects",
        action="append",
        default=[],
        metavar="ID_OR_PATTERN",
        help="only versions trained in these projects (repeatable)",
    )


def _command(kinds: Any, name: str, help: str, planner: Planner) -> argparse.ArgumentParser:
    parser = add_command(kinds, name, help, lambda args: _run(args, planner))
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted; delete nothing"
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--all",
        dest="allow_all",
        action="store_true",
        help="allow a pattern that selects every object of the kind",
    )
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {value}")
    return value


def _plan_projects(client: Client, args: argparse.Namespace) -> list[teardown.Target]:
    return teardown.plan_projects(client, args.patterns, allow_all=args.allow_all)


def _plan_models(client: Client, args: argparse.Namespace) -> list[teardown.Target]:
    return teardown.plan_models(client, args.patterns, allow_all=args.allow_all)


def _plan_datasets(client: Client, args: argparse.Namespace) -> list[teardown.Target]:
    return teardown.plan_datasets(client, args.patterns, allow_all=args.allow_all)


def _plan_experiments(client: Client, args: argparse.Namespace) -> list[teardown.Target]:
    return teardown.plan_experiments(
        client,
        args.models,
        keep_last=args.keep_last,
        projects=args.projects,
        allow_all=args.allow_all,
    )


def _dry_plan(
    client: Client, args: argparse.Namespace, planner: Planner
) -> tuple[list[teardown.Target], list[str]]:
    """What a dry run lists: every pattern's objects, even all of them; a pattern that matches
    nothing is a warning, not a refusal."""
    field = "models" if args.kind == "experiments" else "patterns"
    plan: list[teardown.Target] = []
    unmatched: list[str] = []
    for pattern in getattr(args, field):
        one = argparse.Namespace(**{**vars(args), field: [pattern], "allow_all": True})
        try:
            targets = planner(client, one)
        except teardown.SelectionError as exc:
            unmatched.append(str(exc).removesuffix("; nothing deleted"))
            continue
        plan.extend(t for t in targets if t not in plan)
    return plan, unmatched


def _plan(client: Client, args: argparse.Namespace, planner: Planner) -> list[teardown.Target]:
    try:
        return planner(client, args)
    except teardown.SelectionError as exc:
        raise teardown.SelectionError(str(exc).replace(teardown.ALL_OPTION, "--all")) from None


def _run(args: argparse.Namespace, planner: Planner) -> int:
    with make_client(args) as client:
        unmatched: list[str] = []
        if args.dry_run:
            plan, unmatched = _dry_plan(client, args, planner)
        else:
            plan = _plan(client, args, planner)
        plan = teardown.ordered(plan)
        warnings = unmatched + teardown.warnings(plan)
        for warning in warnings:
            print(f"picsellia-tf: warning: {warning}", file=sys.stderr)
        listing = "\n".join(f"  {t.describe()}" for t in plan)
        if not plan:
            emit(args, _report(plan, warnings, dry_run=args.dry_run), "nothing to delete")
            return 0
        if args.dry_run:
            text = (
                f"would delete {teardown.count_phrase(plan)}:\n{listing}\n"
                "(dry run: nothing deleted)"
            )
            emit(args, _report(plan, warnings, dry_run=True), text)
            return 0
        if not args.yes:
            print(f"about to delete:\n{listing}", file=sys.stderr)
            if not confirm(f"Delete {teardown.count_phrase(plan)}? [y/N] "):
                print("picsellia-tf: aborted; nothing deleted", file=sys.stderr)
                return 1
        printer = None if args.json else _print_result
        outcome = teardown.execute(client, plan, on_result=printer)
    summary = (
        f"deleted {len(outcome.deleted)}, already gone {len(outcome.already_gone)}, "
        f"failed {len(outcome.failed)}"
    )
    emit(args, _report(plan, warnings, dry_run=False, outcome=outcome), summary)
    if not outcome.ok:
        print(
            f"picsellia-tf: error: {len(outcome.failed)} of {len(plan)} deletions failed",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_result(target: teardown.Target, status: str, error: str | None) -> None:
    line = f"{status}: {target.describe()}" + (f": {error}" if error else "")
    print(line, flush=True)


def _report(
    plan: list[teardown.Target],
    warnings: list[str],
    *,
    dry_run: bool,
    outcome: teardown.Outcome | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {"dry_run": dry_run, "plan": plan, "warnings": warnings}
    if outcome is not None:
        report["deleted"] = outcome.deleted
        report["already_gone"] = outcome.already_gone
        report["failed"] = outcome.failed
    return report
