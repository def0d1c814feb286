"""Training curves for the charts: tags grouped into chart families, large series downsampled.

Everything here reads the logs over their primary key (experiment, tag, step): tags, step
ranges, last values and the live stamp are index lookups; downsampling keeps, per pixel-wide
bucket of steps, the point with the smallest and the one with the largest value (a range
query per bucket; no row it does not keep reaches Python), so spikes survive and a
1,000,000-point series answers in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BUCKETS = 1000
MIN_BUCKETS = 10
MAX_BUCKETS = 4000

SECTIONS = {"epoch": "Epoch metrics", "batch": "Batch metrics", "run": "TensorBoard runs"}


@dataclass(frozen=True)
class Family:
    """One chart: the tags sharing its axes."""

    key: str
    section: str
    title: str
    tags: list[str] = field(default_factory=list)


def _base(name: str) -> str:
    return name[4:] if name.startswith("val_") and len(name) > 4 else name


def family_of(tag: str) -> tuple[str, str, str]:
    """``(key, section, title)`` of the chart ``tag`` is drawn on.

    ``loss`` and ``val_loss`` share one chart (so do ``batch/x`` and ``batch/val_x``);
    TensorBoard tags ``<run>/<name>`` share the chart of ``name`` across runs.
    """
    if "/" not in tag:
        base = _base(tag)
        return f"epoch:{base}", "epoch", base
    run, _, name = tag.rpartition("/")
    if run == "batch":
        base = _base(name)
        return f"batch:{base}", "batch", f"batch/{base}"
    return f"run:{name}", "run", name


def _order(tag: str) -> tuple[int, str]:
    name = tag.rpartition("/")[2]
    return (1 if name.startswith("val_") or tag.startswith("validation/") else 0, tag)


def families(tags: list[str]) -> list[Family]:
    """The charts for ``tags``: sections in order (epoch, batch, runs), then by title; in a
    chart, training series before validation ones."""
    found: dict[str, Family] = {}
    for tag in tags:
        key, section, title = family_of(tag)
        found.setdefault(key, Family(key, section, title)).tags.append(tag)
    order = list(SECTIONS)
    result = sorted(found.values(), key=lambda f: (order.index(f.section), f.title, f.key))
    for fam in result:
        fam.tags.sort(key=_order)
    return result


@dataclass(frozen=True)
class TagInfo:
    """One stored tag of a version: its first and last step, and its last value."""

    tag: str
    first_step: int
    last_step: int
    last_value: float | None


def tags(db: sqlite3.Connection, experiment: int) -> list[str]:
    """A version's stored tags, in order: a skip-scan over the primary key (one lookup per tag,
    however many points each holds)."""
    found: list[str] = []
    query = "SELECT tag FROM logs WHERE experiment = ? AND tag > ? ORDER BY tag LIMIT 1"
    row = db.execute("SELECT MIN(tag) FROM logs WHERE experiment = ?", (experiment,)).fetchone()
    while row is not None and row[0] is not None:
        found.append(row[0])
        row = db.execute(query, (experiment, row[0])).fetchone()
    return found


def tag_infos(db: sqlite3.Connection, experiment: int) -> list[TagInfo]:
    """Every stored tag of a version with its step range and last value (index lookups)."""
    infos = []
    for tag in tags(db, experiment):
        first = db.execute(
            "SELECT MIN(step) FROM logs WHERE experiment = ? AND tag = ?", (experiment, tag)
        ).fetchone()[0]
        last, value = db.execute(
            "SELECT step, value FROM logs WHERE experiment = ? AND tag = ? "
            "ORDER BY step DESC LIMIT 1",
            (experiment, tag),
        ).fetchone()
        infos.append(TagInfo(tag, first, last, value))
    return infos


def counts(db: sqlite3.Connection, experiment: int) -> dict[str, int]:
    """How many points each tag of a version holds (reads every row once)."""
    rows = db.execute(
        "SELECT tag, COUNT(*) FROM logs WHERE experiment = ? GROUP BY tag", (experiment,)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def stamp(db: sqlite3.Connection, experiments: list[int]) -> str:
    """Changes when a version gains a tag or a tag a later step (what a running fit does);
    index lookups only. Points rewritten at or before a tag's last step show on reload."""
    parts = []
    for experiment in experiments:
        infos = tag_infos(db, experiment)
        parts.append(",".join(f"{i.tag}@{i.last_step}={i.last_value}" for i in infos))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


Row = tuple[int, float | None, float | None]


def _all(db: sqlite3.Connection, experiment: int, tag: str) -> list[Row]:
    return db.execute(
        "SELECT step, value, wall_time FROM logs WHERE experiment = ? AND tag = ? ORDER BY step",
        (experiment, tag),
    ).fetchall()


def _bucket_query(agg: str) -> str:
    # SQLite takes the bare columns (step, wall_time) from the row holding the MIN / MAX.
    return (
        f"SELECT {agg}(value), step, wall_time, COUNT(*) FROM logs WHERE experiment = ? "
        "AND tag = ? AND step >= ? AND step < ?"
    )


