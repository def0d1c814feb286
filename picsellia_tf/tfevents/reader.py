"""Reading event files: whole logs at once, as a stream, or incrementally while they grow."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from fnmatch import fnmatchcase
from typing import Any, BinaryIO

import numpy as np

from picsellia_tf.errors import ValidationError
from picsellia_tf.tfevents._decoder import Columns, RunDecoder, SeriesKeys, TagFilter
from picsellia_tf.tfevents._framing import HEADER, split
from picsellia_tf.tfevents._types import ScalarEvent, TFEventsError, TFEventsWarning

LOGS = dict[str, dict[str, list[Any]]]
Patterns = str | Iterable[str] | None
CHUNK_SIZE = 1 << 20


class EventFileTailer:
    """Reads one event file from where it left off.

    :meth:`poll` returns the scalars of the records completed since the last call and never
    blocks: a record still being written stays for the next call. Not thread-safe."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        run: str = "",
        decoder: RunDecoder | None = None,
        strict: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ):
        self.path = os.fspath(path)
        self.run = run
        self.strict = strict
        self._decoder = decoder if decoder is not None else RunDecoder(run)
        self._chunk_size = max(int(chunk_size), HEADER)
        self._offset = 0
        self._stopped = False

    @property
    def offset(self) -> int:
        """Bytes read so far (the start of the first record not read yet)."""
        return self._offset

    @property
    def stopped(self) -> bool:
        """True once a corrupt record length made the rest of the file unreadable."""
        return self._stopped

    def poll(self) -> list[ScalarEvent]:
        """The scalars of the records completed since the last call, in file order."""
        events: list[ScalarEvent] = []
        for _ in self._pump(None, events):
            pass
        return events

    def __repr__(self) -> str:
        return f"EventFileTailer({self.path!r}, run={self.run!r}, offset={self._offset})"

    def _problem(self, offset: int, what: str) -> None:
        message = f"{self.path}: {what} at byte offset {offset}"
        if self.strict:
            raise TFEventsError(message, path=self.path, offset=offset)
        warnings.warn(message, TFEventsWarning, stacklevel=4)

    def _reporter(self, base: int, starts: np.ndarray) -> Callable[[int, str], None]:
        def report(i: int, what: str) -> None:
            self._problem(base + int(starts[i]) - HEADER, what + ", skipped")

        return report

    def _pump(self, columns: Columns | None, events: list[ScalarEvent] | None) -> Iterator[None]:
        """Read what is available, one chunk per step, into ``columns`` or ``events``."""
        if self._stopped:
            return
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return  # gone, or not there yet
        if size < self._offset:  # truncated or replaced: start over
            self._offset = 0
        if size - self._offset < HEADER:
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            pending = b""
            need = HEADER
            while True:
                missing = need - len(pending)
                if missing > self._chunk_size and missing > _left(f):
                    return  # a long record, not all written yet: never read past the file
                data = f.read(max(self._chunk_size, missing))
                if not data:
                    return
                buf = pending + data if pending else data
                frames = split(buf)
                base = self._offset
                for off in frames.bad_data:
                    self._problem(base + off, "corrupt record (data CRC mismatch), skipped")
                if frames.starts.size:
                    report = self._reporter(base, frames.starts)
                    self._decoder.decode(
                        buf, frames.starts, frames.lengths, report, columns, events
                    )
                self._offset = base + frames.consumed
                if frames.bad_length_at >= 0:
                    self._stopped = True
                    self._problem(
                        base + frames.bad_length_at,
                        "corrupt record length (length CRC mismatch), rest of the file skipped",
                    )
                    yield
                    return
                pending = buf[frames.consumed :]
                need = frames.need
                yield


def _left(f: BinaryIO) -> int:
    """Bytes of an open file after its current position."""
    return os.fstat(f.fileno()).st_size - f.tell()


def _as_patterns(name: str, value: Patterns) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ValidationError(
            f"{name} must be a string or a list of strings, not {value!r}"
        ) from None
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"{name} must hold strings; got {item!r}")
    return items


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


