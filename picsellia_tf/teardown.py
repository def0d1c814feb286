"""Teardown: pick platform objects by id or name pattern, then delete them in a safe order.

Planning (``plan_*``) only reads: it returns the list of :class:`Target` that would go. Executing
(:func:`execute`) deletes them: experiment versions first, then projects (so the datasets they
use are freed), then models, then datasets. A pattern is an exact id or name, else a name
glob. Selection refuses a pattern that matches nothing, and a wildcard selection that takes
every object of a kind unless ``allow_all`` is set.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from picsellia_tf._checks import check_int
from picsellia_tf.errors import NotFoundError, PicselliaError, ValidationError

if TYPE_CHECKING:
    from picsellia_tf.client import Client
    from picsellia_tf.types import ProjectRef

KINDS: tuple[str, ...] = ("experiment", "project", "model", "dataset")
"""Target kinds, in the order :func:`execute` deletes them."""

_PLURALS = {
    "experiment": "experiment versions",
    "project": "projects",
    "model": "models",
    "dataset": "datasets",
}
_WILDCARDS = frozenset("*?[")
ALL_OPTION = "allow_all=True"
"""How a refusal to select everything names the way past it (the CLI says ``--all``)."""

T = TypeVar("T")


class SelectionError(ValidationError):
    """A selection was refused: a pattern matched nothing, or everything without ``allow_all``."""


@dataclass(frozen=True)
class Target:
    """One object a teardown would delete.

    For experiment versions, ``id`` is ``"<model_id>/<training_id>"`` and ``project_id``,
    ``model_id`` and ``training_id`` name the version. For datasets, ``used_by`` lists the
    projects using it (the platform refuses to delete a dataset a project still uses).
    """

    kind: str
    id: str
    name: str
    project_id: str | None = None
    model_id: str | None = None
    training_id: int | None = None
    used_by: tuple[ProjectRef, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(f"Target.kind: expected one of {KINDS}, got {self.kind!r}")
        if self.kind == "experiment" and None in (self.project_id, self.model_id, self.training_id):
            raise ValidationError(
                f"Target {self.id!r}: an experiment version needs project_id, model_id and "
                "training_id"
            )

    def describe(self) -> str:
        """A one-line human description, e.g. ``project 'demo' (3f2a...)``."""
        if self.kind == "experiment":
            return (
                f"experiment version {self.training_id} of model {self.name!r} "
                f"({self.model_id}, project {self.project_id})"
            )
        return f"{self.kind} {self.name!r} ({self.id})"


@dataclass(frozen=True)
class Failure:
    """A target whose deletion failed, with the error message."""

    target: Target
    error: str


@dataclass
class Outcome:
    """What :func:`execute` did: deleted, found already gone, or failed (with the reason)."""

    deleted: list[Target] = field(default_factory=list)
    already_gone: list[Target] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed


def plural(kind: str, n: int) -> str:
    """``"1 project"``, ``"3 projects"``, ``"2 experiment versions"``."""
    word = _PLURALS[kind]
    return f"{n} {word[:-1] if n == 1 else word}"


def count_phrase(plan: Sequence[Target]) -> str:
    """``"2 projects and 1 dataset"``: the plan's size by kind, in deletion order."""
    parts = [plural(k, n) for k in KINDS if (n := sum(t.kind == k for t in plan))]
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def is_wildcard(pattern: str) -> bool:
    """True when ``pattern`` has fnmatch wildcards (``*``, ``?``, ``[``)."""
    return any(c in _WILDCARDS for c in pattern)


