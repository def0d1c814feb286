"""The client's bounds against a hostile loopback server: endless and trickling bodies,
oversized items, pages that never end, redirects to another port. Each call ends within its
deadline with an error naming the item or route, leaves no file behind, and the token goes
nowhere but the configured host."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from picsellia_tf.client import Client
from picsellia_tf.errors import (
    BadRequestError,
    RequestTimeout,
    ResponseTooLarge,
    SizeMismatch,
)
from picsellia_tf.wire import WireError
from tests.helpers.hostile_server import HostileServer
from tests.helpers.retries import quickly

TOKEN = "tok-h0stile-0123456789abcdef"
SLACK = 2.0  # seconds of scheduling slack on a shared machine
TRICKLE = 0.1  # seconds between two trickled bytes: well within every per-read timeout below


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """Another server, on another port: redirects point here."""
    with HostileServer() as server:
        yield server


@pytest.fixture
def hostile(elsewhere: HostileServer) -> Iterator[HostileServer]:
    with HostileServer(redirect_to=elsewhere.url, trickle_interval=TRICKLE) as server:
        yield server


def _client(server: HostileServer, **kw: Any) -> Client:
    kw.setdefault("timeout", 1.0)
    kw.setdefault("retry_deadline", 3.0)
    return quickly(Client(TOKEN, server.url, **kw))


def _files(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """A cache folder; after the test, nothing may be in it nor beside it."""
    cache = tmp_path / "cache"
    cache.mkdir()
    yield cache
    assert _files(tmp_path) == []


# --------------------------------------------------------------------------- downloads


def test_endless_download_stops_at_the_declared_size(hostile: HostileServer, cache: Path) -> None:
    client = _client(hostile)
    start = time.monotonic()
    with pytest.raises(ResponseTooLarge, match=r"cat\.png.*more than the 5 bytes"):
        client.download(
            hostile.url + "/storage/endless?sig=1", cache / "raw" / "x", size=5, name="cat.png"
        )
    assert time.monotonic() - start < 1 + SLACK
    assert [r["path"] for r in hostile.requests] == ["/storage/endless?sig=1"]  # not retried


def test_endless_download_without_a_size_stops_at_the_cap(
    hostile: HostileServer, cache: Path
) -> None:
    client = _client(hostile, max_download_bytes=3 * 1024 * 1024)
    start = time.monotonic()
    with pytest.raises(ResponseTooLarge, match=f"more than the {3 * 1024 * 1024} bytes"):
        client.download(hostile.url + "/storage/endless", cache / "x")
    assert time.monotonic() - start < 1 + SLACK
    with pytest.raises(ResponseTooLarge, match="more than the 1000 bytes"):
        client.download(hostile.url + "/storage/endless", cache / "x", max_bytes=1000)


def test_announced_length_over_the_size_fails_before_reading(
    hostile: HostileServer, cache: Path
) -> None:
    with pytest.raises(ResponseTooLarge, match=r"dog\.png: the server announced 1000000000 bytes"):
        _client(hostile).download(
            hostile.url + "/storage/big-length", cache / "x", size=5, name="dog.png"
        )


def test_short_download_is_a_size_mismatch_naming_the_item(
    hostile: HostileServer, cache: Path
) -> None:
    client = _client(hostile, download_deadline=0.5)  # retries included
    start = time.monotonic()
    with pytest.raises(
        SizeMismatch, match=r"bird\.png ended after 3 bytes; its declared size is 5"
    ):
        client.download(hostile.url + "/storage/small?n=3", cache / "x", size=5, name="bird.png")
    assert time.monotonic() - start < 0.5 + SLACK
    assert len(hostile.requests) >= 2  # a broken transfer is retried
    assert client.download(hostile.url + "/storage/small?n=5", cache / "ok", size=5) == 5
    (cache / "ok").unlink()


def test_trickling_download_ends_at_the_download_deadline(
    hostile: HostileServer, cache: Path
) -> None:
    # one byte every TRICKLE s: no single read ever waits the 0.6 s timeout
    client = _client(hostile, timeout=0.6, download_deadline=1.0)
    start = time.monotonic()
    with pytest.raises(RequestTimeout, match="not received in time"):
        client.download(hostile.url + "/storage/trickle", cache / "x", name="slow.png")
    assert time.monotonic() - start < 1 + SLACK


# --------------------------------------------------------------------------- API answers


def test_trickling_answer_ends_within_the_retry_deadline(hostile: HostileServer) -> None:
    # the case (timeout=2, retry_deadline=3 returned after 12 s), 4 times quicker
    client = _client(hostile, timeout=0.5, retry_deadline=0.75)
    start = time.monotonic()
    with pytest.raises(RequestTimeout, match="GET /api/v1/trickle"):
        client.request("GET", "/api/v1/trickle")
    assert time.monotonic() - start < 0.75 + SLACK
    with pytest.raises(RequestTimeout):  # a POST that is not retried has a deadline too
        client.with_options(retry_deadline=0.25).request("POST", "/api/v1/trickle", json={})


def test_trickled_headers_end_within_the_deadline(hostile: HostileServer, cache: Path) -> None:
    # each byte of the status line and headers within the per-read timeout, never all of them
    # (not even the status line: its 17 bytes take 1.7 s)
    client = _client(hostile, timeout=0.5, retry_deadline=0.75)
    start = time.monotonic()
    with pytest.raises(RequestTimeout, match="GET /api/v1/slow-headers: no answer"):
        client.request("GET", "/api/v1/slow-headers")
    assert time.monotonic() - start < 0.75 + SLACK
    start = time.monotonic()
    with pytest.raises(RequestTimeout):
        client.storage_get(hostile.url + "/storage/slow-headers?sig=1")
    assert time.monotonic() - start < 0.75 + SLACK
    start = time.monotonic()
    with pytest.raises(RequestTimeout):
        _client(hostile, timeout=0.25, download_deadline=0.5).download(
            hostile.url + "/storage/slow-headers", cache / "x"
        )
    assert time.monotonic() - start < 0.5 + SLACK
    # the connections it shut down are not handed out again broken
    assert client.request("GET", "/api/v1/anything") == {"ok": True}


def test_endless_answer_is_bounded(hostile: HostileServer) -> None:
    client = _client(hostile)
    client.max_answer_bytes = 2 * 1024 * 1024
    with pytest.raises(ResponseTooLarge, match="GET /api/v1/endless.*more than the 2097152"):
        client.request("GET", "/api/v1/endless")
    with pytest.raises(ResponseTooLarge, match="/storage/endless"):
        client.storage_get(hostile.url + "/storage/endless?sig=s", max_bytes=1000)
    assert client.storage_get(hostile.url + "/storage/small?n=7") == b"y" * 7


# --------------------------------------------------------------------------- pagination


def test_always_full_pages_stop_at_the_announced_total(hostile: HostileServer) -> None:
    items = list(_client(hostile).datasets.iter_raw_data("d1", page_size=100))
    assert [i.id for i in items] == [f"raw-{i}" for i in range(250)]
    paths = [r["path"] for r in hostile.requests]
    assert paths == ["/api/v1/dataset_info/d1"] + ["/api/v1/raw_data/d1"] * 3
    ranges = [json.loads(r["body"])["range"] for r in hostile.requests[1:]]
    assert ranges == [[0, 100], [100, 200], [200, 250]]
    # a total given by the caller wins
    assert len(list(_client(hostile).datasets.iter_raw_data("d1", page_size=7, total=10))) == 10


def test_a_repeated_page_is_a_wire_error_naming_the_route(hostile: HostileServer) -> None:
    with pytest.raises(WireError, match=r"GET /api/v1/annotations/p1: the items from 50 repeat"):
        list(_client(hostile).annotations.iter("p1", page_size=50))
    assert len(hostile.requests) == 2


# --------------------------------------------------------------------------- redirects


def test_redirect_to_another_port_keeps_the_token_home(
    hostile: HostileServer, elsewhere: HostileServer, cache: Path
) -> None:
    client = _client(hostile)
    start = time.monotonic()
    with pytest.raises(BadRequestError, match="another host") as info:
        client.request("GET", "/api/v1/redirect")
    assert time.monotonic() - start < 1 + SLACK
    assert TOKEN not in str(info.value)
    assert elsewhere.requests == []
    # storage URLs may redirect (they carry no token): followed, bounded the same
    assert client.storage_get(hostile.url + "/storage/redirect?sig=1") == b"y" * 5
    assert client.download(hostile.url + "/storage/redirect", cache / "r", size=5) == 5
    (cache / "r").unlink()
    assert [r["path"] for r in elsewhere.requests] == ["/storage/small?n=5"] * 2
    for server in (hostile, elsewhere):
        for r in server.requests:
            if server is elsewhere or r["path"].startswith("/storage"):
                assert "Authorization" not in r["headers"]
                assert TOKEN not in json.dumps(r["headers"])
    assert all(
        r["headers"].get("Authorization") == f"Bearer {TOKEN}"
        for r in hostile.requests
        if r["path"].startswith("/api")
    )
