"""The local platform's web dashboard, served at ``/`` beside the API.

Pages are rendered on the server as plain HTML (tables, previews and the dataset grid work
without JavaScript); the charts are SVG drawn by our own small script from ``/ui/series``.
Sign-in exchanges the API token for a session cookie (see :mod:`.web`); every page shows only
the signed-in user's organisation, and no GET changes anything.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from picsellia_tf.local.app import Ctx, Handler, Route


def _page(module: str, name: str) -> Handler:
    """The handler ``name`` of the dashboard's ``module``, imported at its first request: a
    server that is never asked for a page does not load the dashboard."""

    def handler(ctx: Ctx, **args: Any) -> Any:
        return getattr(import_module(f"{__name__}.{module}"), name)(ctx, **args)

    return handler


ROUTES: list[Route] = [
    Route("GET", "/", _page("pages", "projects_page"), auth=False),
    Route("POST", "/signin", _page("web", "signin"), auth=False),
    Route("POST", "/signout", _page("web", "signout"), auth=False),
    Route("GET", "/projects/<project_id>", _page("pages", "project_page"), auth=False),
    Route("GET", "/projects/<project_id>/dataset", _page("dataset", "dataset_page"), auth=False),
    Route(
        "GET", "/versions/<model_id>/<int:training_id>", _page("pages", "version_page"), auth=False
    ),
    Route(
        "GET",
        "/versions/<model_id>/<int:training_id>/previews",
        _page("pages", "previews_page"),
        auth=False,
    ),
    Route("GET", "/compare", _page("pages", "compare_page"), auth=False),
    Route("GET", "/ui/series", _page("data", "series_json"), auth=False),
    Route("GET", "/ui/stamp", _page("data", "stamp"), auth=False),
    Route("GET", "/static/<name>", _page("data", "static"), auth=False, tx=False),
]
