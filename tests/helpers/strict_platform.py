"""A strict platform for the compatibility tests (no tests here): it answers only what the v1
reference and the released SDK (``picsellia==4.6``) show.

:class:`StrictPlatform` is a filtering proxy in front of a :class:`LocalPlatform`. It serves
the reference's routes and the SDK's (``GET /sdk/init_model`` only, ``GET
/sdk/get_post_url_preview``), and answers every other route, the local platform's extensions
included, with a 404 (405 for ``POST /sdk/init_model``). Answers keep only the fields the
reference (or the SDK) shows: no ``experiments`` in ``model_infos``, no ``url``/``checksum``/
``size`` on raw data (whose ``external_url`` is the URL of the file, as the reference shows it),
no counts on ``post_logs``/``upload_annotations``, ``check_connection`` only ``{"project_id"}``,
bare strings where the reference shows one, the presigned POST nested under ``url``. Storage
URLs point at the local platform itself, another host, as the real platform's storage was.
Every refused request is recorded in :attr:`StrictPlatform.refused`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import requests

from picsellia_tf.client import Client
from picsellia_tf.local_platform import LocalPlatform
from tests.helpers.loopback import LoopbackServer, reply

Shape = Callable[[Any], Any]

_ID = r"[^/]+"


def _keep(*fields: str) -> Shape:
    """An object with only ``fields`` (those present)."""

    def shape(obj: Any) -> Any:
        return {k: v for k, v in obj.items() if k in fields}

    return shape


def _each(item: Shape) -> Shape:
    """An index-keyed object with each item shaped."""
    return lambda obj: {key: item(value) for key, value in obj.items()}


def _with(base: Shape, **nested: Shape) -> Shape:
    """``base``, then the nested fields shaped too."""

    def shape(obj: Any) -> Any:
        out = base(obj)
        for key, inner in nested.items():
            if isinstance(out.get(key), dict):
                out[key] = inner(out[key])
        return out

    return shape


def _text(message: str) -> Shape:
    return lambda obj: message


def _same(obj: Any) -> Any:
    return obj


def _raw_item(obj: Any) -> Any:
    # The reference: {"id", "external_url": url, "shape"}; the URL is where the file is.
    return {"id": obj["id"], "external_url": obj["url"], "shape": obj.get("shape")}


def _presigned(obj: Any) -> Any:
    inner = obj["url"]
    assert isinstance(inner, dict), f"the local platform answered a flat presigned POST: {obj}"
    return {"url": {"url": inner["url"], "fields": inner["fields"]}}


_USED_IN = _each(_keep("project_id", "project_name"))
_USED_IN_TYPED = _each(_keep("project_id", "project_name", "project_type"))
_MODEL_ITEM = _with(
    _keep("model_id", "model_name", "model_type", "tags", "used_in", "predictable", "trainable"),
    used_in=_USED_IN_TYPED,
)
_MODEL_INFOS = _with(
    _keep(
        "model_id",
        "model_name",
        "model_type",
        "tags",
        "description",
        "private",
        "trainable",
        "predicatble",
        "paper_link",
        "github_link",
        "performances",
        "labels",
        "used_in",
    ),
    used_in=_USED_IN,
)
_PROJECT_INFOS = _keep(
    "id", "project_name", "type", "dataset", "labels", "collaborators", "models", "metrics"
)
_DATASET_ITEM = _with(
    _keep("dataset_id", "dataset_name", "dataset_size", "created_by", "description", "used_in"),
    used_in=_USED_IN_TYPED,
)
_DATASET_INFO = _with(
    _keep("dataset_id", "dataset_name", "dataset_size", "description", "used_in"),
    used_in=_USED_IN,
)
_ANNOTATION = _keep("internal_picture_id", "nb_labels", "time_spent", "QandA", "annotations")
_DATA_ROW = _keep("id", "external_url", "object_name", "type", "format", "size", "import_date")

# (method, path pattern, answer shape): the reference's routes and the released SDK's.
ROUTES: list[tuple[str, str, Shape]] = [
    ("GET", f"/api/v1/dataset/{_ID}/{_ID}", _DATA_ROW),
    ("POST", "/api/v1/create_project", _same),  # the reference shows no answer
    ("GET", "/api/v1/project_list", _each(_keep("project_name", "id"))),
    ("GET", f"/api/v1/project_infos/{_ID}", _PROJECT_INFOS),
    ("PUT", f"/api/v1/project_infos/{_ID}", _same),
    ("GET", f"/api/v1/project_collaborators/{_ID}", _same),
    ("PUT", f"/api/v1/project_collaborators/{_ID}", _same),
    ("PUT", f"/api/v1/project_labels/{_ID}", _same),
    ("PUT", f"/api/v1/project_auto/{_ID}", _same),
    ("PUT", f"/api/v1/project_qa/{_ID}", _same),
    ("GET", f"/api/v1/project_stats/{_ID}", _same),
    ("POST", f"/api/v1/attach_model/{_ID}/{_ID}", _text("Model attached")),
    ("DELETE", f"/api/v1/delete_project/{_ID}", _text("Project deleted")),
    ("PUT", f"/api/v1/delete_project/{_ID}/{_ID}", _text("Model detached")),
    ("GET", "/api/v1/models_list", _each(_MODEL_ITEM)),
    ("DELETE", f"/api/v1/delete_model/{_ID}", _text("Model deleted")),
    ("GET", f"/api/v1/model_infos/{_ID}", _MODEL_INFOS),
    ("PUT", f"/api/v1/model_infos/{_ID}", _same),
    ("DELETE", f"/api/v1/delete_experiments/{_ID}/{_ID}/{_ID}", _same),
    ("GET", f"/api/v1/annotations/{_ID}", _each(_ANNOTATION)),
    ("POST", "/sdk/upload_annotations", _keep("message")),
    ("POST", "/sdk/post_logs", _keep("message")),
    ("POST", "/sdk/post_preview", _same),
    ("POST", "/api/v1/create_dataset", _keep("dataset_id")),
    ("GET", "/api/v1/dataset_list", _each(_DATASET_ITEM)),
    ("GET", f"/api/v1/dataset_info/{_ID}", _DATASET_INFO),
    ("PUT", f"/api/v1/dataset_info/{_ID}", _text("Info updated")),
    ("DELETE", f"/api/v1/dataset/{_ID}", _same),
    ("GET", f"/api/v1/raw_data/{_ID}", _each(_raw_item)),
    ("DELETE", f"/api/v1/raw_data/{_ID}", _same),
    # The released SDK's routes (picsellia 4.6, Client.py).
    ("GET", "/sdk/init_model", _keep("network_id", "training_id")),
    ("GET", "/sdk/get_post_url_preview", _presigned),
]
_COMPILED = [(method, re.compile(pattern), shape) for method, pattern, shape in ROUTES]


class StrictPlatform:
    """``with StrictPlatform(tmp_path) as strict: strict.client...``; ``strict.local`` is the
    platform behind it (to read back what arrived, through its own extensions)."""

    def __init__(self, data_dir: Path) -> None:
        self.local = LocalPlatform(data_dir)
        self.project_id = str(uuid.uuid4())  # what check_connection answers
        self.refused: list[str] = []
        self.served: list[str] = []
        self._session = requests.Session()
        self._server: LoopbackServer | None = None
        self._clients: list[Client] = []

    def __enter__(self) -> StrictPlatform:
        self.local.start()
        self._server = LoopbackServer(self._on_request, poll_interval=0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients:
            client.close()
        if self._server is not None:
            self._server.close()
        self._session.close()
        self.local.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    host = url

    @property
    def token(self) -> str:
        return self.local.token

    def new_client(self, **options: Any) -> Client:
        """A client of the strict platform (the default user's token)."""
        client = Client(self.token, self.url, **options)
        self._clients.append(client)
        return client

    @property
    def client(self) -> Client:
        if not self._clients:
            self.new_client()
        return self._clients[0]

    # -- the proxy -----------------------------------------------------------------------

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """The strict answer to one request: ``(status, JSON body)``."""
        route = path.split("?", 1)[0]
        if route.startswith("/api/V1/"):
            route = "/api/v1/" + route[len("/api/V1/") :]
        if route == "/sdk/check_connection" and method == "GET":
            status, _ = self._forward(method, path, headers, body)
            if status != 200:
                return self._refuse(status, method, route, "invalid token")
            self.served.append(f"{method} {route}")
            return 200, json.dumps({"project_id": self.project_id}).encode()
        shapes = [(m, s) for m, pattern, s in _COMPILED if pattern.fullmatch(route)]
        if not shapes:
            return self._refuse(404, method, route, f"unknown route {route}")
        shape = next((s for m, s in shapes if m == method), None)
        if shape is None:
            return self._refuse(405, method, route, f"method {method} not allowed on {route}")
        status, answer = self._forward(method, path, headers, body)
        self.served.append(f"{method} {route}")
        if status >= 300 or answer is None:
            return status, json.dumps(answer).encode() if answer is not None else b""
        return status, json.dumps(shape(answer)).encode()

    def _refuse(self, status: int, method: str, route: str, message: str) -> tuple[int, bytes]:
        self.refused.append(f"{method} {route} -> {status}")
        return status, json.dumps({"error": message}).encode()

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        sent = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")}
        response = self._session.request(
            method,
            self.local.url + path,
            data=body or None,
            headers=sent,
            timeout=30,
            allow_redirects=False,
        )
        return response.status_code, response.json() if response.content else None

    def _on_request(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            status, payload = self.answer(h.command, h.path, dict(h.headers), body)
        except Exception as exc:  # noqa: BLE001 -- a proxy fault is a 500, not retried
            status = 500
            payload = json.dumps({"error": f"strict proxy: {exc!r}"}).encode()
        reply(h, status, {"Content-Type": "application/json"}, payload)
