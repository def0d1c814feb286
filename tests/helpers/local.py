"""Helpers for the local platform's tests (no tests here): a tiny HTTP caller, generated images."""

from __future__ import annotations

import io
import json
import socket
from typing import Any
from urllib.parse import quote, urlsplit

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
        data = kwargs.pop("data", None) if body is None else json.dumps(body)
        if body is not None:
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


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    """A raw TCP connection to the server at ``url``."""
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def request_head(method: str, path: str, token: str | None, length: int, **headers: str) -> bytes:
    """The head of an HTTP/1.1 request announcing a ``length``-byte JSON body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", f"Content-Length: {length}",
             "Content-Type: application/json"]  # fmt: skip
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP answer read from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` (after any answer) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except (TimeoutError, BlockingIOError):  # still open (BlockingIOError: ``within=0``)
        return False
    except ConnectionError:
        pass
    return True


def multipart(files: list[tuple[str, bytes]], field: str = "files") -> tuple[bytes, str]:
    """A multipart body of ``(filename, bytes)`` parts, names sent as RFC 2231 ``filename*``
    (so any character, newlines too, reaches the server as given), and its content type."""
    boundary = "picsellia-test-boundary"
    body = b""
    for name, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                f"filename*=utf-8''{quote(name.encode('utf-8', 'surrogatepass'), safe='')}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
