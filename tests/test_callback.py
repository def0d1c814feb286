"""PicselliaCallback in real ``fit`` runs against the local platform over loopback HTTP."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from picsellia_tf import PicselliaCallback
from picsellia_tf.client import Client
from picsellia_tf.errors import ValidationError
from picsellia_tf.sender import DeliveryWarning
from picsellia_tf.spool import Spool, find_runs
from tests.helpers.callback import (
    STEPS_PER_EPOCH,
    BatchRecorder,
    Outage,
    assert_points_equal,
    callback_for,
    epoch_points,
    fit_tiny,
    frames_alive,
    hold_at_epoch_end,
    hold_for_an_attempt,
    new_experiment,
    new_project,
    server_points,
    tiny_model,
    unused_port,
)

pytestmark = pytest.mark.timeout(120)


def _expected_lr(schedule: Any, epochs: list[int]) -> dict[int, float]:
    return {e: float(schedule((e + 1) * STEPS_PER_EPOCH)) for e in epochs}


def test_fit_logs_every_point_exactly_once(client: Client, tmp_path: Path) -> None:
    exp = new_experiment(client)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    model = tiny_model(keras, lr=schedule)
    recorder = BatchRecorder(keras)
    cb = callback_for(
        client,
        exp,
        log_every_n_batches=1,
        flush_interval=0.2,
        spool_dir=tmp_path / "spool",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeliveryWarning)
        history = fit_tiny(model, [recorder.attach(model), cb], epochs=3)

    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    want = epoch_points(history)
    want["learning_rate"] = _expected_lr(schedule, history.epoch)
    want.update(recorder.points)
    assert set(want["batch/loss"]) == set(range(1, 3 * STEPS_PER_EPOCH + 1))
    assert {"val_loss", "val_accuracy", "accuracy"} <= set(want)
    assert_points_equal(got, want)
    # Delivered in full: the run's spool directory is gone.
    assert find_runs(tmp_path / "spool") == []


def test_every_n_batches_and_resume_continue_the_curves(client: Client, tmp_path: Path) -> None:
    exp = new_experiment(client)
    model = tiny_model(keras)
    recorder = BatchRecorder(keras)
    kwargs: dict[str, Any] = dict(
        training_id=exp.training_id,
        network_id=exp.network_id,
        log_every_n_batches=3,
        flush_interval=0.2,
        spool_dir=tmp_path / "spool",
    )
    h1 = fit_tiny(model, [recorder.attach(model), PicselliaCallback(client, **kwargs)], epochs=2)
    # A new callback for the same version, as a resumed script would make.
    h2 = fit_tiny(
        model, [recorder.attach(model), PicselliaCallback(client, **kwargs)], 4, initial_epoch=2
    )
    assert h2.epoch == [2, 3]

    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    want = epoch_points(h1)
    for tag, points in epoch_points(h2).items():
        want.setdefault(tag, {}).update(points)
    lr = {e: 0.05 for e in range(4)}
    want["learning_rate"] = lr
    for tag, points in recorder.points.items():
        want[tag] = {s: v for s, v in points.items() if s % 3 == 0}
    assert sorted(want["batch/loss"]) == [3, 6, 9, 12, 15]
    assert sorted(got["loss"]) == [0, 1, 2, 3]
    assert_points_equal(got, want)


def test_points_survive_random_errors_and_an_outage(
    platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sender retries within 0.1 s (not up to 30 s): many attempts meet the faults
    monkeypatch.setattr("picsellia_tf.sender.LOOP_BACKOFF_CAP", 0.1)
    client = platform.client
    exp = new_experiment(client)
    server = platform.server
    server.faults.seed(7)
    server.faults.paths = ("/sdk/post_logs",)
    server.faults.error_rate = 0.3
    model = tiny_model(keras)
    recorder = BatchRecorder(keras)
    cb = callback_for(
        client,
        exp,
        log_every_n_batches=1,
        flush_interval=0.05,
        spool_dir=tmp_path / "spool",
        flush_timeout=15.0,
    )
    # down from the end of epoch 2 until epoch 5 ended and the sender met the outage; every
    # epoch's points meet at least one attempt (a failed one for epochs 3 to 5)
    outage = Outage(keras, server, cb, down=2, up=5)
    held = hold_for_an_attempt(keras, cb)
    try:
        history = fit_tiny(model, [recorder.attach(model), outage.callback, cb, held], epochs=8)
    finally:
        outage.join()
    server.faults.reset()

    assert outage.met
    assert cb.sender is not None and cb.sender.sent > 0
    assert cb.sender.failed_attempts >= 2  # the faults did hit the sender
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    want = epoch_points(history)
    want["learning_rate"] = {e: 0.05 for e in history.epoch}
    want.update(recorder.points)
    assert len(want["batch/loss"]) == 8 * STEPS_PER_EPOCH
    assert_points_equal(got, want)


def test_offline_run_then_sync_starts_the_experiment(
    platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picsellia_tf.cli import main

    monkeypatch.setenv("PICSELLIA_TOKEN", platform.token)

    client = platform.client
    project_id = new_project(client)
    model = tiny_model(keras)
    spool_dir = tmp_path / "spool"
    cb = PicselliaCallback(
        client, project_id=project_id, model_name="offline-net", offline=True, spool_dir=spool_dir
    )
    history = fit_tiny(model, [cb], epochs=2)
    (run,) = find_runs(spool_dir)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["training_id"] is None and meta["project_id"] == project_id
    assert platform.token not in (run / "meta.json").read_text()
    assert meta["host"] == platform.host

    assert main(["sync", str(spool_dir)]) == 0
    model_info = next(m for m in client.models.list() if m.name == "offline-net")
    (version,) = client.models.get(model_info.id).experiments
    got = server_points(client.experiments.get_logs(version.training_id, model_info.id))
    want = epoch_points(history)
    want["learning_rate"] = {0: 0.05, 1: 0.05}
    assert_points_equal(got, want)
    assert not run.exists()


def test_offline_from_environment(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSELLIA_MODE", "offline")
    monkeypatch.setenv("PICSELLIA_SPOOL_DIR", str(tmp_path / "env-spool"))
    exp = new_experiment(client)
    cb = PicselliaCallback(client, training_id=exp.training_id, network_id=exp.network_id)
    fit_tiny(tiny_model(keras), [cb], epochs=1)
    assert client.experiments.get_logs(exp.training_id, exp.network_id) == {}
    (run,) = find_runs(tmp_path / "env-spool")
    assert run.name == f"{exp.network_id}-{exp.training_id}"
    tags = {p.tag for p in Spool.open(run).iter_points()}
    assert {"loss", "accuracy", "val_loss", "learning_rate"} <= tags


def test_unreachable_platform_gives_one_warning_and_keeps_points(tmp_path: Path) -> None:
    dead = Client(token="t0k3n", host=f"http://127.0.0.1:{unused_port()}")
    cb = PicselliaCallback(
        dead,
        training_id=3,
        network_id="net",
        log_every_n_batches=1,
        flush_interval=0.1,
        flush_timeout=0.2,
        spool_dir=tmp_path / "spool",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_tiny(tiny_model(keras), [cb], epochs=3, validation=False)
    ours = [w for w in caught if issubclass(w.category, DeliveryWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = str(ours[0].message)
    run = tmp_path / "spool" / "net-3"
    assert f"picsellia-tf sync {run}" in message
    assert "t0k3n" not in message
    points = list(Spool.open(run).iter_points())
    assert len([p for p in points if p.tag == "batch/loss"]) == 3 * STEPS_PER_EPOCH
    assert [p.value for p in points if p.tag == "loss"] == pytest.approx(history.history["loss"])


def test_platform_down_for_the_whole_fit_gives_one_warning(tmp_path: Path) -> None:
    dead = Client(token="t0k3n", host=f"http://127.0.0.1:{unused_port()}")
    cb = PicselliaCallback(
        dead, project_id="p1", model_name="m1", flush_timeout=0.2, spool_dir=tmp_path / "s"
    )
    with pytest.warns(DeliveryWarning) as caught:
        fit_tiny(tiny_model(keras), [cb], epochs=1, validation=False)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "could not start an experiment version of 'm1' in project 'p1'" in message
    assert "cannot reach" in message and "t0k3n" not in message
    (run,) = find_runs(tmp_path / "s")
    assert f"picsellia-tf sync {run}" in message
    assert cb.sender is not None and cb.sender.failed_attempts >= 1  # it did retry
    meta = Spool.open(run).meta
    assert (meta.project_id, meta.model_name, meta.training_id) == ("p1", "m1", None)
    assert (cb.training_id, cb.network_id) == (None, None)
    assert {"loss", "accuracy"} <= {p.tag for p in Spool.open(run).iter_points()}


def test_each_fit_warns_about_its_own_spool(tmp_path: Path) -> None:
    dead = Client(token="t0k3n", host=f"http://127.0.0.1:{unused_port()}")
    cb = PicselliaCallback(
        dead, project_id="p1", model_name="m1", flush_timeout=0.2, spool_dir=tmp_path / "s"
    )
    model = tiny_model(keras)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_tiny(model, [cb], epochs=1, validation=False)
        fit_tiny(model, [cb], epochs=2, initial_epoch=1, validation=False)
    ours = [str(w.message) for w in caught if issubclass(w.category, DeliveryWarning)]
    runs = find_runs(tmp_path / "s")
    assert len(runs) == 2 and len(ours) == 2, ours
    assert sorted(m.rsplit("picsellia-tf sync ", 1)[1] for m in ours) == [str(r) for r in runs]


def test_platform_down_at_train_begin_delivers_to_one_version_once_up(
    platform: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = platform.client
    project_id = new_project(client)
    server = platform.server
    seen: list[Any] = []
    cb = PicselliaCallback(
        client,
        project_id=project_id,
        model_name="late-start",
        log_every_n_batches=1,
        flush_interval=0.1,
        flush_timeout=10.0,
        spool_dir=tmp_path / "spool",
    )

    def back_up(epoch: int, logs: Any) -> None:
        if epoch != 1:
            return
        assert cb.sender is not None
        deadline = time.monotonic() + 10
        while cb.sender.failed_attempts < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the first start attempt must have met the outage
        seen.append((cb.sender.failed_attempts, cb.training_id, cb.network_id))
        server.start()

    model = tiny_model(keras)
    recorder = BatchRecorder(keras)
    restart = keras.callbacks.LambdaCallback(on_epoch_end=back_up)
    server.stop()
    try:
        with warnings.catch_warnings(), caplog.at_level("INFO", logger="picsellia_tf"):
            warnings.simplefilter("error", DeliveryWarning)
            history = fit_tiny(model, [recorder.attach(model), cb, restart], epochs=4)
    finally:
        server.start()

    assert seen[0][0] >= 1 and seen[0][1:] == (None, None)  # not started while down
    (model_info,) = [m for m in client.models.list() if m.name == "late-start"]
    (version,) = client.models.get(model_info.id).experiments  # started once
    assert (cb.training_id, cb.network_id) == (version.training_id, model_info.id)
    got = server_points(client.experiments.get_logs(version.training_id, model_info.id))
    want = epoch_points(history)
    want["learning_rate"] = {e: 0.05 for e in range(4)}
    want.update(recorder.points)
    assert len(want["batch/loss"]) == 4 * STEPS_PER_EPOCH
    assert_points_equal(got, want)
    assert find_runs(tmp_path / "spool") == []  # fully delivered
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "starting the experiment version" in warned[0].getMessage()


def _held_until_refused(cb: PicselliaCallback) -> Any:
    """Epoch 0 ends once the sender was refused: the other epochs are spooled after it."""

    def refused(epoch: int) -> bool:
        return epoch > 0 or (cb.sender is not None and cb.sender.disabled_by is not None)

    return hold_at_epoch_end(keras, refused, what="the refusal")


def test_refused_start_warns_once_and_spools_for_sync(client: Client, tmp_path: Path) -> None:
    cb = PicselliaCallback(
        client,
        project_id="no-such-project",
        model_name="m1",
        log_every_n_batches=1,
        flush_interval=0.05,
        flush_timeout=1.0,
        spool_dir=tmp_path / "spool",
    )
    with pytest.warns(DeliveryWarning) as caught:
        fit_tiny(tiny_model(keras), [cb, _held_until_refused(cb)], epochs=3, validation=False)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "could not start an experiment version of 'm1' in project 'no-such-project'" in message
    assert "404" in message and "not retrying" in message
    assert cb.sender is not None and cb.sender.failed_attempts == 1  # a refusal is not retried
    (run,) = find_runs(tmp_path / "spool")
    assert f"picsellia-tf sync {run}" in message
    spool = Spool.open(run)
    assert spool.meta.training_id is None and spool.meta.project_id == "no-such-project"
    points = list(spool.iter_points())
    assert len([p for p in points if p.tag == "batch/loss"]) == 3 * STEPS_PER_EPOCH
    assert all(m.name != "m1" for m in client.models.list())


def test_refused_logs_warn_once_and_keep_spooling(client: Client, tmp_path: Path) -> None:
    exp = new_experiment(client)
    cb = PicselliaCallback(
        client,
        training_id=exp.training_id + 5,  # no such version: 404, not retried
        network_id=exp.network_id,
        log_every_n_batches=1,
        flush_interval=0.05,
        flush_timeout=1.0,
        spool_dir=tmp_path / "spool",
    )
    with pytest.warns(DeliveryWarning) as caught:
        fit_tiny(tiny_model(keras), [cb, _held_until_refused(cb)], epochs=3, validation=False)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "refused" in str(caught[0].message)
    assert "picsellia-tf sync" in str(caught[0].message)
    assert cb.spool is not None
    points = list(Spool.open(cb.spool.path).iter_points())
    assert len([p for p in points if p.tag == "batch/loss"]) == 3 * STEPS_PER_EPOCH


def test_on_train_end_does_not_wait_for_a_server_that_never_answers(
    platform: Any, tmp_path: Path
) -> None:
    client = platform.client
    exp = new_experiment(client)
    platform.server.faults.paths = ("/sdk/post_logs",)
    platform.server.faults.latency = 4.0
    ended: list[float] = []
    mark = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ended.append(time.time()))
    cb = callback_for(
        client,
        exp,
        flush_interval=0.1,
        flush_timeout=0.5,
        spool_dir=tmp_path / "spool",
    )
    with pytest.warns(DeliveryWarning, match="picsellia-tf sync"):
        fit_tiny(tiny_model(keras), [mark, cb], epochs=2, validation=False)
    returned = time.time()
    assert returned - ended[-1] < 0.5 + 1.5
    platform.server.faults.reset()


def test_an_unusable_spool_dir_is_one_warning_and_points_still_go(
    client: Client, tmp_path: Path
) -> None:
    exp = new_experiment(client)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    cb = callback_for(
        client,
        exp,
        spool_dir=not_a_dir,
        flush_interval=0.1,
    )
    with pytest.warns(DeliveryWarning) as caught:
        history = fit_tiny(tiny_model(keras), [cb], epochs=2, validation=False)
    assert len(caught) == 1
    assert "cannot write the spool" in str(caught[0].message)
    assert "Not a directory" in str(caught[0].message)
    assert len(history.epoch) == 2
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got["loss"].keys() == {0, 1}  # sent from memory
    # the disk's error is kept for the warning, not its traceback, whose frames would keep the
    # fit's (its model, data and tf.data iterators) alive as long as the spool
    assert cb.spool is not None and cb.spool.disk_error is not None
    assert frames_alive("fit") == []


def test_learning_rate_in_logs_is_not_overridden(client: Client, tmp_path: Path) -> None:
    exp = new_experiment(client)
    model = tiny_model(keras, lr=0.2)
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.2 / (epoch + 1))
    cb = callback_for(
        client,
        exp,
        flush_interval=0.1,
        spool_dir=tmp_path / "spool",
    )
    fit_tiny(model, [sched, cb], epochs=3, validation=False)
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got["learning_rate"] == pytest.approx({0: 0.2, 1: 0.1, 2: 0.2 / 3})
    assert not any(tag.startswith("batch/") for tag in got)  # no log_every_n_batches


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"training_id": 1}, "both training_id and network_id"),
        ({}, "project_id and model_name"),
        ({"project_id": "p"}, "project_id and model_name"),
        ({"training_id": 0, "network_id": "n"}, "training_id: expected an int >= 1"),
        ({"training_id": 1, "network_id": ""}, "network_id: expected a non-empty string"),
        ({"training_id": 1, "network_id": "n", "log_every_n_batches": 0}, "log_every_n_batches"),
        ({"training_id": 1, "network_id": "n", "flush_interval": -1}, "flush_interval"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PicselliaCallback(offline=True, **kwargs)


def test_repr_hides_the_token(client: Client, tmp_path: Path) -> None:
    cb = PicselliaCallback(client, training_id=1, network_id="n", spool_dir=tmp_path)
    assert "n" in repr(cb)
    assert client._token.reveal() not in repr(cb)
    assert isinstance(cb, keras.callbacks.Callback)
    assert np.isfinite(cb.delivery.flush_timeout)


def test_tensorboard_logdir_scalars_are_streamed_too(client: Client, tmp_path: Path) -> None:
    import tensorflow as tf

    from picsellia_tf.tfevents import read_logs

    exp = new_experiment(client)
    logdir = tmp_path / "tb"
    writer = tf.summary.create_file_writer(str(logdir / "custom"))

    def custom_scalar(epoch: int, logs: dict[str, Any]) -> None:
        with writer.as_default():
            tf.summary.scalar("loss_x2", 2 * logs["loss"], step=epoch)
        writer.flush()

    custom = keras.callbacks.LambdaCallback(on_epoch_end=custom_scalar)
    board = keras.callbacks.TensorBoard(str(logdir), write_graph=False, profile_batch=0)
    cb = callback_for(
        client,
        exp,
        flush_interval=0.1,
        spool_dir=tmp_path / "spool",
        tensorboard_logdir=logdir,
    )
    history = fit_tiny(tiny_model(keras), [custom, board, cb], epochs=3)
    writer.close()

    on_disk = server_points(read_logs(logdir))
    assert {"train/epoch_loss", "validation/epoch_loss", "custom/loss_x2"} <= set(on_disk)
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert_points_equal({tag: got[tag] for tag in on_disk if tag in got}, on_disk)
    assert got["custom/loss_x2"] == pytest.approx(
        {e: 2 * v for e, v in enumerate(history.history["loss"])}, rel=1e-6
    )
    assert got["train/epoch_loss"] == pytest.approx(dict(enumerate(history.history["loss"])))


@pytest.mark.parametrize(
    ("tf_config", "chief"),
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        (
            {
                "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
                "task": {"type": "worker", "index": 0},
            },
            False,
        ),
        (
            {
                "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
                "task": {"type": "chief", "index": 0},
            },
            True,
        ),
        ({"cluster": {"evaluator": ["e:1"]}, "task": {"type": "evaluator", "index": 0}}, False),
    ],
)
def test_chief_is_read_from_tf_config(
    tf_config: dict[str, Any] | None, chief: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picsellia_tf._keras import is_chief

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert is_chief(None) is chief
    assert is_chief(tiny_model(keras)) is chief  # default strategy: no resolver, TF_CONFIG decides


def test_non_chief_worker_writes_and_sends_nothing(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = new_experiment(client)
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}),
    )
    cb = callback_for(
        client,
        exp,
        log_every_n_batches=1,
        spool_dir=tmp_path / "spool",
    )
    fit_tiny(tiny_model(keras), [cb], epochs=1, validation=False)
    assert cb.spool is None and cb.sender is None
    assert not (tmp_path / "spool").exists()
    assert client.experiments.get_logs(exp.training_id, exp.network_id) == {}
