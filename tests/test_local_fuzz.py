"""Property-based fuzzing of every route of the local platform: hostile paths, bodies, files and
headers never get a 5xx, every error is the wire's JSON error, and the platform still works
afterwards (database intact, a fresh valid workflow succeeds).

Calls the WSGI app in-process (no sockets) for speed: transport limits are tested over real
HTTP in test_local_limits.py.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from picsellia_tf.local.app import App, Route
from picsellia_tf.local.handlers import ROUTES
from picsellia_tf.local.storage import Storage
from picsellia_tf.local.store import Store
from tests.helpers.local import multipart, png

TOTAL_REQUESTS = 10_000
PER_ROUTE = math.ceil(TOTAL_REQUESTS / len(ROUTES)) + 10


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
    world = World(Client(app), token, store, data_dir, {})
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


# -- strategies ----------------------------------------------------------------------------

CONTROL = "".join(chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x9F))
NASTY_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(CONTROL + "\ud800\udfff/\\.%é€😀 "), max_size=12),
    st.sampled_from(["", " ", ".", "..", "../../etc/passwd", "a/b", "x" * 300, "é" * 200,
                     "\ud800", "9" * 20, "-1", "0", "NaN", "null", "results"]),
)  # fmt: skip
NASTY_INT = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**19, 10**400, -1, 0]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), NASTY_INT, st.floats(allow_nan=True, allow_infinity=True),
    NASTY_TEXT,
)  # fmt: skip


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=6,
    )


FIELDS = ["training_id", "network_id", "logs", "step", "value", "wall_time", "range",
          "project_id", "model_name", "project_token", "object_name", "urls", "dataset_name",
          "project_name", "description", "type", "labels", "label_name", "tool", "team",
          "collaborators", "email", "role", "image_qa", "shape_qa", "question", "values", "min",
          "max", "model_id", "link_with", "tags", "private", "github_link", "raw_id", "filename",
          "format", "annotations", "internal_picture_id", "external_picture_url", "QandA",
          "time_spent", "rectangle", "polygon", "geometry", "left", "top", "width", "height",
          "x", "y", "label", "1", "0", "-1", "10"]  # fmt: skip
KEYS = st.one_of(st.sampled_from(FIELDS), NASTY_TEXT)
VALUES = json_values(KEYS)


def templates(ids: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A valid body per route, to mutate."""
    ref = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    shape = {"type": "rectangle", "label": "car",
             "rectangle": {"left": 1, "top": 1, "width": 2, "height": 2}}  # fmt: skip
    return {
        "/api/v1/create_project": {"project_name": "n", "type": "detection",
                                   "labels": {"1": {"label_name": "a", "tool": "point"}},
                                   "team": {"1": {"email": "a@b", "role": "labeler"}}},
        "/api/v1/project_infos/<project_id>": {"project_name": "m", "description": "d"},
        "/api/v1/project_collaborators/<project_id>": {
            "collaborators": {"1": {"email": "a@b", "role": "admin"}}},
        "/api/v1/project_labels/<project_id>": {
            "labels": {"1": {"label_name": "car", "tool": "rectangle"}}},
        "/api/v1/project_auto/<project_id>": {
            "model_id": ids["model_id"], "labels": {"1": {"label_name": "car", "link_with": "x"}}},
        "/api/v1/project_qa/<project_id>": {
            "image_qa": {"1": {"question": "q", "type": "range", "min": 0, "max": 1}},
            "shape_qa": {"1": {"question": "q", "type": "choice", "values": ["a"]}}},
        "/api/v1/model_infos/<model_id>": {"model_name": "mm", "tags": ["t"], "private": False},
        "/sdk/init_model": {"project_id": ids["project_id"], "model_name": "w"},
        "/sdk/post_logs": {**ref, "logs": {"loss": {"step": [1, 2], "value": [0.5, 0.25],
                                                    "wall_time": [1.0, 2.0]}}},
        "/sdk/get_logs": ref,
        "/sdk/get_post_url_preview": {"object_name": ids["object_name"]},
        "/sdk/post_preview": {**ref, "urls": [ids["object_name"]]},
        "/sdk/get_previews": ref,
        "/api/v1/annotations/<project_id>": {"range": [0, 10]},
        "/sdk/upload_annotations": {"project_id": ids["project_id"], "format": "picsellia",
                                    "annotations": {"1": {"external_picture_url": "a.png",
                                                          "QandA": {"q": "a"},
                                                          "annotations": [shape]}}},
        "/api/v1/create_dataset": {"dataset_name": "dd", "description": "d"},
        "/api/v1/dataset_info/<dataset_id>": {"dataset_name": "de"},
        "/api/v1/raw_data/<dataset_id>": {"range": [0, 10], "raw_id": ids["raw_id"]},
        "/api/v1/dataset/<dataset_id>": {"filename": "a.png"},
    }  # fmt: skip


DIGIT = st.integers(0, 9)
ONE_IN_5 = st.integers(0, 4)


