"""Training curves for the charts: tags grouped into chart families, large series downsampled.

Downsampling keeps, per pixel-wide bucket of steps, the point with the smallest and the one
with the largest value (SQLite reads the stored rows over the primary key; no row it does not
keep reaches Python), so spikes survive and a 1,000,000-point series answers in a fraction of
a second.
"""

from __future__ import annotations

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
    """What is stored for one tag of a version."""

    tag: str
    points: int
    first_step: int
    last_step: int


def tag_infos(db: sqlite3.Connection, experiment: int) -> list[TagInfo]:
    """Every stored tag of a version with its point count and step range."""
    rows = db.execute(
        "SELECT tag, COUNT(*), MIN(step), MAX(step) FROM logs WHERE experiment = ? GROUP BY tag",
        (experiment,),
    ).fetchall()
    return [TagInfo(r[0], r[1], r[2], r[3]) for r in rows]


def stamp(db: sqlite3.Connection, experiments: list[int]) -> str:
    """Changes whenever points are added or replaced in any of ``experiments``."""
    marks = "?" * len(experiments)
    row = db.execute(
        f"SELECT COUNT(*), MAX(wall_time), SUM(step) FROM logs "
        f"WHERE experiment IN ({','.join(marks)})",
        experiments,
    ).fetchone()
    return f"{row[0]}:{row[1]}:{row[2]}"


def last_values(db: sqlite3.Connection, experiment: int) -> dict[str, tuple[int, float | None]]:
    """Each tag's last (step, value)."""
    rows = db.execute(
        "SELECT tag, MAX(step), value FROM logs WHERE experiment = ? GROUP BY tag", (experiment,)
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _extremes(
    db: sqlite3.Connection, experiment: int, info: TagInfo, buckets: int
) -> list[tuple[int, float | None, float | None]]:
    """Each step bucket's minimum and maximum point, in step order: one range query per bucket
    and extreme over the primary key (no sort, each stored row read twice)."""
    span = info.last_step - info.first_step + 1
    edges = [info.first_step + (b * span + buckets - 1) // buckets for b in range(buckets + 1)]
    kept: dict[int, tuple[int, float | None, float | None]] = {}
    for agg in ("MIN", "MAX"):
        # SQLite takes the bare columns (step, wall_time) from the row holding MIN / MAX.
        query = (
            f"SELECT {agg}(value), step, wall_time FROM logs WHERE experiment = ? AND tag = ? "
            "AND step >= ? AND step < ? AND value IS NOT NULL"
        )
        for lo, hi in itertools.pairwise(edges):
            value, step, wall = db.execute(query, (experiment, info.tag, lo, hi)).fetchone()
            if step is not None:
                kept[step] = (step, value, wall)
    return [kept[s] for s in sorted(kept)]


def points(db: sqlite3.Connection, experiment: int, info: TagInfo, buckets: int) -> dict[str, Any]:
    """One tag's series for a chart ``buckets`` pixels wide: every point if there are at most
    two per bucket, else each bucket's minimum and maximum. Non-finite values are ``None``."""
    if info.points <= 2 * buckets:
        rows = db.execute(
            "SELECT step, value, wall_time FROM logs WHERE experiment = ? AND tag = ? "
            "ORDER BY step",
            (experiment, info.tag),
        ).fetchall()
        downsampled = False
    else:
        rows = _extremes(db, experiment, info, buckets)
        downsampled = True
    return {
        "tag": info.tag,
        "points": info.points,
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