def select(
    kind: str,
    objects: Iterable[T],
    patterns: str | Sequence[str],
    *,
    key: Callable[[T], tuple[str, str]],
    allow_all: bool = False,
) -> list[T]:
    """The objects a pattern names, in listing order.

    A pattern names the objects whose id or name it equals; if none, those whose name it
    fnmatches (case-sensitive). ``key`` gives an object's ``(id, name)``. Raises
    :class:`SelectionError` when no pattern is given, when any pattern matches nothing, or
    when a wildcard pattern is used and the selection is every object of the kind (unless
    ``allow_all``).
    """
    items = list(objects)
    patterns = _pattern_list(patterns, kind)
    if not patterns:
        raise SelectionError(f"give at least one {kind} id or name pattern")
    keys = [key(o) for o in items]
    chosen: set[int] = set()
    for pattern in patterns:
        hits = _hits(keys, pattern)
        if not hits:
            raise SelectionError(
                f"no {kind} matches {pattern!r} ({plural(kind, len(items))} in total); "
                "nothing deleted"
            )
        chosen |= hits
    if not allow_all and len(chosen) == len(items) and any(is_wildcard(p) for p in patterns):
        shown = " ".join(repr(p) for p in patterns)
        raise SelectionError(
            f"refusing: {shown} selects every {kind} ({len(items)} of {len(items)}); "
            f"pass {ALL_OPTION} to really delete them all"
        )
    return [items[i] for i in sorted(chosen)]


def _pattern_list(patterns: str | Sequence[str], kind: str) -> list[str]:
    """``patterns`` as a list of non-empty strings; one string is one pattern, not its letters."""
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    for pattern in items:
        if not isinstance(pattern, str) or not pattern:
            raise SelectionError(f"{kind} pattern must be a non-empty string, got {pattern!r}")
    return items


def _hits(keys: Sequence[tuple[str, str]], pattern: str) -> set[int]:
    """Indexes of the ``(id, name)`` keys ``pattern`` names: exactly if any, else by glob."""
    exact = {i for i, id_name in enumerate(keys) if pattern in id_name}
    return exact or {i for i, (_, name) in enumerate(keys) if fnmatch.fnmatchcase(name, pattern)}


def plan_projects(
    client: Client, patterns: str | Sequence[str], *, allow_all: bool = False
) -> list[Target]:
    """The projects selected by id or name pattern."""
    projects = client.projects.list()
    chosen = select(
        "project", projects, patterns, key=lambda p: (p.id, p.name), allow_all=allow_all
    )
    return [Target("project", p.id, p.name) for p in chosen]


def plan_models(
    client: Client, patterns: str | Sequence[str], *, allow_all: bool = False
) -> list[Target]:
    """The models selected by id or name pattern (their experiment versions go with them)."""
    models = client.models.list()
    chosen = select("model", models, patterns, key=lambda m: (m.id, m.name), allow_all=allow_all)
    return [Target("model", m.id, m.name) for m in chosen]


def plan_datasets(
    client: Client, patterns: str | Sequence[str], *, allow_all: bool = False
) -> list[Target]:
    """The datasets selected by id or name pattern, each with the projects still using it."""
    datasets = client.datasets.list()
    chosen = select(
        "dataset", datasets, patterns, key=lambda d: (d.id, d.name), allow_all=allow_all
    )
    return [Target("dataset", d.id, d.name, used_by=tuple(d.used_in)) for d in chosen]


