"""The on-disk spool of one training run: every point is written here before it is sent.

A run directory holds:

- ``meta.json``: where the points go (``host``, ``project_id``, ``model_name``, ``training_id``,
  ``network_id``). Never the API token.
- ``points.jsonl``: one JSON array ``[tag, step, value, wall_time]`` per line, append-only.
- ``points.acked``: the byte offset in ``points.jsonl`` up to which the server has accepted
  everything; replaced atomically after each accepted post.
- ``previews/<file>.png``: preview images, each written (atomically) before its record;
  ``previews.jsonl``: one ``{"file": name}`` line per preview, and ``previews.acked``: the
  offset up to which they were uploaded and recorded, as for the points.

- ``points.dropped``: how many points were lost (see below); written when the run is made,
  so that it can be updated in place on a full disk.

A line is complete once it ends with a newline; readers ignore an unterminated last line, and
a writer reopening the file terminates it first. Writes are flushed to the OS (not fsynced), so
a killed process loses nothing it had written.

Disk errors (a full disk, most often) never stop a run and never lose a point silently:

- Points that cannot be appended are kept in memory, in order, up to :data:`MEMORY_LIMIT`
  bytes of encoded lines (8 MiB, about 100,000 points); every later append, and every pass of
  the sender, first tries to write them out. The sender also posts them straight from memory
  when the server is up (:meth:`Spool.memory_lines`), so a run whose disk is full loses
  nothing while the platform takes its points.
- A failed write of ``meta.json`` or of an acknowledgement file is kept in memory and retried
  the same way; nothing already accepted is sent twice meanwhile (``acked()`` answers the
  newer offset), and a temporary file never outlives the write that made it.
- A point is dropped only when it can be neither written nor kept: the memory bound is
  reached (the disk full and the platform not taking points), or the run ends with points
  still in memory (:meth:`Spool.close`). Dropped points are counted (:attr:`Spool.dropped`),
  recorded in ``points.dropped``, reported by the callback's end-of-fit warning and by
  ``picsellia-tf sync`` (which then exits 1).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, NamedTuple

from picsellia_tf.errors import ValidationError

META_FILE = "meta.json"
POINTS_FILE = "points.jsonl"
ACKED_FILE = "points.acked"
PREVIEWS_DIR = "previews"
PREVIEWS_FILE = "previews.jsonl"
PREVIEWS_ACKED_FILE = "previews.acked"
DROPPED_FILE = "points.dropped"
FORMAT_VERSION = 1
MEMORY_LIMIT = 8 * 1024 * 1024
"""Bytes of encoded points a spool keeps in memory while its disk refuses writes."""
DISK_RETRY_INTERVAL = 0.25
"""Seconds between two tries of a failing disk from the training thread's appends."""


class Point(NamedTuple):
    """One scalar of one series: ``tag`` at ``step``."""

    tag: str
    step: int
    value: float
    wall_time: float | None = None


