"""The client against the local platform's faults, restarts and organisations; argument
validation before any request; LocalPlatform itself; ``picsellia-tf check``."""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from picsellia_tf.cli import main
from picsellia_tf.client import Client
from picsellia_tf.errors import NetworkError, RateLimitError, ServerError, ValidationError
from picsellia_tf.local_platform import LocalPlatform
from picsellia_tf.types import ImageAnnotation, QAQuestion, Rectangle, Shape
from tests.helpers.retries import quick_backoff_everywhere, quickly

# --------------------------------------------------------------------------- faults


def test_get_succeeds_after_two_503s_post_is_not_retried(platform: LocalPlatform):
    client = quickly(platform.client)
    project = client.projects.create("p", "classification")
    platform.server.faults.fail_next(2)
    assert client.projects.get(project.id).name == "p"
    platform.server.faults.fail_next(2)
    with pytest.raises(ServerError) as info:
        client.experiments.init(project.id, "net")
    assert info.value.status == 503 and info.value.message == "injected fault"
    # one fault was consumed by the single POST; the next GET retries past the other
    assert client.projects.list()[0].id == project.id
    assert client.models.list() == []  # the failed init_model created nothing


def test_post_logs_is_retried_through_faults(platform: LocalPlatform):
    client = quickly(platform.client)
    project = client.projects.create("p", "classification")
    exp = client.experiments.init(project.id, "net")
    platform.server.faults.fail_next(3, status=502)
    logs = {"acc": {"step": [0, 1], "value": [0.1, 0.2]}}
    assert client.experiments.post_logs(exp.training_id, exp.network_id, logs) == 2
    assert client.experiments.get_logs(exp.training_id, exp.network_id)["acc"]["value"] == [
        0.1,
        0.2,
    ]


def test_429_retry_after_is_honoured(platform: LocalPlatform):
    platform.server.faults.fail_next(1, status=429, retry_after=0.2)
    start = time.monotonic()
    assert quickly(platform.client).check_connection().username  # backoff alone: <= 0.01 s
    assert time.monotonic() - start >= 0.15
    platform.server.faults.fail_next(1, status=429, retry_after=30)
    quick = Client(platform.token, platform.host, retry_deadline=2.0)
    with pytest.raises(RateLimitError) as info:
        quick.check_connection()
    assert info.value.retry_after == 30


def test_slow_server_gives_request_timeout_bounded_by_deadline(platform: LocalPlatform):
    platform.server.faults.latency = 0.5
    client = quickly(Client(platform.token, platform.host, timeout=0.1, retry_deadline=0.4))
    start = time.monotonic()
    with pytest.raises(NetworkError) as info:
        client.projects.list()
    assert type(info.value).__name__ == "RequestTimeout"
    assert time.monotonic() - start < 1.5
    platform.server.faults.reset()  # also ends the latency the requests still wait out


def test_restart_keeps_data_and_token(tmp_path: Path):
    with LocalPlatform(tmp_path / "data") as local:
        token = local.token
        pid = local.client.projects.create("kept", "segmentation").id
        local.restart()
        assert local.client.projects.get(pid).name == "kept"  # same port, same client
    with LocalPlatform(tmp_path / "data") as again:
        assert again.token == token
        assert again.client.projects.get(pid).type == "segmentation"


def test_stopped_platform_is_connection_refused(tmp_path: Path):
    with LocalPlatform(tmp_path / "data") as local:
        client = Client(local.token, local.host, retry_deadline=0.3)
    with pytest.raises(NetworkError, match="cannot reach"):
        client.check_connection()


def test_temporary_platform_is_removed_and_repr_hides_token():
    with LocalPlatform() as local:
        data_dir = local.data_dir
        assert data_dir is not None and data_dir.is_dir()
        for text in (repr(local), str(local), repr(local.client), repr(local.server)):
            assert local.token not in text
        assert local.host in repr(local)
    assert not data_dir.exists()


def test_platform_that_fails_to_start_leaves_no_temporary_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ValueError, match="port"):
        with LocalPlatform(port=99999):
            pass
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- validation first