def plan_experiments(
    client: Client,
    models: str | Sequence[str],
    *,
    keep_last: int = 0,
    projects: str | Sequence[str] = (),
    allow_all: bool = False,
) -> list[Target]:
    """Experiment versions of the selected models, all but the ``keep_last`` newest per model.

    ``models`` are model ids or name patterns. ``projects`` (ids or name patterns) narrows to
    the versions trained in those projects; ``keep_last`` then counts among what is left.
    """
    keep_last = check_int(keep_last, "keep_last", low=0)
    chosen = plan_models(client, models, allow_all=allow_all)
    projects = _pattern_list(projects, "project")
    listed = [(p.id, p.name) for p in client.projects.list()] if projects else []
    named = {pattern: {listed[i][0] for i in _hits(listed, pattern)} for pattern in projects}
    # An exact id may name a project deleted since (its versions stay with the model).
    wanted = set(projects).union(*named.values())
    plan: list[Target] = []
    seen_projects: set[str] = set()
    for model in chosen:
        infos = client.models.get(model.id)
        if not infos.versions_listed:
            raise SelectionError(
                f"cannot list the experiment versions of model {model.name!r} ({model.id}): "
                "the platform's model_infos does not list them (only the local platform "
                "does); delete a version by its ids instead, with "
                f"client.experiments.delete(project_id, {model.id!r}, training_id) or "
                f"'picsellia-tf experiments delete PROJECT_ID {model.id} TRAINING_ID'. "
                "Nothing deleted"
            )
        versions = sorted(infos.experiments, key=lambda e: e.training_id)
        seen_projects.update(e.project_id for e in versions if e.project_id)
        if projects:
            versions = [e for e in versions if e.project_id in wanted]
        doomed = versions[: max(0, len(versions) - keep_last)]
        plan.extend(
            Target(
                "experiment",
                f"{model.id}/{e.training_id}",
                model.name,
                project_id=e.project_id,
                model_id=model.id,
                training_id=e.training_id,
            )
            for e in doomed
        )
    for pattern, ids in named.items():
        if not ids and pattern not in seen_projects:
            raise SelectionError(f"no project matches {pattern!r}; nothing deleted")
    return plan


def warnings(plan: Sequence[Target]) -> list[str]:
    """Problems the plan will meet: datasets still used by projects that are not in the plan."""
    going = {t.id for t in plan if t.kind == "project"}
    out = []
    for t in plan:
        if t.kind == "dataset" and (users := [p for p in t.used_by if p.id not in going]):
            names = ", ".join(f"{p.name!r} ({p.id})" for p in users)
            out.append(
                f"dataset {t.name!r} ({t.id}) is used by project(s) {names}: "
                "the platform refuses to delete it until they are deleted"
            )
    return out


def ordered(plan: Sequence[Target]) -> list[Target]:
    """The plan in deletion order: experiment versions, projects, models, datasets."""
    return sorted(plan, key=lambda t: KINDS.index(t.kind))


def delete_target(client: Client, target: Target) -> None:
    """Delete one target (one API call)."""
    if target.kind == "experiment":
        # Target.__post_init__ guarantees these for experiment versions.
        assert target.project_id is not None and target.model_id is not None
        assert target.training_id is not None
        client.experiments.delete(target.project_id, target.model_id, target.training_id)
    elif target.kind == "project":
        client.projects.delete(target.id)
    elif target.kind == "model":
        client.models.delete(target.id)
    else:
        client.datasets.delete(target.id)


def execute(
    client: Client,
    plan: Sequence[Target],
    *,
    on_result: Callable[[Target, str, str | None], Any] | None = None,
) -> Outcome:
    """Delete every target of ``plan`` in a safe order; one failure does not stop the rest.

    A target the platform no longer knows (404) counts as already gone (deleting a project
    deletes its experiment versions too). ``on_result`` is called after each target with
    ``(target, status, error)``, status one of ``"deleted"``, ``"already gone"``, ``"failed"``.
    """
    outcome = Outcome()
    for target in ordered(plan):
        error: str | None = None
        try:
            delete_target(client, target)
            status = "deleted"
            outcome.deleted.append(target)
        except NotFoundError:
            status = "already gone"
            outcome.already_gone.append(target)
        except PicselliaError as exc:
            status, error = "failed", str(exc)
            outcome.failed.append(Failure(target, error))
        if on_result is not None:
            on_result(target, status, error)
    return outcome


__all__ = [
    "KINDS",
    "SelectionError",
    "Target",
    "Failure",
    "Outcome",
    "select",
    "is_wildcard",
    "plural",
    "count_phrase",
    "plan_projects",
    "plan_models",
    "plan_datasets",
    "plan_experiments",
    "warnings",
    "ordered",
    "delete_target",
    "execute",
]
