"""``project_stats``: figures computed from the stored annotations."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx, Route


def project_stats(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Label counts, time spent and progress of a project's annotation."""
    project = ctx.owned("projects", project_id)
    return answers.project_stats(
        q.projects.label_names(project),
        q.annotations.of_project(ctx.db, project_id),
        q.datasets.size(ctx.db, project["dataset_id"]),
    )


ROUTES = [Route("GET", "/api/v1/project_stats/<project_id>", project_stats)]
