"""The charts' data: families of tags, downsampling of large series, the live stamp."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator

import numpy as np
import pytest

from picsellia_tf.local import LocalServer
from picsellia_tf.local.dashboard import series
from tests.helpers.dashboard import fill, session
from tests.helpers.local import Api


def test_families_put_validation_beside_training_and_runs_side_by_side():
    tags = [
        "val_loss",
        "loss",
        "accuracy",
        "val_accuracy",
        "learning_rate",
        "batch/loss",
        "batch/accuracy",
        "train/epoch_loss",
        "validation/epoch_loss",
        "val_",
    ]
    found = {f.key: (f.section, f.title, f.tags) for f in series.families(tags)}
    assert found == {
        "epoch:loss": ("epoch", "loss", ["loss", "val_loss"]),
        "epoch:accuracy": ("epoch", "accuracy", ["accuracy", "val_accuracy"]),
        "epoch:learning_rate": ("epoch", "learning_rate", ["learning_rate"]),
        "epoch:val_": ("epoch", "val_", ["val_"]),
        "batch:loss": ("batch", "batch/loss", ["batch/loss"]),
        "batch:accuracy": ("batch", "batch/accuracy", ["batch/accuracy"]),
        "run:epoch_loss": ("run", "epoch_loss", ["train/epoch_loss", "validation/epoch_loss"]),
    }
    assert [f.section for f in series.families(tags)] == ["epoch"] * 4 + ["batch"] * 2 + ["run"]


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE logs (experiment INTEGER, tag TEXT, step INTEGER, value REAL, "
        "wall_time REAL, PRIMARY KEY (experiment, tag, step)) WITHOUT ROWID"
    )
    yield conn
    conn.close()


def test_small_series_come_whole_with_non_finite_values_as_gaps(db):
    db.executemany(
        "INSERT INTO logs VALUES (1, 't', ?, ?, ?)",
        [(0, 1.0, 10.0), (1, math.nan, 11.0), (2, math.inf, None), (3, 0.5, 13.0)],
    )
    (info,) = series.tag_infos(db, 1)
    got = series.points(db, 1, info, 100)
    assert got["points"] == got["shown"] == 4 and not got["downsampled"]
    assert got["step"] == [0, 1, 2, 3]
    assert got["value"] == [1.0, None, None, 0.5]
    assert got["wall"] == [10.0, 11.0, None, 13.0]


def test_large_series_keep_each_buckets_minimum_and_maximum(db):
    n = 100_000
    values = [math.sin(i / 500) for i in range(n)]
    values[31_337] = 50.0  # a spike survives
    values[77_777] = -50.0
    db.executemany(
        "INSERT INTO logs VALUES (1, 't', ?, ?, ?)",
        [(i, v, float(i)) for i, v in enumerate(values)],
    )
    (info,) = series.tag_infos(db, 1)
    got = series.points(db, 1, info, 500)
    assert got["downsampled"] and got["points"] == n
    assert 500 <= got["shown"] <= 1000
    assert got["step"] == sorted(got["step"]) and len(set(got["step"])) == got["shown"]
    assert 31_337 in got["step"] and 77_777 in got["step"]
    assert max(got["value"]) == 50.0 and min(got["value"]) == -50.0
    for step, value, wall in zip(got["step"], got["value"], got["wall"], strict=True):
        assert value == values[step] and wall == float(step)
    width = 256  # the power of two putting 100,000 steps in at most 500 buckets (391)
    assert 250 <= got["shown"] / 2 <= 500
    for b in range(-(-n // width)):  # every bucket's extremes are there
        chunk = values[b * width : (b + 1) * width]
        kept = [v for s, v in zip(got["step"], got["value"], strict=True) if s // width == b]
        assert max(chunk) in kept and min(chunk) in kept


def test_cached_buckets_follow_appends_and_widen_exactly(db):
    rng = np.random.default_rng(1)
    cache = series.BucketCache()
    stored = 0
    for grow in (3_000, 5, 1, 2_000, 20_000, 7, 60_000):  # widths 8, 8, 8, 16, 64, 64, 256
        rows = [(1, "t", stored + i, float(v), None) for i, v in enumerate(rng.normal(size=grow))]
        db.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?)", rows)
        stored += grow
        (info,) = series.tag_infos(db, 1)
        cached = series.points(db, 1, info, 400, cache, ("v",))
        fresh = series.points(db, 1, info, 400)
        assert cached == fresh, stored
        assert cached["points"] == stored and cached["downsampled"]
    assert len(cache._entries) == 1


def test_buckets_argument_is_clamped():
    assert series.clamp_buckets(None) == series.DEFAULT_BUCKETS
    assert series.clamp_buckets("junk") == series.DEFAULT_BUCKETS
    assert series.clamp_buckets("1") == series.MIN_BUCKETS
    assert series.clamp_buckets("999999") == series.MAX_BUCKETS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("series")) as running:
        yield running


def test_series_json_counts_every_stored_point_of_every_tag(server):
    api = Api(server.url, server.token)
    demo = fill(api)
    ref = f"{demo['network_id']}:{demo['training_id']}"
    s = session(server.url, server.token)
    body = s.get(f"{server.url}/ui/series?v={ref}&width=10", timeout=10).json()
    stored = api.ok(
        "GET",
        "/sdk/get_logs",
        {"network_id": demo["network_id"], "training_id": demo["training_id"]},
    )["logs"]
    drawn = {item["tag"]: item for chart in body["charts"] for item in chart["series"]}
    assert sorted(drawn) == sorted(stored)
    for tag, item in drawn.items():
        assert item["points"] == len(stored[tag]["step"]), tag
    assert drawn["batch/loss"]["downsampled"] and drawn["batch/loss"]["shown"] < 30
    assert not drawn["loss"]["downsampled"]
    assert [c["key"] for c in body["charts"]] == ["epoch:learning_rate", "epoch:loss", "batch:loss"]


def test_the_stamp_changes_when_points_arrive(server):
    api = Api(server.url, server.token)
    demo = fill(api, "stamped")
    ref = f"{demo['network_id']}:{demo['training_id']}"
    s = session(server.url, server.token)
    first = s.get(f"{server.url}/ui/stamp?v={ref}", timeout=10).json()["stamp"]
    assert s.get(f"{server.url}/ui/stamp?v={ref}", timeout=10).json()["stamp"] == first
    version = {"network_id": demo["network_id"], "training_id": demo["training_id"]}
    api.ok("POST", "/sdk/post_logs", {**version, "logs": {"loss": {"step": [3], "value": [0.3]}}})
    assert s.get(f"{server.url}/ui/stamp?v={ref}", timeout=10).json()["stamp"] != first


def test_series_needs_a_session_and_well_formed_versions(server):
    import requests

    assert requests.get(f"{server.url}/ui/series?v=x:1", timeout=10).status_code == 401
    s = session(server.url, server.token)
    assert s.get(f"{server.url}/ui/series", timeout=10).status_code == 400
    assert s.get(f"{server.url}/ui/series?v=nocolon", timeout=10).status_code == 400
    assert s.get(f"{server.url}/ui/series?v=missing:1", timeout=10).status_code == 404


def test_sparse_steps_come_whole_and_tags_stay_within_their_version(db):
    rows = [(1, "a", s * 10_000, float(s), None) for s in range(50)]  # 50 points, span 490,001
    rows += [(2, "a", 0, 9.0, None), (2, "b", 0, 9.0, None), (0, "z", 0, 9.0, None)]
    rows += [(1, "c", s, math.nan if s % 2 else 1.0, None) for s in range(3000)]
    db.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?)", rows)
    assert series.tags(db, 1) == ["a", "c"] and series.tags(db, 2) == ["a", "b"]
    assert series.tags(db, 3) == []
    a, c = series.tag_infos(db, 1)
    assert (a.first_step, a.last_step, a.last_value) == (0, 490_000, 49.0)
    got = series.points(db, 1, a, 100)
    assert not got["downsampled"] and got["points"] == got["shown"] == 50
    half_nan = series.points(db, 1, c, 100)
    assert half_nan["downsampled"] and half_nan["points"] == 3000
    assert set(half_nan["value"]) <= {1.0, None}
    assert series.counts(db, 1) == {"a": 50, "c": 3000}


def test_the_stamp_sees_a_new_step_a_new_tag_and_a_rewritten_last_point(db):
    db.execute("INSERT INTO logs VALUES (1, 'loss', 0, 1.0, NULL)")
    marks = [series.stamp(db, [1])]
    for sql in (
        "INSERT INTO logs VALUES (1, 'loss', 1, 0.5, NULL)",
        "INSERT INTO logs VALUES (1, 'val_loss', 0, 0.7, NULL)",
        "UPDATE logs SET value = 0.4 WHERE tag = 'loss' AND step = 1",
    ):
        db.execute(sql)
        marks.append(series.stamp(db, [1]))
    assert len(set(marks)) == 4
    db.execute("INSERT INTO logs VALUES (2, 'loss', 5, 0.5, NULL)")  # another version
    assert series.stamp(db, [1]) == marks[-1]
