"""What ``load`` lists from the platform: annotations and raw data, page by page, and fresh
download URLs for images whose signed URL expired during a long download.

Pages are the largest the API allows (:data:`PAGE_SIZE`), :data:`CONCURRENCY` of them in
flight, read in order (see :func:`picsellia_tf.api._base.pages_concurrently`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from picsellia_tf._checks import is_sha256
from picsellia_tf.api._base import MAX_RANGE
from picsellia_tf.data.cache import Item, cache_key
from picsellia_tf.data.progress import Progress
from picsellia_tf.errors import APIError
from picsellia_tf.types import ImageAnnotation, RawData

if TYPE_CHECKING:
    from picsellia_tf.client import Client

log = logging.getLogger("picsellia_tf.data")

PAGE_SIZE = MAX_RANGE
"""Items per listing request: the most the API allows."""
CONCURRENCY = 2
"""Listing requests in flight at once."""
EXPIRED_STATUSES = (400, 401, 403)
"""Storage answers to a signed URL that may mean it expired (S3 403, GCS 400, ...)."""
KEPT_PAGES = 2
"""Re-listed pages remembered (the window moves through the listing in order)."""
MIN_RELIST_INTERVAL = 1.0
"""Seconds before a page is listed again for a URL it has just given (a storage refusing
every signature then costs one listing per page per second, not one per image)."""

T = TypeVar("T")


def _counted(items: Iterable[T], meter: Progress, every: int = 256) -> Iterator[T]:
    """``items``, counted on ``meter`` ``every`` at a time (and the rest at the end)."""
    n = 0
    try:
        for item in items:
            n += 1
            if n == every:
                meter.advance(n)
                n = 0
            yield item
    finally:
        if n:
            meter.advance(n)


def list_annotations(
    client: Client, project_id: str, total: int | None, progress: bool
) -> Iterator[ImageAnnotation]:
    """Every annotated image of the project, with a progress bar."""
    meter = Progress("picsellia_tf.data: listing", total, "annotations", enabled=progress)
    try:
        pages = client.annotations.iter(project_id, page_size=PAGE_SIZE, concurrency=CONCURRENCY)
        yield from _counted(pages, meter)
    finally:
        meter.close()


def list_raw_data(
    client: Client, dataset_id: str, total: int | None, progress: bool
) -> Iterator[RawData]:
    """Every file of the dataset, with a progress bar."""
    meter = Progress("picsellia_tf.data: listing", total, "images", enabled=progress)
    try:
        rows = client.datasets.iter_raw_data(
            dataset_id, page_size=PAGE_SIZE, concurrency=CONCURRENCY, total=total
        )
        yield from _counted(rows, meter)
    finally:
        meter.close()


class UrlRefresher:
    """Fresh signed URLs for images of a dataset, by re-listing the page each came from.

    ``refresh`` is a :data:`picsellia_tf.data.cache.Refresh`: called from download threads;
    one page is re-listed once however many of its images ask at the same time.
    """

    def __init__(self, client: Client, dataset_id: str, page_size: int = PAGE_SIZE):
        self._client = client
        self._dataset_id = dataset_id
        self._page_size = page_size
        self._pages: OrderedDict[int, dict[str, str]] = OrderedDict()
        self._locks: dict[int, threading.Lock] = {}
        self._listed_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self.relisted = 0
        """Pages listed again so far."""
        self.refreshed = 0
        """Items given a new URL so far."""

    def refresh(self, item: Item, failed_url: str, error: Exception) -> str | None:
        """A new URL for ``item`` if ``error`` may be an expired signature, else None."""
        if not isinstance(error, APIError) or error.status not in EXPIRED_STATUSES:
            return None
        start = item.index - item.index % self._page_size
        with self._lock:
            lock = self._locks.setdefault(start, threading.Lock())
        with lock:
            page = self._pages.get(start)
            url = page.get(item.key) if page is not None else None
            if url is None or url == failed_url:  # not re-listed yet, or stale again
                if time.monotonic() - self._listed_at.get(start, -1e9) < MIN_RELIST_INTERVAL:
                    return None  # a URL just listed fails: not an expiry
                page = self._relist(start)
                url = page.get(item.key)
        if url is None or url == failed_url:
            return None
        with self._lock:
            self.refreshed += 1
        return url

    def _relist(self, start: int) -> dict[str, str]:
        rows = self._client.datasets.raw_data(self._dataset_id, start, start + self._page_size)
        page = {
            cache_key(r.url, r.checksum): r.url
            for r in rows
            if r.url and (not r.checksum or is_sha256(r.checksum))
        }
        with self._lock:
            self._listed_at[start] = time.monotonic()
            self.relisted += 1
            self._pages[start] = page
            self._pages.move_to_end(start)
            while len(self._pages) > KEPT_PAGES:
                self._pages.popitem(last=False)
        log.info(
            "picsellia_tf.data: download URLs expired; listed raw data %d-%d again",
            start,
            start + self._page_size - 1,
        )
        return page
