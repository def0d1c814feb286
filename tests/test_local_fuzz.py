"""Property-based fuzzing of every route of the local platform: hostile paths, bodies, files and
headers never get a 5xx, every error is the wire's JSON error, and the platform still works
afterwards (database intact, a fresh valid workflow succeeds).

Calls the WSGI app in-process (no sockets) for speed: transport limits are tested over real
HTTP in test_local_limits.py. The requests' strategies: tests/helpers/fuzz.py, imported (with
Hypothesis) by the test as it runs, not when the suite is collected.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import Client

from picsellia_tf.local.app import App, Route
from picsellia_tf.local.handlers import ROUTES
from picsellia_tf.local.storage import Storage
from picsellia_tf.local.store import Store
from tests.helpers.local import multipart, png

if TYPE_CHECKING:
    from tests.helpers.fuzz import Request

TOTAL_REQUESTS = 10_000
PER_ROUTE = math.ceil(TOTAL_REQUESTS / len(ROUTES)) + 10
# Requests per Hypothesis example: the engine's own work per example (mutations, caching, span
# bookkeeping: about as much as a request's draws) is paid once for nine requests. A failing
# batch shrinks like a single request: the failing one to its minimum, the others to the
# simplest request (and the assertion names the failing request alone).
BATCH = 9


@dataclass
class World:
    """A platform with one of everything, and the ids that name them."""

    client: Client
    token: str
    store: Store
    data_dir: Path
    ids: dict[str, Any]

    def call(
        self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
        headers: dict[str, str] | None = None, content_type: str = "application/json",
    ) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
        """One request to the app: status, body, headers."""
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
        response = self.client.open(
            path, method=method, data=data, headers=all_headers, content_type=content_type
        )
        try:
            return response.status_code, response.get_data(), dict(response.headers)
        finally:
            response.close()

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, raw, _ = self.call(method, path, body, **kw)
        assert 200 <= status < 300, (method, path, status, raw[:300])
        return json.loads(raw) if raw else None


def make_world(data_dir: Path) -> World:
    data_dir.mkdir(parents=True)
    store = Store(data_dir)
    token = store.default_token("fuzz-token")
    app = App(store, Storage(data_dir), ROUTES, public_url="http://127.0.0.1:1")
    # no cookie jar: no fuzzed request can sign in (none sends a form or an Origin header)
    world = World(Client(app, use_cookies=False), token, store, data_dir, {})
    world.ids.update(workflow(world, "w"))
    return world


def workflow(world: World, name: str) -> dict[str, Any]:
    """Everything a user does, each step checked: the valid requests that must keep working."""
    dataset = world.ok("POST", "/api/v1/create_dataset", {"dataset_name": f"{name}-d"})
    dataset_id = dataset["dataset_id"]
    body, content_type = multipart([("a.png", png(4, 3)), ("notes.txt", b"text")])
    raw = world.ok("POST", f"/api/v1/raw_data/{dataset_id}", data=body, content_type=content_type)
    labels = {"1": {"label_name": "car", "tool": "rectangle"}}
    project = {"project_name": f"{name}-p", "type": "detection", "dataset_name": f"{name}-d",
               "labels": labels}  # fmt: skip
    project_id = world.ok("POST", "/api/v1/create_project", project)["project_id"]
    version = world.ok("POST", "/sdk/init_model", {"project_id": project_id, "model_name": name})
    ids = {"dataset_id": dataset_id, "project_id": project_id, "raw_id": raw["0"]["id"],
           "model_id": version["network_id"], **version, "raw_url": raw["0"]["url"]}  # fmt: skip
    ref = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    world.ok("POST", "/sdk/post_logs", {**ref, "logs": {"loss": {"step": [0], "value": [1.5]}}})
    assert world.ok("GET", "/sdk/get_logs", ref)["logs"]["loss"]["value"] == [1.5]
    page = world.ok("GET", f"/api/v1/raw_data/{dataset_id}", {"range": [0, 10]})
    assert len(page) == 2
    storage_path = page["0"]["url"].split("http://127.0.0.1:1", 1)[1]
    status, content, _ = world.call("GET", storage_path)
    assert status == 200 and content == png(4, 3)
    object_name = f"{project_id}/{ids['network_id']}/{ids['training_id']}/results/e1.png"
    answer = world.ok("GET", "/sdk/get_post_url_preview", {"object_name": object_name})
    form = answer["url"] if isinstance(answer.get("url"), dict) else answer
    ids["form"] = form["fields"]
    ids["object_name"] = object_name
    return ids


# -- the test ------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = make_world(tmp_path / "data")
    yield world
    world.store.close()


API = ("/api/", "/sdk/", "/storage/")  # the wire's routes (the rest: the dashboard's pages)


def check_answer(
    route: Route, request: Request, status: int, raw: bytes, headers: dict[str, str]
) -> None:
    assert status < 500, (request, status, raw[:500])
    assert headers.get("X-Content-Type-Options") == "nosniff", request
    if status >= 400 and request[1].startswith(API):
        error = json.loads(raw)["error"]
        assert isinstance(error, str) and error, (request, raw[:200])


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.rule}")
def test_no_request_to_any_route_gets_a_5xx_or_harms_the_platform(
    world: World, route: Route
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.helpers.fuzz import path_args, requests_for

    seen: list[int] = []

    @settings(
        max_examples=math.ceil(PER_ROUTE / BATCH), deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )  # fmt: skip
    @given(st.tuples(*[requests_for(route, world.ids, path_args(world.ids))] * BATCH))
    def fuzz(batch: tuple[Request, ...]) -> None:
        for request in batch:
            method, path, kwargs = request
            status, raw, headers = world.call(method, path, **kwargs)
            check_answer(route, request, status, raw, headers)
            seen.append(status)

    fuzz()
    assert len(seen) >= PER_ROUTE * 0.9
    # no damage: the database is intact and a whole valid workflow still works
    db = sqlite3.connect(world.data_dir / "picsellia.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
    workflow(world, "after")
