"""One file per listing that says what the image cache holds for its files, so that a warm
``load()`` reads one file instead of one cache record per image.

An index is named by what was listed (``load`` hashes the host, project, dataset and split)
and holds, in listing order, each file's cache key and its packed outcome
(:meth:`~picsellia_tf.data.cache.ImageCache.pack`: which cache file, the image size). It is
only ever a shortcut: a key it does not hold, an entry it no longer trusts, or an index that
is missing, unreadable or of another version, is looked up in the cache image by image.

Trust comes from the cache's folders: the index stamps every ``raw/<k2>`` and ``img/<k2>``
folder its entries point into with the folder's modification time. Adding, removing or
renaming a file in a folder (all the cache ever does: files are renamed into place) changes
that time, so an entry is trusted only while its folder's stamp is unchanged. The stamp is
taken after the entries' files are seen to exist, and a folder modified too recently to be
told apart from a later change (:data:`RACY_NS`) gets no stamp.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time

from picsellia_tf.data.cache import META_VERSION, SHA256_KEY, URL_KEY, ImageCache, atomic_path

MAGIC = b"PTFCIDX1"
_FOLDERS = ("raw", "img")  # packed & 3: 0 is the raw download, 1 and 2 a normalised image
_HEADER = struct.Struct(f"<8sII{2 * 256}q")
_ENTRY = 41  # key kind (1 byte) + sha256 digest (32) + packed outcome (8, little-endian)
_KINDS = {SHA256_KEY: b"s", URL_KEY: b"u"}
RACY_NS = 100_000_000
"""A folder modified less than this long ago (ns) may change again within the same tick of
its file system's clock without its time changing: such a folder is not stamped."""
COARSE_RACY_NS = 2_000_000_000
"""The same for a folder whose time is a whole second (a file system keeping seconds)."""


def _digest(key: str) -> bytes | None:
    """The 33 bytes an entry keeps of a cache key, or None for a key of another form."""
    prefix, dash, hexdigest = key.partition("-")
    kind = _KINDS.get(prefix + dash)
    if kind is None or len(hexdigest) != 64:
        return None
    try:
        digest = bytes.fromhex(hexdigest)
    except ValueError:
        return None
    return kind + digest if len(digest) == 32 else None  # fromhex skips whitespace


def _slot(digest: bytes, packed: int) -> int:
    """Which folder stamp an entry depends on: ``raw`` or ``img``, then the key's last byte."""
    return (1 if packed & 3 else 0) * 256 + digest[-1]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class CacheIndex:
    """The index ``name`` of ``store``: :meth:`get` answers from the last saved one, while
    it and :meth:`record` build the next, which :meth:`save` writes if it differs."""

    def __init__(self, store: ImageCache, name: str):
        self._store = store
        self.path = os.path.join(store.directory, "index", name + ".idx")
        self._data = b""
        self._count = 0
        self._cursor = 0
        self._positions: dict[bytes, int] | None = None
        self._trusted = bytearray(512)
        self._stamps: tuple[int, ...] = (0,) * 512
        self._same = 0  # entries recorded so far that repeat the saved index's, in order
        self._new: bytearray | None = None  # the recorded entries, once they differ from it
        self._read()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return
        if len(data) < _HEADER.size:
            return
        magic, version, count, *stamps = _HEADER.unpack_from(data)
        if magic != MAGIC or version != META_VERSION or len(data) != _HEADER.size + count * _ENTRY:
            return
        for slot, stamp in enumerate(stamps):
            if stamp:
                self._trusted[slot] = _mtime(self._folder(slot)) == stamp
        self._data, self._count, self._stamps = data, count, tuple(stamps)

    def _folder(self, slot: int) -> str:
        return os.path.join(self._store.directory, _FOLDERS[slot >> 8], f"{slot & 255:02x}")

    def get(self, key: str) -> int | None:
        """The packed outcome the index holds for ``key``, if it still trusts it. What it
        answers is recorded for the next index as well (not to be :meth:`record`-ed again)."""
        digest = _digest(key)
        if digest is None or not self._count:
            return None
        data = self._data
        i = self._cursor  # a listing that did not change asks in the index's order
        if i < self._count and data.startswith(digest, _HEADER.size + i * _ENTRY):
            self._cursor = i + 1
        else:
            if self._positions is None:
                size = _HEADER.size
                self._positions = {
                    data[size + j * _ENTRY : size + j * _ENTRY + 33]: j for j in range(self._count)
                }
            found = self._positions.get(digest)
            if found is None:
                return None
            i = found
        start = _HEADER.size + i * _ENTRY
        packed = int.from_bytes(data[start + 33 : start + _ENTRY], "little")
        if not self._trusted[_slot(digest, packed)]:
            return None
        if self._new is None and i == self._same:  # the next index repeats this one so far
            self._same = i + 1
        else:
            self._diverged().extend(data[start : start + _ENTRY])
        return packed

    def record(self, key: str, packed: int | tuple[str, int, int]) -> None:
        """Add an outcome to the next index (in listing order); only cache files are kept."""
        digest = _digest(key)
        if digest is None or not isinstance(packed, int) or not 0 <= packed < 1 << 64:
            return
        entry = digest + packed.to_bytes(8, "little")
        if self._new is None:
            same = self._same
            if same < self._count and self._data.startswith(entry, _HEADER.size + same * _ENTRY):
                self._same = same + 1
                return
        self._diverged().extend(entry)

    def _diverged(self) -> bytearray:
        """The next index's own entries (copied when it first differs from the saved one)."""
        if self._new is None:
            self._new = bytearray(self._data[_HEADER.size : _HEADER.size + self._same * _ENTRY])
        return self._new

    def save(self) -> bool:
        """Write the recorded index if it differs from the one read; whether it wrote."""
        if self._new is None:
            new = self._data[_HEADER.size : _HEADER.size + self._same * _ENTRY]
        else:
            new = bytes(self._new)
        unchanged = self._new is None and self._same == self._count
        self._same, self._new = 0, None
        # each entry's _slot: its packed outcome's first byte, its digest's last
        slots = {(256 if new[j] & 3 else 0) + new[j - 1] for j in range(33, len(new), _ENTRY)}
        if unchanged and all(self._trusted[s] for s in slots):
            return False
        folders = {s: self._folder(s) for s in slots}
        before = {s: _mtime(path) for s, path in folders.items()}
        kept = bytearray()
        for j in range(0, len(new), _ENTRY):  # only entries whose file is there now
            key = _key(new[j : j + 33])
            path, _, _ = self._store.unpack(key, _packed(new, j))
            with contextlib.suppress(OSError):
                os.stat(path)
                kept += new[j : j + _ENTRY]
        now = time.time_ns()
        stamps = [0] * 512
        for s, path in folders.items():
            stamp = before[s]
            if stamp is None or _mtime(path) != stamp:
                continue  # changed while the entries were checked: looked up next time
            racy = COARSE_RACY_NS if stamp % 1_000_000_000 == 0 else RACY_NS
            if now - stamp >= racy:
                stamps[s] = stamp
        header = _HEADER.pack(MAGIC, META_VERSION, len(kept) // _ENTRY, *stamps)
        with contextlib.suppress(OSError):  # a cache that cannot keep an index still works
            with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
                f.write(header)
                f.write(kept)
            return True
        return False


def _packed(data: bytes, j: int) -> int:
    return int.from_bytes(data[j + 33 : j + _ENTRY], "little")


def _key(digest: bytes) -> str:
    prefix = SHA256_KEY if digest[:1] == b"s" else URL_KEY
    return prefix + digest[1:].hex()
