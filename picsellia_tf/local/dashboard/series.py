"""Training curves for the charts: tags grouped into chart families, large series downsampled.

Everything here reads the logs over their primary key (experiment, tag, step): tags, step
ranges, last values and the live stamp are index lookups; downsampling keeps, per pixel-wide
bucket of steps, the point with the smallest and the one with the largest value (a range
query per bucket; no row it does not keep reaches Python), so spikes survive and a
1,000,000-point series answers in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import sqlite3
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


def points(db: sqlite3.Connection, experiment: int, info: TagInfo, buckets: int) -> dict[str, Any]:
    """One tag's series for a chart ``buckets`` pixels wide: every point if there are at most
    two per bucket, else each bucket's minimum and maximum point (one range query per bucket
    over the primary key, no sort: each stored row is read twice). Non-finite values are
    ``None`` (a gap)."""
    span = info.last_step - info.first_step + 1
    rows: list[Row] | None = None
    if span <= 2 * buckets:
        rows = _all(db, experiment, info.tag)
        total = len(rows)
    else:
        edges = [info.first_step + (b * span + buckets - 1) // buckets for b in range(buckets + 1)]
        ranges = list(itertools.pairwise(edges))
        kept: dict[int, Row] = {}
        total = 0
        for lo, hi in ranges:
            value, step, wall, count = db.execute(
                _bucket_query("MIN"), (experiment, info.tag, lo, hi)
            ).fetchone()
            total += count
            if count:
                kept[step] = (step, value, wall)
        if total <= 2 * buckets:
            rows = _all(db, experiment, info.tag)
        else:
            for lo, hi in ranges:
                value, step, wall, count = db.execute(
                    _bucket_query("MAX"), (experiment, info.tag, lo, hi)
                ).fetchone()
                if count:
                    kept[step] = (step, value, wall)
    downsampled = rows is None
    if rows is None:
        rows = [kept[s] for s in sorted(kept)]
    return {
        "tag": info.tag,
        "points": total,
        "shown": len(rows),
        "downsampled": downsampled,
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