Cell = tuple[Row, Row, int]  # a bucket's minimum point, maximum point, and point count


def _lower(a: Row, b: Row) -> Row:
    """The point with the smaller value (a value beats none; ``a``, the earlier, on ties)."""
    if b[1] is None or (a[1] is not None and a[1] <= b[1]):
        return a
    return b


def _higher(a: Row, b: Row) -> Row:
    if b[1] is None or (a[1] is not None and a[1] >= b[1]):
        return a
    return b


@dataclass
class Buckets:
    """A tag's extremes per bucket of ``width`` steps from ``origin``: cells below ``done``
    cover steps that were all stored when read; the cells from ``done`` on are read again."""

    origin: int
    width: int
    cells: dict[int, Cell] = field(default_factory=dict)
    done: int = 0

    def widen(self) -> None:
        """Twice as wide: each pair of cells merged (exactly: extremes of extremes)."""
        merged: dict[int, Cell] = {}
        for index in sorted(self.cells):
            cell = self.cells[index]
            other = merged.get(index // 2)
            if other is None:
                merged[index // 2] = cell
            else:
                merged[index // 2] = (
                    _lower(other[0], cell[0]),
                    _higher(other[1], cell[1]),
                    other[2] + cell[2],
                )
        self.cells, self.width, self.done = merged, self.width * 2, self.done // 2


class BucketCache:
    """Bucket extremes kept between requests, so a page following a fit (or opened again)
    reads only the steps stored since: a bounded LRU keyed by version, tag and width."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple[Any, ...], Buckets] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Buckets | None:
        """A copy of the buckets kept under ``key`` (requests run concurrently: each works on
        its own copy and puts it back; the last one put wins, each one is whole)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return Buckets(entry.origin, entry.width, dict(entry.cells), entry.done)

    def put(self, key: tuple[Any, ...], entry: Buckets) -> None:
        """Keep ``entry`` under ``key`` (the least recently used past ``limit`` go)."""
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)


def _fill(db: sqlite3.Connection, experiment: int, info: TagInfo, entry: Buckets) -> None:
    """Read the cells from ``entry.done`` to the one holding the last step."""
    last = (info.last_step - entry.origin) // entry.width
    for index in range(entry.done, last + 1):
        lo = entry.origin + index * entry.width
        args = (experiment, info.tag, lo, lo + entry.width)
        low_value, low_step, low_wall, count = db.execute(_bucket_query("MIN"), args).fetchone()
        if not count:
            entry.cells.pop(index, None)
            continue
        high_value, high_step, high_wall, _ = db.execute(_bucket_query("MAX"), args).fetchone()
        entry.cells[index] = (
            (low_step, low_value, low_wall),
            (high_step, high_value, high_wall),
            count,
        )
    entry.done = max(entry.done, last)  # the last cell may still gain points: read it again


def points(
    db: sqlite3.Connection,
    experiment: int,
    info: TagInfo,
    buckets: int,
    cache: BucketCache | None = None,
    key: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """One tag's series for a chart ``buckets`` pixels wide: every point if there are at most
    two per bucket, else the minimum and maximum point of each bucket of a power-of-two number
    of steps (between ``buckets / 2`` and ``buckets`` of them). A bucket is two range queries
    over the primary key (each stored row read twice, no sort); with ``cache``, buckets read
    before are kept (under ``key``) and only those from the last one read on are read again.
    Non-finite values are ``None`` (a gap)."""
    span = info.last_step - info.first_step + 1
    rows: list[Row] | None = None
    total = 0
    if span <= 2 * buckets:
        rows = _all(db, experiment, info.tag)
        total = len(rows)
    else:
        width = 1
        while span > width * buckets:
            width *= 2
        full_key = (*key, experiment, info.tag, buckets)
        entry = cache.get(full_key) if cache is not None else None
        if entry is None or entry.origin != info.first_step or entry.width > width:
            entry = Buckets(info.first_step, width)
        while entry.width < width:
            entry.widen()
        _fill(db, experiment, info, entry)
        if cache is not None:
            cache.put(full_key, entry)
        total = sum(cell[2] for cell in entry.cells.values())
        if total <= 2 * buckets:
            rows = _all(db, experiment, info.tag)
        else:
            kept = {r[0]: r for cell in entry.cells.values() for r in cell[:2]}
            rows = [kept[step] for step in sorted(kept)]
    return {
        "tag": info.tag,
        "points": total,
        "shown": len(rows),
        "downsampled": total > len(rows),
        "step": [r[0] for r in rows],
        "value": [_clean(r[1]) for r in rows],
        "wall": [r[2] for r in rows],
    }


def clamp_buckets(value: str | None) -> int:
    """The ``width`` query argument as a bucket count (default for a missing or bad one)."""
    try:
        number = int(value) if value is not None else DEFAULT_BUCKETS
    except ValueError:
        number = DEFAULT_BUCKETS
    return max(MIN_BUCKETS, min(MAX_BUCKETS, number))