def refused_client() -> Client:
    """A client whose every request would fail with NetworkError: nothing listens there."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return Client("t0ken", f"http://127.0.0.1:{port}", max_retries=0)


CASES: list[tuple[Callable[[Client], Any], str]] = [
    (lambda c: c.projects.create("", "detection"), "name"),
    (lambda c: c.projects.create("p", "tracking"), "type: expected one of .*, got 'tracking'"),
    (lambda c: c.projects.create("p", "detection", labels=[("a", "circle")]), "labels"),
    (lambda c: c.projects.create("p", "detection", team=[("a@x", "boss")]), "team"),
    (lambda c: c.projects.create("p", "detection", private="yes"), "private"),
    (lambda c: c.projects.get(""), "id"),
    (lambda c: c.projects.update("p"), "name and/or description"),
    (lambda c: c.projects.set_qa("p"), "image_qa and/or shape_qa"),
    (lambda c: c.projects.set_qa("p", image_qa=[QAQuestion("q", "range")]), "min and max"),
    (lambda c: c.projects.set_automations("p", "m", [("a",)]), "links"),
    (lambda c: c.projects.set_collaborators("p", [("no-at", "admin")]), "email"),
    (lambda c: c.models.update("m"), "at least one"),
    (lambda c: c.models.update("m", colour="red"), "unknown field"),
    (lambda c: c.models.update("m", tags="coco"), "tags"),
    (lambda c: c.models.update("m", private="yes"), "private: expected True or False"),
    (lambda c: c.models.update("m", paper_link=3), "paper_link: expected a string"),
    (lambda c: c.datasets.create("d", description=None), "description: expected a string"),
    (lambda c: c.projects.update("p", description=b"x"), "description: expected a string"),
    (lambda c: c.datasets.raw_data("d", 5, 2), "start"),
    (lambda c: c.datasets.raw_data("d", -1, 2), "start"),
    (lambda c: c.datasets.iter_raw_data("d", page_size=0), "page_size"),
    (lambda c: c.annotations.list("p", 0, 20000), "at most"),
    (lambda c: c.annotations.iter("p", page_size=-3), "page_size"),
    (lambda c: c.datasets.delete_raw_data("d"), "exactly one of raw_id or filename"),
    (lambda c: c.datasets.delete_raw_data("d", raw_id="r", filename="f"), "exactly one"),
    (lambda c: c.datasets.upload("d", ["/no/such/file.png"]), "is not a file"),
    (lambda c: c.experiments.post_logs("1", "n", {}), "training_id"),
    (lambda c: c.experiments.post_logs(True, "n", {}), "training_id"),
    (lambda c: c.experiments.post_logs(1, "n", {"l": {"step": [0, 1], "value": [1]}}), "2 steps"),
    (lambda c: c.experiments.post_logs(1, "n", {"l": {"step": [0], "value": ["x"]}}), "number"),
    (lambda c: c.experiments.delete("p", "m", 0), "training_id"),
    (lambda c: c.experiments.upload_preview(1, "n", 42, project_id="p"), "image"),
    (lambda c: c.experiments.upload_preview(1, "n", b"x", project_id="p", name="a/b"), "name"),
    (lambda c: c.experiments.post_preview(1, "n", []), "object_names"),
    (lambda c: c.experiments.post_preview(1, "n", None), "object_names: expected a list"),
    (
        lambda c: c.annotations.upload(
            "p", [ImageAnnotation("r", [Shape("rectangle", "c", Rectangle(0, 0, 0, 1))])]
        ),
        r"annotations\[0\].shapes\[0\].rectangle",
    ),
    (lambda c: c.annotations.upload("p", [], format="coco"), "format"),
    (lambda c: c.request("GET", "no-slash"), "path"),
]


@pytest.mark.parametrize(("call", "message"), CASES)
def test_bad_arguments_fail_before_any_request(call, message):
    client = refused_client()
    with pytest.raises(ValidationError, match=message):
        call(client)


def test_refused_client_really_would_fail_on_a_request():
    with pytest.raises(NetworkError):
        refused_client().projects.list()


def test_upload_preview_unknown_version_needs_project_id(platform: LocalPlatform):
    client = platform.client
    exp = client.experiments.init(client.projects.create("p", "detection").id, "net")
    fresh = Client(platform.token, platform.host)  # no cache: looks the project up
    name = fresh.experiments.upload_preview(exp.training_id, exp.network_id, b"\x89PNG\r\n\x1a\n")
    assert name.endswith(".png") and "/1/results/" in name
    with pytest.raises(ValidationError, match="pass project_id"):
        fresh.experiments.upload_preview(7, exp.network_id, b"bytes")


# --------------------------------------------------------------------------- picsellia-tf check


def test_cli_check(platform: LocalPlatform, monkeypatch, capsys):
    monkeypatch.setenv("PICSELLIA_TOKEN", platform.token)
    assert main(["check", "--host", platform.host]) == 0
    out = capsys.readouterr().out
    assert platform.host in out and "admin" in out and platform.token not in out
    assert main(["check", "--host", platform.host, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["host"] == platform.host and data["username"]
    monkeypatch.setenv("PICSELLIA_TOKEN", "wrong-token")
    assert main(["check", "--host", platform.host]) == 1
    err = capsys.readouterr().err
    assert "refused the token" in err and "wrong-token" not in err


def test_cli_check_unreachable_and_no_token(monkeypatch, capsys):
    quick_backoff_everywhere(monkeypatch)  # the CLI's own client
    monkeypatch.setenv("PICSELLIA_TOKEN", "some-token")
    host = refused_client().host
    monkeypatch.setenv("PICSELLIA_HOST", host)
    start = time.monotonic()
    assert main(["check"]) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert time.monotonic() - start < 5
    monkeypatch.delenv("PICSELLIA_TOKEN")
    assert main(["check"]) == 1
    assert "PICSELLIA_TOKEN" in capsys.readouterr().err
