"""``picsellia_tf.teardown``: selection rules, planning and ordered deletion; the example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from picsellia_tf import teardown
from picsellia_tf.errors import NotFoundError, ValidationError
from picsellia_tf.teardown import SelectionError, Target, select

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = [("id-1", "tmp-a"), ("id-2", "tmp-b"), ("id-3", "keep"), ("id-4", "Tmp-c")]


def pick(patterns: list[str], objects: list[tuple[str, str]] = OBJECTS, **kw: Any) -> list[str]:
    return [o[0] for o in select("project", objects, patterns, key=lambda o: o, **kw)]


def test_select_by_id_or_name_pattern() -> None:
    assert pick(["tmp-*"]) == ["id-1", "id-2"]  # fnmatch, case-sensitive
    assert pick(["id-3", "tmp-b"]) == ["id-2", "id-3"]  # listing order, no duplicates
    assert pick(["tmp-?", "tmp-a", "id-1"]) == ["id-1", "id-2"]
    assert pick(["[kT]*"]) == ["id-3", "id-4"]
    assert pick(["*"], allow_all=True) == ["id-1", "id-2", "id-3", "id-4"]
    # Exact ids or names are deliberate even when they name every object.
    assert pick(["id-1"], [("id-1", "only")]) == ["id-1"]
    assert pick(["only"], [("id-1", "only")]) == ["id-1"]
    # One string is one pattern, never a list of one-letter patterns.
    assert pick("id-3") == ["id-3"]
    with pytest.raises(SelectionError, match="no project matches 'ab'"):
        pick("ab", [("1", "a"), ("2", "b")])
    # A name with fnmatch characters is still selected by its exact spelling.
    assert pick(["run[1]"], [("id-1", "run[1]"), ("id-2", "run1")]) == ["id-1"]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ([], "give at least one project"),
        ([""], "non-empty"),
        (["nope*"], "no project matches 'nope*' (4 projects in total)"),
        (["tmp-a", "gone"], "no project matches 'gone'"),
        (["*"], "selects every project (4 of 4)"),
        (["tmp-*", "keep", "T*"], "selects every project"),
        (["*-*", "keep"], "pass allow_all=True"),  # Python words; the CLI says --all
    ],
)
def test_select_refuses(patterns: list[str], message: str) -> None:
    with pytest.raises(SelectionError) as info:
        pick(patterns)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # a ValidationError: the CLI exits 1


def test_select_refuses_a_lone_object_by_wildcard() -> None:
    with pytest.raises(SelectionError, match="every project"):
        pick(["tmp*"], [("id-1", "tmp-only")])
    with pytest.raises(SelectionError, match="no project matches"):
        pick(["*"], [])


def test_wording() -> None:
    assert teardown.plural("experiment", 1) == "1 experiment version"
    assert teardown.plural("dataset", 2) == "2 datasets"
    plan = [
        Target("dataset", "d", "d"),
        Target("project", "p", "p"),
        Target("project", "q", "q"),
        Target("experiment", "m/1", "m", "p", "m", 1),
    ]
    assert teardown.count_phrase(plan) == "1 experiment version, 2 projects and 1 dataset"
    assert teardown.count_phrase([]) == "nothing"
    assert [t.kind for t in teardown.ordered(plan)] == [
        "experiment",
        "project",
        "project",
        "dataset",
    ]
    assert plan[3].describe() == "experiment version 1 of model 'm' (m, project p)"
    with pytest.raises(ValidationError, match="kind: expected one of .* got 'projet'"):
        Target("projet", "p", "p")
    with pytest.raises(ValidationError, match="'m/1': an experiment version needs"):
        Target("experiment", "m/1", "m", model_id="m", training_id=1)


def test_plan_and_execute_in_a_safe_order(client: Any) -> None:
    dataset = client.datasets.create("frames")
    spare = client.datasets.create("spare")
    project = client.projects.create("uses-frames", "detection", dataset_name="frames")
    exp = client.experiments.init(project.id, "net")
    client.experiments.init(project.id, "net")

    datasets_only = teardown.plan_datasets(client, ["frames"])
    assert [(t.kind, t.id, t.name) for t in datasets_only] == [("dataset", dataset.id, "frames")]
    assert [p.id for p in datasets_only[0].used_by] == [project.id]
    assert f"'uses-frames' ({project.id})" in teardown.warnings(datasets_only)[0]

    # Listed dataset-first on purpose: execute deletes projects before the datasets they use.
    plan = (
        datasets_only
        + teardown.plan_experiments(client, ["net"], keep_last=1)
        + teardown.plan_projects(client, [project.id])
    )
    assert teardown.warnings(plan) == []
    seen: list[tuple[str, str]] = []
    outcome = teardown.execute(client, plan, on_result=lambda t, s, e: seen.append((t.kind, s)))
    assert outcome.ok and seen == [
        ("experiment", "deleted"),
        ("project", "deleted"),
        ("dataset", "deleted"),
    ]
    assert [d.id for d in client.datasets.list()] == [spare.id]
    # Deleting the project took its remaining version (2) with it; the model stays.
    assert client.models.get(exp.network_id).experiments == []

    # Gone already (404) is not a failure; a refused delete (409) is, and the rest goes on.
    again = teardown.execute(client, plan)
    assert again.ok and len(again.already_gone) == 3 and again.deleted == []
    user = client.projects.create("uses-spare", "classification", dataset_name="spare")
    model_plan = teardown.plan_models(client, ["net"])
    mixed = teardown.execute(client, teardown.plan_datasets(client, [spare.id]) + model_plan)
    assert [f.target.id for f in mixed.failed] == [spare.id] and "409" in mixed.failed[0].error
    assert mixed.deleted == model_plan and not mixed.ok
    with pytest.raises(NotFoundError):
        client.models.get(exp.network_id)
    assert client.projects.get(user.id).dataset is not None

    # A version whose project was deleted went with it: already gone, not a failure.
    version = client.experiments.init(user.id, "orphaned")
    orphans = teardown.plan_experiments(client, [version.network_id])
    client.projects.delete(user.id)
    assert client.models.get(version.network_id).experiments == []
    result = teardown.execute(client, orphans)
    assert result.ok and result.already_gone == orphans and result.failed == []


def test_keep_last_never_deletes_a_kept_version(client: Any) -> None:
    project = client.projects.create("p", "detection")
    for _ in range(3):
        client.experiments.init(project.id, "net")
    planned = lambda n: [  # noqa: E731
        t.training_id for t in teardown.plan_experiments(client, ["net"], keep_last=n)
    ]
    assert [planned(n) for n in range(6)] == [[1, 2, 3], [1, 2], [1], [], [], []]
    assert [t.training_id for t in teardown.plan_experiments(client, "net", projects="p")] == [
        1,
        2,
        3,
    ]
    with pytest.raises(SelectionError, match="no project matches 'q'"):
        teardown.plan_experiments(client, "net", projects="q")


def run_example(**env_extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICSELLIA_")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cleanup.py")],
        capture_output=True,
        text=True,
        env={**env, **env_extra},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_example_runs_against_a_fresh_local_platform() -> None:
    out = run_example()
    assert "fresh local platform" in out
    assert "versions left on the model: [3]" in out
    assert "is used by project(s)" in out  # the dataset-alone dry run warns
    assert "would delete 2 projects, 1 model and 1 dataset" in out
    assert "done: deleted 4, already gone 0, failed 0" in out
    assert out.index("deleted: project") < out.index("deleted: dataset")


def test_example_with_a_token_touches_only_what_it_created(platform: Any, client: Any) -> None:
    mine = client.projects.create("users-own-project", "classification")
    out = run_example(PICSELLIA_HOST=platform.host, PICSELLIA_TOKEN=platform.token)
    assert "using Client(" in out and platform.token not in out
    assert "done: deleted 4, already gone 0, failed 0" in out
    assert [p.id for p in client.projects.list()] == [mine.id]
    assert client.models.list() == [] and client.datasets.list() == []