class LogdirTailer:
    """Reads every event file of every run under a log directory (or one event file), from
    where it left off, picking up new event files and new runs as they appear.

    :meth:`poll` / :meth:`poll_logs` never block; a directory that does not exist yet reads as
    empty. Not thread-safe: use one instance from one thread."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        runs: Patterns = None,
        tags: Patterns = None,
        strict: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ):
        self.path = os.fspath(path)
        self.strict = strict
        self._runs = _as_patterns("runs", runs)
        self._tag_patterns = _as_patterns("tags", tags)
        self._chunk_size = chunk_size
        self._decoders: dict[str, RunDecoder] = {}
        self._keys = SeriesKeys()
        self._tailers: dict[str, EventFileTailer] = {}
        self._order: list[EventFileTailer] = []
        self._cycles: set[str] = set()  # symlinked folders found to loop, warned once

    def __repr__(self) -> str:
        return f"LogdirTailer({self.path!r}, files={len(self._tailers)})"

    @property
    def files(self) -> list[EventFileTailer]:
        """The event files found so far, in reading order (run, then file name)."""
        return list(self._order)

    def poll(self) -> list[ScalarEvent]:
        """New scalars since the last call: runs in name order, files in name order, records in
        file order."""
        events: list[ScalarEvent] = []
        for tailer in self._scan():
            for _ in tailer._pump(None, events):
                pass
        return events

    def poll_logs(self) -> LOGS:
        """New scalars since the last call, as a ``post_logs`` LOGS mapping."""
        columns: Columns = {}
        for tailer in self._scan():
            for _ in tailer._pump(columns, None):
                pass
        return _to_logs(columns)

    def _keep_run(self, run: str) -> bool:
        if self._runs is None:
            return True
        return _matches(run, self._runs) or (run == "" and _matches(".", self._runs))

    def _tag_filter(self) -> TagFilter | None:
        patterns = self._tag_patterns
        if patterns is None:
            return None
        return lambda full, bare: _matches(full, patterns) or _matches(bare, patterns)

    def _scan(self) -> list[EventFileTailer]:
        """Find event files not seen before; answer all files in reading order."""
        found: list[tuple[str, str]] = []  # (run, path)
        if os.path.isfile(self.path):
            found.append(("", self.path))
        else:
            for run, dirpath, names in _walk(self.path, self._cycle):
                if self._keep_run(run):
                    found.extend((run, os.path.join(dirpath, f)) for f in names)
        added = False
        for run, path in found:
            if path in self._tailers:
                continue
            decoder = self._decoders.get(run)
            if decoder is None:
                decoder = self._decoders[run] = RunDecoder(run, self._tag_filter(), self._keys)
            self._tailers[path] = EventFileTailer(
                path, run=run, decoder=decoder, strict=self.strict, chunk_size=self._chunk_size
            )
            added = True
        if added:
            self._order = sorted(
                self._tailers.values(), key=lambda t: (t.run, os.path.basename(t.path))
            )
        return self._order

    def _cycle(self, path: str, target: str) -> None:
        if path in self._cycles:
            return
        self._cycles.add(path)
        warnings.warn(
            f"{path}: a symbolic link back to {target}, which is being read already; "
            "not followed (it would loop)",
            TFEventsWarning,
            stacklevel=4,
        )


def _walk(top: str, on_cycle: Callable[[str, str], None]) -> Iterator[tuple[str, str, list[str]]]:
    """``(run, folder, event file names)`` of every folder under ``top`` holding event files,
    depth first in name order, following symbolic links to folders; a link to a folder that
    is already open on the way down (a cycle) is reported to ``on_cycle`` and skipped."""

    def visit(path: str, run: str, open_dirs: dict[tuple[int, int], str]) -> Iterator[Any]:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return  # vanished, or not readable
        names: list[str] = []
        subdirs: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                if entry.is_dir():
                    subdirs.append(entry)
                elif "tfevents" in entry.name and entry.is_file():
                    names.append(entry.name)
            except OSError:
                continue
        if names:
            yield run, path, names
        for entry in subdirs:
            try:
                st = os.stat(entry.path)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in open_dirs:
                on_cycle(entry.path, open_dirs[ident])
                continue
            open_dirs[ident] = entry.path
            yield from visit(entry.path, f"{run}/{entry.name}" if run else entry.name, open_dirs)
            del open_dirs[ident]

    try:
        st = os.stat(top)
    except OSError:
        return
    yield from visit(top, "", {(st.st_dev, st.st_ino): top})


def _to_logs(columns: Columns) -> LOGS:
    return {
        tag: {"step": steps, "value": values, "wall_time": walls}
        for tag, (steps, values, walls) in columns.items()
    }


def _checked(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such log directory or event file: {path}")
    return path


def iter_scalars(
    logdir_or_file: str | os.PathLike[str],
    *,
    runs: Patterns = None,
    tags: Patterns = None,
    strict: bool = False,
) -> Iterator[ScalarEvent]:
    """Every scalar of a log directory (all runs, recursively) or of one event file, streamed:
    runs in name order, each run's files in name order, records in file order."""
    tailer = LogdirTailer(_checked(logdir_or_file), runs=runs, tags=tags, strict=strict)
    events: list[ScalarEvent] = []
    for file in tailer._scan():
        for _ in file._pump(None, events):
            yield from events
            events.clear()


def read_logs(
    logdir_or_file: str | os.PathLike[str],
    *,
    runs: Patterns = None,
    tags: Patterns = None,
    strict: bool = False,
) -> LOGS:
    """Every scalar of a log directory (all runs, recursively) or of one event file, as the
    ``post_logs`` LOGS mapping ``{tag: {"step": [...], "value": [...], "wall_time": [...]}}``.
    Points keep file order (not sorted, not deduplicated)."""
    tailer = LogdirTailer(_checked(logdir_or_file), runs=runs, tags=tags, strict=strict)
    columns: Columns = {}
    for file in tailer._scan():
        for _ in file._pump(columns, None):
            pass
    return _to_logs(columns)


def follow(
    logdir: str | os.PathLike[str],
    *,
    poll_interval: float = 1.0,
    stop: threading.Event | None = None,
    runs: Patterns = None,
    tags: Patterns = None,
    strict: bool = False,
) -> Iterator[ScalarEvent]:
    """Scalars of a log directory as they are written, until ``stop`` is set (then one last
    read, so nothing written before ``stop`` is missed). Without ``stop``, runs until closed."""
    if not poll_interval > 0:
        raise ValidationError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
    tailer = LogdirTailer(logdir, runs=runs, tags=tags, strict=strict)
    while True:
        stopping = stop is not None and stop.is_set()
        yield from tailer.poll()
        if stopping:
            return
        if stop is not None:
            stop.wait(poll_interval)
        else:
            time.sleep(poll_interval)
