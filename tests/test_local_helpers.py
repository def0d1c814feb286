"""Helpers for the local platform's tests (no tests here): a tiny HTTP caller, generated images."""

from __future__ import annotations

import io
import json
from typing import Any

import requests
from PIL import Image

# The success status of routes that do not answer 200 (the released SDK checks for these).
CREATED = frozenset({("POST", "/sdk/post_logs"), ("POST", "/sdk/post_preview")})


class Api:
    """Plain ``requests`` calls to a server with one token."""

    def __init__(self, url: str, token: str | None):
        self.url = url
        self.token = token

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        data = None if body is None else json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(
            method, self.url + path, data=data, headers=headers, timeout=10, **kwargs
        )

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.call(method, path, body, **kwargs)
        expected = 201 if (method.upper(), path) in CREATED else 200
        assert response.status_code == expected, (response.status_code, response.text)
        return response.json()

    def error(self, status: int, method: str, path: str, body: Any = None, **kw: Any) -> str:
        response = self.call(method, path, body, **kw)
        assert response.status_code == status, (response.status_code, response.text)
        message: str = response.json()["error"]
        return message


def png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small PNG image's bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def setup_project(api: Api, name: str = "p", labels: tuple[str, ...] = ("car", "road")) -> dict:
    """A dataset with two images and a text file, a project on it, and one experiment version."""
    dataset_id = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": f"{name}-data"})[
        "dataset_id"
    ]
    files = [
        ("files", ("a.png", png(8, 6))),
        ("files", ("b.png", png(4, 4))),
        ("files", ("notes.txt", b"not an image")),
    ]
    raw = api.ok("POST", f"/api/v1/raw_data/{dataset_id}", files=files)
    project_id = api.ok(
        "POST",
        "/api/v1/create_project",
        {
            "project_name": name,
            "type": "detection",
            "dataset_name": f"{name}-data",
            "labels": {
                str(i + 1): {"label_name": n, "tool": "rectangle"} for i, n in enumerate(labels)
            },
        },
    )["project_id"]
    version = api.ok(
        "GET", "/sdk/init_model", {"project_id": project_id, "model_name": f"{name}-m"}
    )
    return {"dataset_id": dataset_id, "project_id": project_id, "raw": raw, **version}