@dataclass
class RunMeta:
    """Where a spooled run's points go. ``training_id``/``network_id`` are None until known."""

    host: str | None = None
    project_id: str | None = None
    model_name: str | None = None
    training_id: int | None = None
    network_id: str | None = None
    created: float | None = None

    @property
    def has_experiment(self) -> bool:
        """True once the experiment version (training and network ids) is known."""
        return self.training_id is not None and self.network_id is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "host": self.host,
            "project_id": self.project_id,
            "model_name": self.model_name,
            "training_id": self.training_id,
            "network_id": self.network_id,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunMeta:
        if not isinstance(data, dict):
            raise ValidationError(f"{where}: expected a JSON object")
        tid = data.get("training_id")
        if tid is not None and (not isinstance(tid, int) or isinstance(tid, bool)):
            raise ValidationError(f"{where}: field 'training_id': expected an int, got {tid!r}")
        for name in ("host", "project_id", "model_name", "network_id"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{where}: field {name!r}: expected a string")
        created = data.get("created")
        return cls(
            host=data.get("host"),
            project_id=data.get("project_id"),
            model_name=data.get("model_name"),
            training_id=tid,
            network_id=data.get("network_id"),
            created=float(created) if isinstance(created, int | float) else None,
        )


def default_spool_dir() -> Path:
    """``$PICSELLIA_SPOOL_DIR``, else ``~/.cache/picsellia_tf/spool``."""
    env = os.environ.get("PICSELLIA_SPOOL_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "picsellia_tf" / "spool"


def run_dir_name(meta: RunMeta) -> str:
    """``<network_id>-<training_id>``, or a unique ``new-<model>-...`` name before init."""
    if meta.has_experiment:
        return f"{_safe(str(meta.network_id))}-{meta.training_id}"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"new-{_safe(meta.model_name or 'model')}-{stamp}-{uuid.uuid4().hex[:8]}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "_"


def is_run_dir(path: Path) -> bool:
    """True if ``path`` is one run's spool directory."""
    return (path / META_FILE).is_file()


def find_runs(path: str | os.PathLike[str]) -> list[Path]:
    """The run directories in ``path`` (``path`` itself if it is one), sorted by name."""
    root = Path(path)
    if not root.is_dir():
        raise ValidationError(f"spool directory {str(root)!r} does not exist")
    if is_run_dir(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p))


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename; on failure the
    temporary file is removed and the error raised."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_dropped(path: str | os.PathLike[str]) -> int:
    """The count of dropped points recorded in a run directory (0 if none)."""
    try:
        return int((Path(path) / DROPPED_FILE).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # absent, or its folder could not be made
        return 0


def _read_offset(path: Path) -> int:
    """An acknowledged offset; 0 if absent or unreadable (everything is then sent again, which
    is harmless: the server merges points by tag and step, and previews by name)."""
    try:
        return int(path.read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def _open_for_append(path: Path, buffering: int = -1) -> IO[bytes]:
    """``path`` opened for appending, a last line left unterminated (a writer died mid-line)
    ended first so that the next line stands alone."""
    fh = open(path, "ab", buffering=buffering)
    try:
        size = fh.tell()
        if size:
            with open(path, "rb") as rd:
                rd.seek(size - 1)
                if rd.read(1) != b"\n":
                    fh.write(b"\n")
                    fh.flush()
    except BaseException:
        fh.close()
        raise
    return fh


def _write_all(fh: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file; on an error, cut the file back to where it
    was (no partial line left behind) and raise."""
    start = fh.tell()
    view = memoryview(data)
    try:
        while view:
            n = fh.write(view)
            view = view[n or 0 :]
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fh.fileno(), start)
            fh.seek(start)
        raise


def _read_lines(path: Path, offset: int, limit: int) -> tuple[list[bytes], int]:
    """Up to ``limit`` non-blank lines of ``path`` from ``offset``, and the offset after them.

    Only complete lines are read: an unterminated last line may still be being written.
    """
    lines: list[bytes] = []
    try:
        fh = open(path, "rb")
    except OSError:  # absent, or its folder could not be made
        return lines, offset
    with fh:
        fh.seek(offset)
        tail = b""
        while True:
            block = fh.read(_READ_BLOCK)
            if not block:
                return lines, offset
            parts = (tail + block).split(b"\n")
            tail = parts.pop()  # not ended by a newline (yet)
            for part in parts:
                offset += len(part) + 1
                if part.strip():
                    lines.append(part)
                    if len(lines) >= limit:
                        return lines, offset


_READ_BLOCK = 1 << 20
"""Bytes read at a time from a spool file."""


_encoded_tags: dict[str, str] = {}


def encode_point(tag: str, step: int, value: float, wall_time: float | None) -> str:
    """One spool line (with its newline): ``[tag, step, value, wall_time]`` as JSON."""
    encoded = _encoded_tags.get(tag)
    if encoded is None:
        encoded = json.dumps(tag)
        if len(_encoded_tags) < 10_000:
            _encoded_tags[tag] = encoded
    number = repr(value) if math.isfinite(value) else json.dumps(value)
    wall = "null" if wall_time is None else repr(wall_time)
    return f"[{encoded},{int(step)},{number},{wall}]\n"


class Spool:
    """One run's spool directory: append points, read what is unsent, record what was accepted.

    Appends are thread-safe. Reading and acknowledging are meant for one consumer at a time
    (the sender thread, or ``picsellia-tf sync``).
    """

    def __init__(self, path: str | os.PathLike[str], meta: RunMeta):
        self.path = Path(path)
        self.meta = meta
        self._lock = threading.Lock()
        self._fh: IO[bytes] | None = None
        self._written = 0
        self.bad_lines = 0
        self.memory_limit = MEMORY_LIMIT
        """Bytes of encoded points kept in memory while the disk refuses writes."""
        self.dropped = read_dropped(self.path)
        """Points lost so far: neither written nor kept (see the module docstring)."""
        self._disk_error: OSError | None = None
        self._memory: deque[tuple[int, str, int]] = deque()  # (seq, lines, how many)
        self._memory_bytes = 0
        self._seq = 0
        self._meta_dirty = False
        self._acks: dict[str, int] = {}  # acknowledgement file -> offset not written yet
        self._dropped_written = self.dropped
        self._last_try = 0.0

    def __repr__(self) -> str:
        return f"Spool({str(self.path)!r})"

    @classmethod
    def create(cls, parent: str | os.PathLike[str], meta: RunMeta) -> Spool:
        """Open the run directory for ``meta`` under ``parent``; reuses it if it exists."""
        path = Path(parent) / run_dir_name(meta)
        if meta.created is None:
            meta.created = time.time()
        try:
            path.mkdir(parents=True, exist_ok=True)
            if is_run_dir(path):
                meta.created = cls.open(path).meta.created or meta.created
        except ValidationError:
            pass  # a damaged meta.json is rewritten below
        except OSError:
            pass  # the disk: retried with every write
        spool = cls(path, meta)
        spool.write_meta()
        with spool._lock:
            spool._reserve_dropped()
        return spool

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Spool:
        """An existing run directory."""
        path = Path(path)
        meta_path = path / META_FILE
        try:
            data = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError(
                f"{meta_path}: not a spool run directory (no meta.json)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ValidationError(f"{meta_path}: unreadable: {exc}") from None
        return cls(path, RunMeta.from_json(data, str(meta_path)))

    def write_meta(self) -> bool:
        """Save ``meta`` atomically; False if the disk refused (then retried with later
        writes, see :meth:`retry_disk`)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.path / META_FILE, json.dumps(self.meta.to_json(), indent=2) + "\n")
        except OSError as exc:
            self._meta_dirty = True
            self.disk_error = exc
            return False
        self._meta_dirty = False
        return True

    def set_experiment(self, training_id: int, network_id: str) -> None:
        """Record the experiment version the run goes to: in ``meta`` (replaced as a whole, so
        another thread never sees one id without the other), then in ``meta.json``."""
        self.meta = replace(self.meta, training_id=training_id, network_id=network_id)
        self.write_meta()

    # -- writing -----------------------------------------------------------------------------

    def append_lines(self, text: str) -> int:
        """Append encoded lines (see :func:`encode_point`), flushed to the OS; the size of
        ``points.jsonl``. Never raises for a disk error: the lines are then kept in memory
        (or, past :attr:`memory_limit`, counted in :attr:`dropped`)."""
        with self._lock:
            if self._memory:
                self._retry_locked(force=False)
            if not self._memory:
                try:
                    self._write_locked(text.encode("utf-8"))
                    return self._written
                except OSError as exc:
                    self.disk_error = exc
            self._keep_locked(text)
            return self._written

    def _write_locked(self, data: bytes) -> None:
        fh = self._fh
        if fh is None:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = _open_for_append(self.path / POINTS_FILE, buffering=0)
            self._fh = fh
            self._written = fh.tell()
        try:
            _write_all(fh, data)
        except OSError:
            self._fh = None
            with contextlib.suppress(OSError):
                fh.close()
            raise
        self._written += len(data)

    def _keep_locked(self, text: str) -> None:
        count = text.count("\n")
        if self._memory_bytes + len(text) > self.memory_limit:
            self.dropped += count
            self._record_dropped_locked()
            return
        self._seq += 1
        self._memory.append((self._seq, text, count))
        self._memory_bytes += len(text)

    def retry_disk(self) -> bool:
        """Try the writes the disk refused (points kept in memory, ``meta.json``,
        acknowledgements, the dropped count); True once nothing is waiting for the disk."""
        with self._lock:
            return self._retry_locked(force=True)

    def _retry_locked(self, *, force: bool) -> bool:
        now = time.monotonic()
        if not force and now - self._last_try < DISK_RETRY_INTERVAL:
            return False
        self._last_try = now
        try:
            if self._meta_dirty and not self.write_meta():
                return False
            for name, offset in list(self._acks.items()):
                _atomic_write(self.path / name, f"{offset}\n")
                del self._acks[name]
            self._reserve_dropped()
            if self._dropped_written != self.dropped:
                self._record_dropped_locked()
                if self._dropped_written != self.dropped:
                    return False
            while self._memory:
                _, text, _ = self._memory[0]
                self._write_locked(text.encode("utf-8"))
                self._memory.popleft()
                self._memory_bytes -= len(text)
        except OSError as exc:
            self.disk_error = exc
            return False
        self.disk_error = None
        return True

    def _reserve_dropped(self) -> None:
        """Create ``points.dropped`` (so that it can later be updated on a full disk)."""
        path = self.path / DROPPED_FILE
        if path.exists():
            return
        try:
            _atomic_write(path, f"{self.dropped:>20}\n")
            self._dropped_written = self.dropped
        except OSError as exc:
            self.disk_error = exc

    def _record_dropped_locked(self) -> None:
        """Write the dropped count in place (the file keeps its size: no new disk space)."""
        try:
            fd = os.open(self.path / DROPPED_FILE, os.O_WRONLY)
        except OSError:
            return  # not reserved yet: retry_disk creates it
        try:
            os.pwrite(fd, f"{self.dropped:>20}\n".encode("ascii"), 0)
            self._dropped_written = self.dropped
        except OSError as exc:
            self.disk_error = exc
        finally:
            os.close(fd)

    def memory_lines(self, max_points: int) -> tuple[list[bytes], int]:
        """The encoded lines of up to about ``max_points`` points held in memory (oldest
        first) and a mark to pass to :meth:`forget_memory` once they were delivered."""
        with self._lock:
            lines: list[bytes] = []
            mark = 0
            for seq, text, count in self._memory:
                if lines and len(lines) + count > max_points:
                    break
                lines.extend(line.encode("utf-8") for line in text.splitlines() if line)
                mark = seq
            return lines, mark

    def forget_memory(self, mark: int) -> None:
        """Drop the points held in memory up to ``mark`` (delivered: they need no disk)."""
        with self._lock:
            while self._memory and self._memory[0][0] <= mark:
                _, text, _ = self._memory.popleft()
                self._memory_bytes -= len(text)

    @property
    def disk_error(self) -> OSError | None:
        """The last disk error, None once the disk took every write again."""
        return self._disk_error

    @disk_error.setter
    def disk_error(self, exc: OSError | None) -> None:
        # Kept without its traceback: its frames would keep their callers' alive, up to a whole
        # model.fit (the model, its data and their tf.data iterators) for as long as the spool.
        self._disk_error = None if exc is None else exc.with_traceback(None)

    @property
    def in_memory(self) -> int:
        """Points held in memory, waiting for the disk or the platform."""
        with self._lock:
            return sum(count for _, _, count in self._memory)

    def append(self, points: Iterable[Point]) -> int:
        """Append points; the spool's new size in bytes."""
        return self.append_lines(
            "".join(encode_point(p.tag, p.step, p.value, p.wall_time) for p in points)
        )

    def close(self) -> None:
        """Write out what the disk refused if it can now, then close the append handle
        (appending again reopens it). Points still in memory then are lost with the process:
        they are counted in :attr:`dropped` (and recorded, if the disk allows)."""
        with self._lock:
            self._retry_locked(force=True)
            if self._memory:
                self.dropped += sum(count for _, _, count in self._memory)
                self._memory.clear()
                self._memory_bytes = 0
                self._record_dropped_locked()
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
                self._fh = None

    # -- reading and acknowledging -----------------------------------------------------------

    def size(self) -> int:
        """Bytes in ``points.jsonl`` (0 if absent)."""
        return _size(self.path / POINTS_FILE)

    def acked(self) -> int:
        """Offset up to which every point was accepted by the server."""
        return self._acks.get(ACKED_FILE) or _read_offset(self.path / ACKED_FILE)

    def ack(self, offset: int) -> None:
        """Record that everything before ``offset`` was accepted (kept in memory and retried
        if the disk refuses)."""
        self._ack(ACKED_FILE, offset)

    def _ack(self, name: str, offset: int) -> None:
        with self._lock:
            try:
                _atomic_write(self.path / name, f"{offset}\n")
                self._acks.pop(name, None)
            except OSError as exc:
                self.disk_error = exc
                self._acks[name] = offset

    def read(self, offset: int, max_points: int) -> tuple[list[Point], int]:
        """Up to ``max_points`` complete points from ``offset``, and the offset after them."""
        lines, pos = _read_lines(self.path / POINTS_FILE, offset, max_points)
        return self._decode_lines(lines), pos

    def _decode_lines(self, lines: list[bytes]) -> list[Point]:
        if not lines:
            return []
        try:
            rows = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            rows = None  # some line is damaged: decode them one by one
        if rows is None:
            decoded = [_decode_line(line) for line in lines]
        else:
            decoded = [_decode_row(row) for row in rows]
        points = [p for p in decoded if p is not None]
        self.bad_lines += len(decoded) - len(points)
        return points

    def iter_points(self, offset: int = 0, chunk: int = 10_000) -> Iterator[Point]:
        """Every complete point from ``offset`` on."""
        while True:
            points, offset = self.read(offset, chunk)
            if not points:
                return
            yield from points

    def pending(self) -> bool:
        """True if some points or previews were not acknowledged."""
        return (
            bool(self._memory)
            or self.acked() < self.size()
            or self.previews_acked() < self.previews_size()
        )

    # -- previews ----------------------------------------------------------------------------

    def add_preview(self, name: str, data: bytes) -> None:
        """Keep an encoded image as ``previews/<name>`` and queue it for upload."""
        if not _PREVIEW_NAME.fullmatch(name):
            raise ValidationError(f"preview name {name!r}: expected a plain file name")
        folder = self.path / PREVIEWS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        line = (json.dumps({"file": name}) + "\n").encode("utf-8")
        with self._lock, _open_for_append(self.path / PREVIEWS_FILE) as fh:
            fh.write(line)

    def preview_path(self, name: str) -> Path:
        """Where the spooled preview ``name`` is kept."""
        return self.path / PREVIEWS_DIR / name

    def previews_size(self) -> int:
        """Bytes in ``previews.jsonl`` (0 if absent)."""
        return _size(self.path / PREVIEWS_FILE)

    def previews_acked(self) -> int:
        """Offset in ``previews.jsonl`` up to which every preview was delivered."""
        return self._acks.get(PREVIEWS_ACKED_FILE) or _read_offset(self.path / PREVIEWS_ACKED_FILE)

    def ack_previews(self, offset: int) -> None:
        """Record that every preview before ``offset`` was delivered (as :meth:`ack`)."""
        self._ack(PREVIEWS_ACKED_FILE, offset)

    def read_previews(self, offset: int, max_items: int) -> tuple[list[str], int]:
        """The preview names among the next ``max_items`` records from ``offset``, and the offset
        after them. Damaged records and records whose file is missing are skipped (counted in
        ``bad_lines``)."""
        lines, pos = _read_lines(self.path / PREVIEWS_FILE, offset, max_items)
        names: list[str] = []
        for line in lines:
            try:
                name = json.loads(line)["file"]
            except (ValueError, KeyError, TypeError):
                name = None
            if (
                isinstance(name, str)
                and _PREVIEW_NAME.fullmatch(name)
                and self.preview_path(name).is_file()
            ):
                names.append(name)
            else:
                self.bad_lines += 1
        return names, pos

    def remove(self) -> None:
        """Delete the run directory."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


_PREVIEW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def _decode_line(line: bytes) -> Point | None:
    try:
        return _decode_row(json.loads(line))
    except ValueError:
        return None


def _decode_row(row: Any) -> Point | None:
    if type(row) is not list or len(row) != 4:
        return None
    tag, step, value, wall_time = row
    if type(tag) is not str or type(step) is not int:
        return None
    if type(value) is not float:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        value = float(value)
    if wall_time is not None and type(wall_time) is not float:
        wall_time = float(wall_time) if type(wall_time) is int else None
    return Point(tag, step, value, wall_time)


def to_logs(points: Iterable[Point]) -> dict[str, dict[str, list[Any]]]:
    """Points as the wire's LOGS; a (tag, step) seen twice keeps its last value."""
    series: dict[str, dict[int, tuple[float, float | None]]] = {}
    for p in points:
        series.setdefault(p.tag, {})[p.step] = (p.value, p.wall_time)
    logs: dict[str, dict[str, list[Any]]] = {}
    for tag, by_step in series.items():
        steps = sorted(by_step)
        entry: dict[str, list[Any]] = {
            "step": steps,
            "value": [by_step[s][0] for s in steps],
        }
        walls = [by_step[s][1] for s in steps]
        if all(w is not None for w in walls):
            entry["wall_time"] = walls
        logs[tag] = entry
    return logs
