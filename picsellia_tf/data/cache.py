"""A content-addressed disk cache of dataset images, normalised once for TensorFlow.

Layout under the cache directory (every write is a temporary file renamed into place, so a
crash or a concurrent run never leaves a partial file under a final name):

- ``raw/<k2>/<key>``: the bytes as downloaded. The key is ``sha256-<checksum>`` when the
  platform gives the file's sha256 (verified on download), else ``url-<sha256 of the URL
  without its query string>``. A changed image has a new checksum, hence a new key, and is
  fetched again; a second run downloads nothing.
- ``img/<k2>/<key>.jpg|.png``: the normalised image, only when the raw file is not already
  usable as is. Normalising applies the EXIF orientation (``ImageOps.exif_transpose``: the
  annotations are in the displayed frame) and converts grayscale, palette, RGBA (alpha is
  dropped), CMYK and other modes to RGB; JPEG sources are re-encoded as JPEG (quality 95),
  every other format as PNG. An RGB JPEG or PNG with no EXIF rotation is used as downloaded.
- ``meta/<k2>/<key>.json``: the outcome (normalised path and displayed size, or why the file
  is not a usable image), so a warm run opens no image.
- ``masks/``: segmentation masks (:mod:`picsellia_tf.data.masks`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from PIL import Image, ImageOps

from picsellia_tf._checks import is_sha256
from picsellia_tf.data.progress import Progress

META_VERSION = 1
"""Bumped when normalisation changes, so that cached outcomes are redone."""

Download = Callable[[str, str, "Item"], "str | None"]
"""``download(url, dest_path, item)``: fetch ``url`` (the item's, or a refreshed one) into
the file ``dest_path``; returns the sha256 (hex) of the bytes written if it computed it (the
cache then does not read the file again to check it), else ``None``."""

Refresh = Callable[["Item", str, Exception], "str | None"]
"""``refresh(item, failed_url, error)``: a new URL for ``item`` after downloading
``failed_url`` failed with ``error`` (an expired signature), or ``None`` to give up."""

REFRESHES = 2
"""New URLs tried per item after its download fails (see :class:`Refresh`)."""


def default_cache_dir() -> str:
    """``$PICSELLIA_CACHE_DIR``, else ``~/.cache/picsellia_tf/images``."""
    env = os.environ.get("PICSELLIA_CACHE_DIR")
    if env:
        return env
    return str(Path.home() / ".cache" / "picsellia_tf" / "images")


SHA256_KEY = "sha256-"
"""The start of the cache key of a file named by its sha256 (the hex digest follows)."""
URL_KEY = "url-"
"""The start of the cache key of a file named by its URL (a sha256 of the URL follows)."""


def cache_key(url: str, checksum: str | None) -> str:
    """The cache key of a file: its sha256 checksum, else a hash of its URL without the query.

    Raises ``ValueError`` for a checksum that is not a sha256 hex digest (keys are file names).
    """
    if checksum:
        if not is_sha256(checksum):
            raise ValueError(f"checksum: expected a sha256 hex digest, got {checksum[:80]!r}")
        return SHA256_KEY + checksum.lower()
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return URL_KEY + hashlib.sha256(bare.encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A unique temporary name beside ``path`` to write: renamed to ``path`` if the block
    succeeds, removed if it raises (the directory is created first)."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):  # one stat in the usual case (makedirs makes three calls)
        os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str, data: dict[str, object]) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(json.dumps(data).encode())


@dataclass(slots=True)  # one per image: not frozen (10x cheaper to make); read-only
class Item:
    """A file to have in the cache; ``index`` is where its URL came from (for a refresh),
    ``size`` its size in bytes as the platform declared it."""

    key: str
    url: str
    checksum: str | None
    name: str
    index: int = 0
    size: int | None = None


@dataclass(slots=True)  # one per image: not frozen (10x cheaper to make); read-only
class Outcome:
    """What the cache holds for an item: a usable image, or the reason there is none.

    ``downloaded`` is true when this call fetched the bytes. Download failures and checksum
    mismatches are not cached (the next run tries again); undecodable files are.
    """

    item: Item
    path: str | None = None
    width: int = 0
    height: int = 0
    error: str | None = None
    downloaded: bool = False


_KINDS = (("raw", ""), ("img", ".jpg"), ("img", ".png"))
"""Where a usable image is: the download itself, or a normalised JPEG or PNG."""
_SUBDIRS = ("raw", "img", "meta")


class _ChecksumMismatch(Exception):
    """The downloaded bytes are not the ones the platform announced."""


class ImageCache:
    """The image cache in ``directory`` (created on first use)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.directory = os.path.abspath(os.fspath(directory or default_cache_dir()))
        self._folders = {kind: self.directory + os.sep + kind + os.sep for kind in _SUBDIRS}

    def _path(self, kind: str, key: str, suffix: str = "") -> str:
        return self._folders[kind] + key[-2:] + os.sep + key + suffix

    def pack(self, outcome: Outcome) -> int | tuple[str, int, int]:
        """A usable outcome as one small int (which of the cache's files, the image size),
        for holding many; ``(path, width, height)`` if its file is elsewhere. :meth:`unpack`
        gives back ``(path, width, height)``."""
        key = outcome.item.key
        for kind, (folder, suffix) in enumerate(_KINDS):
            if outcome.path == self._path(folder, key, suffix) and outcome.width < 1 << 24:
                return kind | outcome.width << 2 | outcome.height << 26
        assert outcome.path is not None
        return outcome.path, outcome.width, outcome.height

    def unpack(self, key: str, packed: int | tuple[str, int, int]) -> tuple[str, int, int]:
        """``(path, width, height)`` of an outcome :meth:`pack` gave for ``key``."""
        if isinstance(packed, tuple):
            return packed
        folder, suffix = _KINDS[packed & 3]
        return self._path(folder, key, suffix), packed >> 2 & 0xFFFFFF, packed >> 26

    @property
    def masks_dir(self) -> str:
        """Where segmentation masks are cached."""
        return os.path.join(self.directory, "masks")

    def lookup(self, item: Item) -> Outcome | None:
        """The cached outcome for ``item``, or ``None`` if it must be (re)computed."""
        try:
            fd = os.open(self._path("meta", item.key, ".json"), os.O_RDONLY)
            try:
                meta = json.loads(os.read(fd, 1 << 16))
            finally:
                os.close(fd)
            if meta["v"] != META_VERSION:
                return None
            if meta.get("error"):
                return Outcome(item, error=str(meta["error"]))
            path = os.path.join(self.directory, str(meta["path"]))
            width, height = int(meta["width"]), int(meta["height"])
        except (OSError, ValueError, LookupError, TypeError):  # missing or unreadable: a miss
            return None
        if not os.path.isfile(path):
            return None
        return Outcome(item, path=path, width=width, height=height)

    def ensure(self, item: Item, download: Download, refresh: Refresh | None = None) -> Outcome:
        """Have ``item`` in the cache: download it if needed, verify and normalise it.

        A failed download is tried again with the URLs ``refresh`` gives, up to
        :data:`REFRESHES` times. Safe against other runs filling the same cache at the same
        time.
        """
        cached = self.lookup(item)
        if cached is not None:
            return cached
        return self._fill(item, download, refresh)

    def _fill(self, item: Item, download: Download, refresh: Refresh | None) -> Outcome:
        """:meth:`ensure` for an item just looked up and not found."""
        raw = self._path("raw", item.key)
        downloaded = False
        if not os.path.isfile(raw):
            try:
                with atomic_path(raw) as tmp:
                    seen = _download(item, tmp, download, refresh)
                    if item.checksum:
                        actual = seen.lower() if isinstance(seen, str) else _sha256_file(tmp)
                        if actual != item.checksum.lower():
                            raise _ChecksumMismatch(
                                f"checksum mismatch: expected {item.checksum}, got {actual}"
                            )
            except _ChecksumMismatch as exc:
                return Outcome(item, error=str(exc), downloaded=True)
            except Exception as exc:  # noqa: BLE001 -- a failure of one file: its outcome
                return Outcome(item, error=f"download failed: {_describe(exc)}")
            downloaded = True
        try:
            outcome = self._normalise(item, raw)
        except FileNotFoundError:  # another run normalised it first and removed the raw file
            return self.lookup(item) or Outcome(
                item, error="the downloaded file was removed from the cache by another process"
            )
        meta: dict[str, object] = {"v": META_VERSION}
        if outcome.error:
            meta["error"] = outcome.error
        else:
            assert outcome.path is not None
            meta["path"] = os.path.relpath(outcome.path, self.directory)
            meta["width"], meta["height"] = outcome.width, outcome.height
        write_json_atomic(self._path("meta", item.key, ".json"), meta)
        if outcome.path != raw:  # of no further use; removed once the outcome is recorded
            with contextlib.suppress(FileNotFoundError):  # another run may have done it
                os.unlink(raw)
        return Outcome(item, outcome.path, outcome.width, outcome.height, outcome.error, downloaded)

    def _normalise(self, item: Item, raw: str) -> Outcome:
        """The usable image for the downloaded ``raw`` file; raises FileNotFoundError if
        ``raw`` is gone."""
        try:
            im = Image.open(raw)
            if im.format != "JPEG":  # verify() checks PNG chunk CRCs; a JPEG's is a no-op
                with im:
                    im.verify()
                im = Image.open(raw)
            with im:
                fmt = im.format
                im.load()
                if fmt in ("JPEG", "PNG") and im.mode == "RGB" and _orientation(im) == 1:
                    return Outcome(item, path=raw, width=im.width, height=im.height)
                shown = ImageOps.exif_transpose(im)
                rgb = shown.convert("RGB") if shown.mode != "RGB" else shown
                out = self._path("img", item.key, ".jpg" if fmt == "JPEG" else ".png")
                with atomic_path(out) as tmp:
                    if fmt == "JPEG":
                        rgb.save(tmp, format="JPEG", quality=95)
                    else:
                        rgb.save(tmp, format="PNG")
                return Outcome(item, path=out, width=rgb.width, height=rgb.height)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 -- PIL raises many types for bad files
            return Outcome(item, error=f"not a decodable image ({_describe(exc)})")

    def fetch(
        self,
        items: Iterable[Item],
        download: Download,
        *,
        workers: int = 8,
        window: int | None = None,
        progress: Progress | None = None,
        refresh: Refresh | None = None,
    ) -> Generator[Outcome, None, None]:
        """Ensure every item; yield outcomes as they finish (any order).

        ``progress`` counts outcomes (tallies ``downloaded`` and ``unusable``); ``refresh`` as
        in :meth:`ensure`. ``items`` is read lazily: items already cached are answered at
        once, the others go to ``workers`` threads through a window of at most ``window``
        items in flight (default ``4 * workers``), so the memory held is the window's,
        whatever the number of items. Closing the iterator early (or an exception in the
        caller, Ctrl-C included) stops at once: nothing more is started, the downloads in
        progress finish in their daemon threads (their results land in the cache) and are
        not waited for.
        """
        workers = max(1, workers)
        limit = max(workers, window if window is not None else 4 * workers)
        pool: _Window | None = None
        try:
            for item in items:
                cached = self.lookup(item)
                if cached is not None:
                    if progress:
                        _count(progress, cached)
                    yield cached
                    continue
                if pool is None:
                    pool = _Window(self._fill, download, refresh, workers)
                while pool.in_flight >= limit:
                    outcome = pool.next()
                    if progress:
                        _count(progress, outcome)
                    yield outcome
                pool.submit(item)
            while pool is not None and pool.in_flight:
                outcome = pool.next()
                if progress:
                    _count(progress, outcome)
                yield outcome
        finally:
            if pool is not None:
                pool.stop()


class _Window:
    """Daemon worker threads taking items from a queue and answering outcomes on another."""

    _POLL = 0.1

    def __init__(
        self,
        ensure: Callable[[Item, Download, Refresh | None], Outcome],
        download: Download,
        refresh: Refresh | None,
        n: int,
    ):
        self._ensure = ensure
        self._download = download
        self._refresh = refresh
        self._todo: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Outcome | BaseException] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self.in_flight = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"picsellia-dl-{i}", daemon=True)
            for i in range(n)
        ]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while not self._stopped.is_set():
            item = self._todo.get()
            if item is None or self._stopped.is_set():
                return
            try:
                result: Outcome | BaseException = self._ensure(item, self._download, self._refresh)
            except BaseException as exc:  # noqa: BLE001 -- raised in the caller's thread
                result = exc
            self._done.put(result)

    def submit(self, item: Item) -> None:
        """Queue one item (the caller bounds how many are in flight)."""
        self.in_flight += 1
        self._todo.put(item)

    def next(self) -> Outcome:
        """The next finished outcome (blocks; Ctrl-C interrupts it)."""
        while True:
            try:
                result = self._done.get(timeout=self._POLL)
            except queue.Empty:
                continue
            self.in_flight -= 1
            if isinstance(result, BaseException):
                raise result
            return result

    def stop(self) -> None:
        """Start nothing more; do not wait for the items in progress."""
        self._stopped.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._todo.get_nowait()
        for _ in self._threads:
            self._todo.put(None)


def _count(progress: Progress, outcome: Outcome) -> None:
    progress.advance(1, downloaded=int(outcome.downloaded), unusable=int(outcome.error is not None))


def _download(item: Item, dest: str, download: Download, refresh: Refresh | None) -> str | None:
    """``download`` the item into ``dest``, with the URLs ``refresh`` gives after a failure;
    what ``download`` answered."""
    url, refreshes = item.url, 0
    while True:
        try:
            return download(url, dest, item)
        except Exception as exc:
            fresh = refresh(item, url, exc) if refresh and refreshes < REFRESHES else None
            if fresh is None or fresh == url:
                raise
            url, refreshes = fresh, refreshes + 1


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 -- unreadable EXIF: upright
        return 1


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
