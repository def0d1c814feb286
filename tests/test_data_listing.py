"""Listing at size: pages fetched concurrently in order, expired download URLs found again."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from picsellia_tf import data
from picsellia_tf.api._base import pages_concurrently
from picsellia_tf.data.synthetic import make_images, upload_project
from picsellia_tf.wire import WireError


class Pages:
    """A ranged route over ``n`` items that records its calls and how many ran at once."""

    def __init__(self, n: int, delay: float = 0.01, extra: int = 0):
        self.n, self.delay, self.extra = n, delay, extra
        self.starts: list[int] = []
        self.running = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, start: int, stop: int) -> list[int]:
        with self.lock:
            self.starts.append(start)
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        return list(range(start, min(stop + self.extra, self.n)))


def test_pages_come_in_order_with_a_bounded_number_in_flight():
    fetch = Pages(103)
    assert list(pages_concurrently(fetch, 10, 3)) == list(range(103))
    assert fetch.peak <= 3
    assert sorted(fetch.starts)[:11] == list(range(0, 110, 10))
    assert len(fetch.starts) <= 11 + 2  # past the short page: at most the requests in flight


def test_listing_stops_at_the_announced_total():
    fetch = Pages(40)
    assert list(pages_concurrently(fetch, 10, 4, total=40)) == list(range(40))
    assert sorted(fetch.starts) == [0, 10, 20, 30]  # nothing asked past the total

    fetch = Pages(45)  # more than announced (added since): the announced ones
    assert list(pages_concurrently(fetch, 10, 4, total=25)) == list(range(25))
    assert sorted(fetch.starts) == [0, 10, 20]


def test_a_repeated_page_is_a_wire_error_naming_the_route():
    def same(start: int, stop: int) -> list[int]:
        return list(range(stop - start))  # a server ignoring the range

    with pytest.raises(WireError, match="GET /x: the items from 10 repeat the page before"):
        list(pages_concurrently(same, 10, 3, route="GET /x"))


def test_a_page_longer_than_asked_is_a_wire_error():
    with pytest.raises(WireError, match="asked for 10 items from 0, got 11"):
        list(pages_concurrently(Pages(100, extra=1), 10, 3))


def test_a_failing_page_raises_in_the_reader():
    def fetch(start: int, stop: int) -> list[int]:
        if start == 20:
            raise ConnectionError("page 20")
        return list(range(start, stop))

    got = []
    with pytest.raises(ConnectionError, match="page 20"):
        for item in pages_concurrently(fetch, 10, 3):
            got.append(item)
    assert got == list(range(20))


def test_concurrent_listing_answers_what_sequential_does(shared_platform, tmp_path):
    client = shared_platform.client
    images = make_images(tmp_path / "imgs", 23, width=8, height=8, seed=2)
    pid, did = upload_project(client, images, f"listing-{time.time_ns()}")
    one = list(client.datasets.iter_raw_data(did, page_size=4))
    many = list(client.datasets.iter_raw_data(did, page_size=4, concurrency=3, total=23))
    assert [r.id for r in many] == [r.id for r in one] and len(one) == 23
    annotated = list(client.annotations.iter(pid, page_size=5, concurrency=4))
    assert [a.image_id for a in annotated] == [a.image_id for a in client.annotations.iter(pid)]
    with pytest.raises(data.ValidationError, match="concurrency: expected an int from 1 to 8"):
        client.datasets.iter_raw_data(did, concurrency=0)


def test_urls_that_expire_during_a_long_cold_load_are_listed_again(platform, tmp_path, caplog):
    n = 50
    images = make_images(tmp_path / "imgs", n, width=16, height=16, fmt="png", seed=4)
    pid, did = upload_project(platform.client, images, "expiring")
    platform.server.url_ttl = 2.0  # signed URLs now last 1 to 2 s
    faults = platform.server.faults
    faults.paths = ("/storage",)
    faults.latency = 0.1  # 50 images on 2 workers: 2.5 s of downloads, URLs expire midway
    caplog.set_level(logging.INFO, logger="picsellia_tf.data")
    _, info = data.load(
        platform.client, pid, did, task="detection", cache_dir=tmp_path / "cache",
        progress=False, download_workers=2, on_error="raise",
    )  # fmt: skip
    assert info.num_examples == n and info.downloaded == n and not info.skipped
    relisted = [r.getMessage() for r in caplog.records if "listed raw data" in r.getMessage()]
    assert relisted and all("0-9999 again" in m for m in relisted)
    expired = [r.getMessage() for r in caplog.records if "had expired" in r.getMessage()]
    assert len(expired) == 1 and int(expired[0].split()[1]) > 0

    # URLs that cannot be refreshed (the storage refuses every signature) are reported.
    faults.reset()
    faults.paths = ("/storage",)
    faults.error_status, faults.error_rate = 403, 1.0
    _, info = data.load(
        platform.client, pid, did, task="detection", cache_dir=tmp_path / "cold",
        progress=False, on_error="ignore",
    )  # fmt: skip
    assert info.num_examples == 0 and len(info.skipped) == n
    assert all("download failed: AuthenticationError" in s.reason for s in info.skipped)
