"""Request handlers, one module per section of the wire spec; ``ROUTES`` lists them all (and
mounts the dashboard's pages at ``/``)."""

from __future__ import annotations

from picsellia_tf.local import dashboard
from picsellia_tf.local.app import Route
from picsellia_tf.local.handlers import (
    account,
    annotating,
    datasets,
    experiments,
    files,
    models,
    previews,
    project_config,
    projects,
    raw_data,
    stats,
)

ROUTES: list[Route] = [
    *account.ROUTES,
    *projects.ROUTES,
    *project_config.ROUTES,
    *models.ROUTES,
    *experiments.ROUTES,
    *previews.ROUTES,
    *annotating.ROUTES,
    *datasets.ROUTES,
    *raw_data.ROUTES,
    *stats.ROUTES,
    *files.ROUTES,
    *dashboard.ROUTES,
]