def mutate(draw: st.DrawFn, template: Any, depth: int = 0) -> Any:
    """``template`` with some of its values replaced, dropped or added to (drawn with ``draw``,
    recursing as a plain call: no strategy is built per value)."""
    choice = draw(DIGIT)
    if choice == 0 or depth > 4:
        return draw(VALUES)
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            action = draw(DIGIT)
            if action == 0:
                continue  # dropped
            out[key] = mutate(draw, value, depth + 1) if action < 4 else value
        if draw(ONE_IN_5) == 0:
            out[draw(KEYS)] = draw(VALUES)
        return out
    if isinstance(template, list):
        items = [mutate(draw, item, depth + 1) for item in template]
        if draw(st.booleans()):
            items.append(draw(VALUES))
        return items
    return template if choice < 6 else draw(SCALARS)


RAW_BODIES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([
        b"[" * 100_000, b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"range": [0, ' + b"9" * 5000 + b"]}", b'{"x": 1e999}', b'{"x": NaN}',
        b'{"project_id": "\\ud800"}', b'{"\\udfff": 1}', b"\xff\xfe{}", b"null", b"[]",
        b'"text"', b"{}", b"", b" ",
    ]),
)  # fmt: skip
"""Bodies that are not a JSON object, or barely are."""


def path_args(ids: dict[str, Any]) -> st.SearchStrategy[str]:
    valid = [str(ids[k]) for k in ("project_id", "dataset_id", "model_id", "raw_id",
                                   "training_id")] + ["a.png"]  # fmt: skip
    return st.one_of(st.sampled_from(valid), NASTY_TEXT, NASTY_INT.map(str))


def fill(rule: str, draw: st.DrawFn, ids: dict[str, Any], args: st.SearchStrategy[str]) -> str:
    """The rule's path with every ``<arg>`` drawn (from ``args`` but for a few names),
    percent-encoded as a client would."""

    def one(match: re.Match[str]) -> str:
        name = match[1].split(":")[-1]
        if name == "object_name" and draw(st.booleans()):
            value = draw(st.sampled_from([ids["raw_url"].split("/storage/", 1)[1].split("?")[0],
                                          ids["object_name"]]))  # fmt: skip
        elif name == "training_id" and draw(st.booleans()):
            value = str(draw(st.sampled_from([ids["training_id"], 2**63, 10**19, 0])))
        else:
            value = draw(args)
        return quote(value.encode("utf-8", "surrogatepass"), safe="/" if ":" in match[1] else "")

    return re.sub(r"<([^>]+)>", one, rule)


Request = tuple[str, str, dict[str, Any]]


@st.composite
def requests_for(
    draw: st.DrawFn, route: Route, ids: dict[str, Any], args: st.SearchStrategy[str]
) -> Request:
    """One hostile request aimed at ``route``: (method, path, call keywords); ``args``: the
    path arguments (:func:`path_args`)."""
    method = draw(st.sampled_from([route.method] * 8 + ["GET", "POST", "PUT", "DELETE"]))
    path = fill(route.rule, draw, ids, args)
    headers: dict[str, str] = {}
    if draw(st.integers(0, 19)) == 0:
        headers["Authorization"] = draw(st.sampled_from(["", "Bearer", "Bearer x y", "Basic a"]))
    if route.rule.startswith("/storage/") and route.method == "GET":
        query = draw(
            st.sampled_from(
                [
                    ids["raw_url"].split("?", 1)[1],
                    "expires=1&signature=x",
                    f"expires={'9' * 30}&signature=",
                    "expires=x",
                    "",
                ]
            )
        )
        return method, f"{path}?{query}", {"headers": headers}  # fmt: skip
    if (
        route.rule in ("/storage/upload", "/api/v1/raw_data/<dataset_id>")
        and route.method == "POST"
    ):
        names = draw(st.lists(st.one_of(NASTY_TEXT, st.just("ok.png")), min_size=0, max_size=3))
        files = [(name, draw(st.binary(max_size=64)) or png(2, 2)) for name in names]
        field = "file" if route.rule == "/storage/upload" else "files"
        body, content_type = multipart(files, field=field)
        if route.rule == "/storage/upload":
            fields = dict(ids["form"])
            for key in list(fields):
                if draw(st.integers(0, 3)) == 0:
                    fields[key] = draw(NASTY_TEXT)
            prefix = b"".join(
                f'--picsellia-test-boundary\r\nContent-Disposition: form-data; name="{key}"'
                f"\r\n\r\n".encode()
                + value.encode("utf-8", "surrogatepass")
                + b"\r\n"
                for key, value in fields.items()
            )
            body = prefix + body
        if draw(st.integers(0, 9)) == 0:
            body = draw(st.binary(max_size=200))
        return method, path, {"data": body, "content_type": content_type, "headers": headers}
    template = templates(ids).get(route.rule)
    if template is None or draw(st.integers(0, 5)) == 0:
        return method, path, {"data": draw(RAW_BODIES), "headers": headers}
    return method, path, {"body": mutate(draw, template), "headers": headers}


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
    seen: list[int] = []

    @settings(
        max_examples=PER_ROUTE, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )  # fmt: skip
    @given(requests_for(route, world.ids, path_args(world.ids)))
    def fuzz(request: Request) -> None:
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
