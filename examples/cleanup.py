"""Teardown walk-through: create throwaway objects, show the dry-run plan, then delete them.

Run with no arguments. Without ``PICSELLIA_TOKEN`` it starts a fresh local platform; with it,
it uses the platform at ``PICSELLIA_HOST`` (default app.picsellia.com) and only ever touches
the objects it created itself (selected by their ids, never by a broad pattern).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path

from PIL import Image

from picsellia_tf import teardown
from picsellia_tf.client import Client
from picsellia_tf.local_platform import LocalPlatform


def make_images(folder: Path, n: int = 3) -> list[Path]:
    """A few tiny generated PNGs to fill the throwaway dataset."""
    paths = []
    for i in range(n):
        path = folder / f"img_{i}.png"
        Image.new("RGB", (8, 8), (40 * i, 100, 200)).save(path)
        paths.append(path)
    return paths


def show_plan(title: str, plan: list[teardown.Target]) -> None:
    print(f"{title}: would delete {teardown.count_phrase(plan)}")
    for target in teardown.ordered(plan):
        print(f"  {target.describe()}")
    for warning in teardown.warnings(plan):
        print(f"  warning: {warning}")


def report(target: teardown.Target, status: str, error: str | None) -> None:
    print(f"  {status}: {target.describe()}" + (f" ({error})" if error else ""))


def main() -> int:
    with contextlib.ExitStack() as stack:
        if os.environ.get("PICSELLIA_TOKEN"):
            client = stack.enter_context(Client())
            print(f"using {client!r}")
        else:
            platform = stack.enter_context(LocalPlatform())
            client = platform.client
            print(f"PICSELLIA_TOKEN is unset: using a fresh local platform at {platform.host}")
        prefix = f"cleanup-example-{uuid.uuid4().hex[:8]}"
        created: list[teardown.Target] = []
        try:
            dataset = client.datasets.create(f"{prefix}-images", description="throwaway")
            created.append(teardown.Target("dataset", dataset.id, dataset.name))
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            client.datasets.upload(dataset.id, make_images(folder))
            projects = []
            for i in range(2):
                project = client.projects.create(
                    f"{prefix}-project-{i}",
                    "detection",
                    labels=[("car", "rectangle")],
                    dataset_name=dataset.name if i == 0 else None,
                )
                created.append(teardown.Target("project", project.id, project.name))
                projects.append(project)
            model_name = f"{prefix}-model"
            versions = [client.experiments.init(projects[0].id, model_name) for _ in range(3)]
            created.append(teardown.Target("model", versions[0].network_id, model_name))
            print(f"created under {prefix!r}: 1 dataset, 2 projects, 1 model with 3 versions")

            # 1. Old experiment versions only: keep the newest one.
            plan = teardown.plan_experiments(client, [versions[0].network_id], keep_last=1)
            show_plan("old versions (dry run)", plan)
            outcome = teardown.execute(client, plan, on_result=report)
            left = [e.training_id for e in client.models.get(versions[0].network_id).experiments]
            print(f"versions left on the model: {left}")

            # 2. The dataset alone cannot go: a project still uses it.
            show_plan("dataset alone (dry run)", teardown.plan_datasets(client, [dataset.id]))

            # 3. Everything created, by id: projects go before the dataset they use.
            ids = {kind: [t.id for t in created if t.kind == kind] for kind in teardown.KINDS}
            plan = (
                teardown.plan_projects(client, ids["project"])
                + teardown.plan_models(client, ids["model"])
                + teardown.plan_datasets(client, ids["dataset"])
            )
            show_plan("everything created (dry run)", plan)
            outcome = teardown.execute(client, plan, on_result=report)
            created.clear()
            print(
                f"done: deleted {len(outcome.deleted)}, already gone "
                f"{len(outcome.already_gone)}, failed {len(outcome.failed)}"
            )
            return 0 if outcome.ok else 1
        finally:
            if created:  # something failed midway: remove what was made, best effort
                print("cleaning up after a failure:")
                teardown.execute(client, created, on_result=report)


if __name__ == "__main__":
    raise SystemExit(main())
