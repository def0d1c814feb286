"""The spool on a real full disk (a 2 MiB tmpfs mounted by the test): real ``fit`` runs against
the local platform, nothing lost while the platform takes the points, and what must be lost
(disk full and platform down) counted exactly, warned about and reported by ``sync``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import keras
import pytest

from picsellia_tf.client import Client
from picsellia_tf.sender import DeliveryWarning, Sender, make_sender_client
from picsellia_tf.spool import Point, RunMeta, Spool, find_runs, read_dropped
from tests.helpers.callback import (
    STEPS_PER_EPOCH,
    BatchRecorder,
    assert_points_equal,
    callback_for,
    epoch_points,
    fit_tiny,
    new_experiment,
    server_points,
    tiny_model,
    unused_port,
)
from tests.helpers.full_disk import SmallDisk

pytestmark = pytest.mark.timeout(180)
LR = 0.05


def _at_epochs(**actions: Any) -> Any:
    """A callback calling ``actions["e<N>"]()`` when epoch N begins (before ours sees it)."""

    def begin(epoch: int, logs: Any) -> None:
        action = actions.get(f"e{epoch}")
        if action is not None:
            action()

    return keras.callbacks.LambdaCallback(on_epoch_begin=begin)


def _wanted(history: Any, recorder: BatchRecorder) -> dict[str, dict[int, float]]:
    want = epoch_points(history)
    want["learning_rate"] = {e: LR for e in history.epoch}
    want.update(recorder.points)
    return want


def _count(want: dict[str, dict[int, float]]) -> int:
    return sum(len(steps) for steps in want.values())


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DeliveryWarning)]


def _no_temp_files(disk: SmallDisk) -> None:
    assert [f for f in disk.files() if f.endswith((".tmp", ".part"))] == []


def test_full_mid_run_with_the_server_up_loses_nothing(
    client: Client, small_disk: SmallDisk
) -> None:
    # the case: full from epoch 4 to 14 of 25, every batch logged
    exp = new_experiment(client)
    model = tiny_model(keras, lr=LR)
    recorder = BatchRecorder(keras)
    cb = callback_for(
        client,
        exp,
        log_every_n_batches=1,
        flush_interval=0.1,
        spool_dir=small_disk.path / "spool",
    )
    disk = _at_epochs(e4=small_disk.fill, e14=small_disk.free)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_tiny(model, [disk, recorder.attach(model), cb], epochs=25)
    want = _wanted(history, recorder)
    assert _count(want) == 25 * (2 * STEPS_PER_EPOCH + 5)
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert_points_equal(got, want)
    messages = _messages(caught)
    assert len(messages) == 1 and "cannot write the spool" in messages[0]
    assert "No space left" in messages[0] and "lost" not in messages[0]
    assert small_disk.files() == []  # delivered: the run directory is gone, no temp file left


def test_full_at_train_begin_then_freed_loses_nothing(
    client: Client, small_disk: SmallDisk
) -> None:
    exp = new_experiment(client)
    model = tiny_model(keras, lr=LR)
    recorder = BatchRecorder(keras)
    spool_dir = small_disk.path / "spool"
    seen: list[list[str]] = []
    cb = callback_for(
        client,
        exp,
        log_every_n_batches=1,
        flush_interval=0.1,
        spool_dir=spool_dir,
    )
    small_disk.fill()
    disk = _at_epochs(e1=lambda: seen.append(small_disk.files()), e2=small_disk.free)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_tiny(model, [disk, recorder.attach(model), cb], epochs=6)
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert_points_equal(got, _wanted(history, recorder))  # all 6 epochs, none lost
    run = f"spool/{exp.network_id}-{exp.training_id}"
    # while full: no meta.json could be written, and no temporary file was left behind
    assert [f for f in seen[0] if f.endswith(".tmp")] == []
    assert f"{run}/meta.json" not in seen[0]
    assert any("cannot write the spool" in m for m in _messages(caught))
    assert small_disk.files() == []


def test_a_failed_acknowledgement_write_is_retried_not_fatal(
    client: Client, small_disk: SmallDisk
) -> None:
    exp = new_experiment(client)
    spool = Spool.create(
        small_disk.path / "spool",
        RunMeta(host=client.host, training_id=exp.training_id, network_id=exp.network_id),
    )
    spool.append(Point("loss", i, 1.0 / (i + 1), 1.7e9 + i) for i in range(50))
    small_disk.fill()  # the post succeeds; writing points.acked does not
    warned: list[str] = []
    sender = Sender(spool, make_sender_client(client), flush_interval=0.05, warn=warned.append)
    sender.start()
    try:
        assert sender.flush(idle_timeout=5, max_time=10)
        assert spool.disk_error is not None and spool.acked() == spool.size()
        assert not (spool.path / "points.acked").exists()
        before = spool.size()
        more = [Point("loss", i, 1.0 / (i + 1), 1.7e9 + i) for i in range(50, 250)]
        for point in more:  # one append per point, as batches come
            spool.append([point])
        # the disk took at most what fit in its last page: the rest was kept in memory
        assert spool.size() - before < 4096 < 200 * 40
        assert sender.flush(idle_timeout=5, max_time=10)
        assert spool.in_memory == 0  # sent straight from memory
        small_disk.free()
        spool.append([Point("loss", 250, 0.5, 1.7e9 + 250)])
        assert sender.flush(idle_timeout=5, max_time=10)
    finally:
        assert sender.close(idle_timeout=5, max_time=10)
    assert warned == [] and sender.disabled_by is None  # never "not retrying"
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert sorted(got["loss"]) == list(range(251))
    assert small_disk.files() == []


def _spooled_points(run: Path) -> int:
    """Points written in a run's points.jsonl, counted line by line (independently)."""
    count = 0
    for line in (run / "points.jsonl").read_text().splitlines():
        if line.strip():
            json.loads(line)
            count += 1
    return count


