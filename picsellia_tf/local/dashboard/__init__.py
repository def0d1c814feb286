"""The local platform's web dashboard, served at ``/`` beside the API.

Pages are rendered on the server as plain HTML (tables, previews and the dataset grid work
without JavaScript); the charts are SVG drawn by our own small script from ``/ui/series``.
Sign-in exchanges the API token for a session cookie (see :mod:`.web`); every page shows only
the signed-in user's organisation, and no GET changes anything.
"""

from __future__ import annotations

from picsellia_tf.local.app import Route
from picsellia_tf.local.dashboard import data, dataset, pages, web

ROUTES: list[Route] = [
    Route("GET", "/", pages.projects_page, auth=False),
    Route("POST", "/signin", web.signin, auth=False),
    Route("POST", "/signout", web.signout, auth=False),
    Route("GET", "/projects/<project_id>", pages.project_page, auth=False),
    Route("GET", "/projects/<project_id>/dataset", dataset.dataset_page, auth=False),
    Route("GET", "/versions/<model_id>/<int:training_id>", pages.version_page, auth=False),
    Route(
        "GET", "/versions/<model_id>/<int:training_id>/previews", pages.previews_page, auth=False
    ),
    Route("GET", "/compare", pages.compare_page, auth=False),
    Route("GET", "/ui/series", data.series_json, auth=False),
    Route("GET", "/ui/stamp", data.stamp, auth=False),
    Route("GET", "/static/<name>", data.static, auth=False, tx=False),
]