def test_full_with_the_server_down_counts_the_loss_exactly(
    platform: Any, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("picsellia_tf.spool.MEMORY_LIMIT", 2000)  # a few batches' worth
    exp = new_experiment(platform.client)
    dead = Client(token=platform.token, host=f"http://127.0.0.1:{unused_port()}")
    model = tiny_model(keras, lr=LR)
    recorder = BatchRecorder(keras)
    spool_dir = small_disk.path / "spool"
    cb = callback_for(
        dead,
        exp,
        log_every_n_batches=1,
        flush_interval=0.1,
        flush_timeout=0.15,
        flush_max_time=1.0,
        spool_dir=spool_dir,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_tiny(model, [_at_epochs(e3=small_disk.fill), recorder.attach(model), cb], 12)
    want = _wanted(history, recorder)
    (run,) = find_runs(spool_dir)
    kept = _spooled_points(run)
    lost = _count(want) - kept
    # 9 of 12 epochs on a full disk; the first few of them still fit in the last page
    assert kept >= 3 * (2 * STEPS_PER_EPOCH + 5) and lost > _count(want) // 4
    (message,) = [m for m in _messages(caught) if "lost" in m]
    assert f"{lost} points were lost" in message and "picsellia-tf sync" in message
    assert read_dropped(run) == lost  # recorded on the full disk itself
    small_disk.free()

    env = {k: v for k, v in os.environ.items() if not k.startswith("PICSELLIA_")}
    env.update(PICSELLIA_TOKEN=platform.token, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-m", "picsellia_tf.cli", "sync", str(spool_dir), "--host", platform.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{lost} points were lost while training" in out.stdout
    assert f"{kept} points sent" in out.stdout and f"{lost} points lost" in out.stderr
    got = server_points(platform.client.experiments.get_logs(exp.training_id, exp.network_id))
    assert _count({t: s for t, s in got.items()}) == kept
    for tag, steps in got.items():  # what arrived is what was trained, at the right steps
        assert set(steps) <= set(want[tag])
    _no_temp_files(small_disk)
