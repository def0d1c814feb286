"""Previews from PicselliaCallback in real ``fit`` runs against the local platform."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from picsellia_tf import PicselliaCallback, previews
from picsellia_tf.client import Client
from picsellia_tf.errors import ValidationError
from picsellia_tf.preview_sampler import collect
from picsellia_tf.sender import DeliveryWarning
from picsellia_tf.spool import Spool, find_runs
from tests.helpers.callback import Outage, callback_for, hold_at_epoch_end, new_experiment

pytestmark = pytest.mark.timeout(120)

LABELS = ["cat", "dog", "bird"]
SIZE = 12


def _data(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n).astype("int32")
    x = rng.integers(0, 60, size=(n, SIZE, SIZE, 3)).astype("uint8")
    x[np.arange(n), :, :, y] += 150  # the class is the dominant channel
    return x, y


def _classifier() -> Any:
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    return model


def _names(pid: str, exp: Any, epochs: range, count: int) -> list[str]:
    base = f"{pid}/{exp.network_id}/{exp.training_id}/results"
    return [f"{base}/epoch_{e:04d}_{i:02d}.png" for e in epochs for i in range(count)]


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _fit(model: Any, callbacks: list[Any], epochs: int) -> Any:
    # batches of 8 in order, as a dataset: Keras re-slices arrays into a new pipeline every
    # epoch, which made an epoch of these four batches several times slower
    batches = tf.data.Dataset.from_tensor_slices(_data()).batch(8)
    return model.fit(batches, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)


def test_fit_uploads_previews_that_match_a_fresh_render(client: Client, tmp_path: Path) -> None:
    exp = new_experiment(client, "previewed")
    pid = exp.project_id
    xv, yv = _data(6, seed=1)
    model = _classifier()
    cb = callback_for(
        client,
        exp,
        project_id=pid,
        flush_interval=0.2,
        spool_dir=tmp_path / "spool",
        preview_data=(xv, yv),
        preview_every=2,
        label_names=LABELS,
        max_previews=4,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeliveryWarning)
        _fit(model, [cb], epochs=3)  # previews after epoch 1 (every 2) and epoch 2 (the end)

    got = client.experiments.previews(exp.training_id, exp.network_id)
    assert [p.object_name for p in got] == _names(pid, exp, range(1, 3), 4)
    want = previews.render_batch(
        xv[:4],
        task="classification",
        label_names=LABELS,
        ground_truths=list(yv[:4]),
        predictions=model.predict(xv[:4], verbose=0),
    )
    for preview, image in zip(got[4:], want, strict=True):
        assert np.array_equal(_pixels(client.storage_get(preview.url)), np.asarray(image))
    assert find_runs(tmp_path / "spool") == []  # all delivered: the spool is gone
    logs = client.experiments.get_logs(exp.training_id, exp.network_id)
    assert logs["loss"]["step"] == [0, 1, 2]


def test_task_and_labels_come_from_the_project(client: Client, tmp_path: Path) -> None:
    project = client.projects.create(
        f"seg-{uuid.uuid4().hex[:8]}", "segmentation", labels=[("road", "polygon")]
    )
    xs = np.random.default_rng(3).integers(0, 255, size=(16, 8, 8, 3)).astype("uint8")
    masks = (xs[..., :1] > 127).astype("uint8")
    inputs = keras.Input((8, 8, 3))
    out = keras.layers.Conv2D(2, 1, activation="softmax")(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    dataset = tf.data.Dataset.from_tensor_slices((xs, masks)).batch(3)
    cb = PicselliaCallback(
        client,
        project_id=project.id,
        model_name="segmenter",
        flush_interval=0.2,
        spool_dir=tmp_path / "spool",
        preview_data=dataset,  # batched: 2 batches give the 5 previews
        max_previews=5,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeliveryWarning)
        model.fit(dataset, epochs=1, callbacks=[cb], verbose=0, shuffle=False)
    exp = client.experiments.previews(cb.training_id, cb.network_id)  # type: ignore[arg-type]
    assert [p.object_name.rsplit("/", 1)[1] for p in exp] == [
        f"epoch_0000_{i:02d}.png" for i in range(5)
    ]
    want = previews.render_batch(
        xs[:5],
        task="segmentation",
        label_names=["road"],
        ground_truths=masks[:5],
        predictions=model.predict(xs[:5], verbose=0),
    )
    assert np.array_equal(_pixels(client.storage_get(exp[4].url)), np.asarray(want[4]))


def test_previews_arrive_despite_storage_faults_and_an_outage(
    platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sender retries within 0.1 s (not up to 30 s, nor 0.5 s while flushing): the ~10
    # faults the 15 previews meet are each retried soon
    monkeypatch.setattr("picsellia_tf.sender.LOOP_BACKOFF_CAP", 0.1)
    client = platform.client
    exp = new_experiment(client, "previewed")
    pid = exp.project_id
    server = platform.server
    server.faults.seed(3)
    server.faults.paths = ("/storage/upload", "/sdk/post_preview", "/sdk/get_post_url_preview")
    server.faults.error_rate = 0.25
    xv, yv = _data(3, seed=2)
    cb = callback_for(
        client,
        exp,
        project_id=pid,
        flush_interval=0.1,
        flush_timeout=15.0,
        spool_dir=tmp_path / "spool",
        preview_data=(xv, yv),
        label_names=LABELS,
    )

    # down from the end of epoch 1 until epoch 3 ended and the sender met the outage
    outage = Outage(keras, server, cb, down=1, up=3)
    try:
        _fit(_classifier(), [outage.callback, cb], epochs=5)
    finally:
        outage.join()
    server.faults.reset()
    assert outage.met
    assert cb.sender is not None and cb.sender.failed_attempts >= 2
    got = client.experiments.previews(exp.training_id, exp.network_id)
    assert [p.object_name for p in got] == _names(pid, exp, range(5), 3)
    for p in got:
        assert _pixels(client.storage_get(p.url)).shape[0] >= 256


def test_offline_previews_are_spooled_then_sent_by_sync(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    project = client.projects.create(f"p-{uuid.uuid4().hex[:8]}", "classification")
    xv, yv = _data(2, seed=4)
    spool_dir = tmp_path / "spool"
    cb = PicselliaCallback(
        client,
        project_id=project.id,
        model_name="offline-previews",
        offline=True,
        spool_dir=spool_dir,
        preview_data=(xv, yv),
        label_names=LABELS,
    )
    _fit(_classifier(), [cb], epochs=2)
    (run,) = find_runs(spool_dir)
    spooled = {p.name: p.read_bytes() for p in sorted((run / "previews").glob("*.png"))}
    assert sorted(spooled) == [f"epoch_000{e}_0{i}.png" for e in range(2) for i in range(2)]
    assert Spool.open(run).pending()

    env = {k: v for k, v in os.environ.items() if not k.startswith("PICSELLIA_")}
    env.update(PICSELLIA_TOKEN=platform.token, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-m", "picsellia_tf.cli", "sync", str(spool_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "and 4 previews sent" in out.stdout
    assert platform.token not in out.stdout + out.stderr
    model_info = next(m for m in client.models.list() if m.name == "offline-previews")
    (version,) = client.models.get(model_info.id).experiments
    got = client.experiments.previews(version.training_id, model_info.id)
    assert [p.object_name.rsplit("/", 1)[1] for p in got] == sorted(spooled)
    for p in got:
        assert client.storage_get(p.url) == spooled[p.object_name.rsplit("/", 1)[1]]
    assert not run.exists()


def _detector() -> Any:
    inputs = keras.Input((SIZE, SIZE, 3), dtype="uint8")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    raw = keras.layers.Dense(4 + 3, activation="sigmoid")(x)  # one box + class scores
    model = keras.Model(inputs, raw)
    model.compile(optimizer="adam", loss="mse")
    return model


def test_decode_predictions_turns_raw_heads_into_boxes(client: Client, tmp_path: Path) -> None:
    exp = new_experiment(client, "previewed", "detection")
    pid = exp.project_id
    xv, _ = _data(3, seed=5)
    truth = {
        "boxes": np.array([[[0.1, 0.1, 0.6, 0.6]]] * 3, "float32"),
        "labels": np.array([[0], [1], [2]], "int32"),
    }
    seen: list[tuple[int, ...]] = []

    def decode(raw: Any) -> dict[str, np.ndarray]:
        seen.append(tuple(raw.shape))
        return {
            "boxes": raw[:, None, :4],
            "labels": np.argmax(raw[:, 4:], axis=-1)[:, None],
            "scores": np.ones((raw.shape[0], 1)),
        }

    cb = callback_for(
        client,
        exp,
        project_id=pid,
        flush_interval=0.2,
        spool_dir=tmp_path / "spool",
        preview_data=(xv, truth),
        preview_task="detection",
        label_names=LABELS,
        decode_predictions=decode,
        bbox_format="rel_xyxy",
    )
    model = _detector()
    x, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeliveryWarning)
        model.fit(x, np.zeros((len(x), 7), "float32"), epochs=1, callbacks=[cb], verbose=0)
    assert seen == [(3, 7)]
    got = client.experiments.previews(exp.training_id, exp.network_id)
    want = previews.render_batch(
        xv,
        task="detection",
        label_names=LABELS,
        ground_truths=[{k: v[i] for k, v in truth.items()} for i in range(3)],
        predictions=decode(model.predict(xv, verbose=0)),
        bbox_format="rel_xyxy",
    )
    assert len(got) == 3
    assert np.array_equal(_pixels(client.storage_get(got[2].url)), np.asarray(want[2]))


def test_a_failing_decoder_is_one_warning_and_training_completes(
    client: Client, tmp_path: Path
) -> None:
    exp = new_experiment(client, "previewed")
    pid = exp.project_id
    xv, yv = _data(2)

    def broken(raw: Any) -> Any:
        raise RuntimeError("no anchors configured")

    cb = callback_for(
        client,
        exp,
        project_id=pid,
        flush_interval=0.1,
        spool_dir=tmp_path / "spool",
        preview_data=(xv, yv),
        label_names=LABELS,
        decode_predictions=broken,
    )
    # each epoch's render fails on the sender thread before the next epoch begins
    rendered = hold_at_epoch_end(
        keras, lambda e: cb.renderer is not None and cb.renderer.failures > e, "the render"
    )
    with warnings.catch_warnings(record=True) as everything:
        warnings.simplefilter("always")
        history = _fit(_classifier(), [cb, rendered], epochs=3)
    assert history.epoch == [0, 1, 2]
    caught = [w for w in everything if issubclass(w.category, DeliveryWarning)]
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "previews" in str(caught[0].message) and "no anchors configured" in str(
        caught[0].message
    )
    assert cb.renderer is not None and cb.renderer.failures == 3
    assert client.experiments.previews(exp.training_id, exp.network_id) == []
    assert client.experiments.get_logs(exp.training_id, exp.network_id)["loss"]["step"] == [0, 1, 2]


def test_preview_data_forms_are_collected_once() -> None:
    x, y = _data(5)
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    for data in (unbatched, unbatched.batch(2), (x, y), (x, list(y))):
        got = collect(data, 4)
        assert got.images.shape == (4, SIZE, SIZE, 3) and np.array_equal(got.images, x[:4])
        assert got.ground_truths is not None
        assert [int(t) for t in got.ground_truths] == list(y[:4])
    boxes = [[[1.0, 2, 3, 4]], [], [[0.0, 0, 1, 1]] * 2]
    for rank in (1, 2):
        ragged = tf.data.Dataset.from_tensor_slices(
            (x[:3], {"boxes": tf.ragged.constant(boxes, ragged_rank=rank)})
        )
        got = collect(ragged.ragged_batch(2), 3)
        assert got.ground_truths is not None
        assert [t["boxes"].reshape(-1, 4).tolist() for t in got.ground_truths] == boxes
    assert collect(x, 8).images.shape[0] == 5 and collect(x, 8).ground_truths is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preview_data": "images/"}, "preview_data: expected a batch of images"),
        ({"preview_data": np.zeros((2, 3))}, "preview_data: expected images of shape"),
        ({"preview_data": [np.zeros((4, 4, 3)), np.zeros((5, 4, 3))]}, "share one shape"),
        ({"preview_every": 0}, "preview_every: expected an int >= 1"),
        ({"max_previews": 0}, "max_previews"),
        ({"preview_task": "keypoints"}, "preview_task: expected one of"),
        ({"label_names": "cat"}, "label_names: expected a list of strings"),
        ({"decode_predictions": 3}, "decode_predictions: expected a callable"),
        ({"bbox_format": "ltrb"}, "bbox_format: expected one of"),
        ({"score_threshold": 2}, "score_threshold: expected a number in [0, 1]"),
    ],
)
def test_bad_preview_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PicselliaCallback(None, training_id=1, network_id="n", offline=True, **kwargs)


def test_spooled_preview_records_skip_damage_and_refuse_paths(tmp_path: Path) -> None:
    from picsellia_tf.spool import RunMeta

    spool = Spool.create(tmp_path, RunMeta(training_id=1, network_id="n"))
    spool.add_preview("epoch_0000_00.png", b"\x89PNG-a")
    with open(spool.path / "previews.jsonl", "ab") as fh:
        fh.write(b'not json\n{"file": "gone.png"}\n')
    spool.add_preview("epoch_0000_01.png", b"\x89PNG-b")
    names, end = spool.read_previews(0, 10)
    assert names == ["epoch_0000_00.png", "epoch_0000_01.png"]
    assert spool.bad_lines == 2 and end == spool.previews_size()
    assert spool.preview_path(names[1]).read_bytes() == b"\x89PNG-b"
    assert spool.pending()
    spool.ack_previews(end)
    assert not spool.pending()
    with pytest.raises(ValidationError, match="preview name '../x.png'"):
        spool.add_preview("../x.png", b"x")


def test_a_torn_preview_record_is_ended_before_the_next(tmp_path: Path) -> None:
    from picsellia_tf.spool import RunMeta

    spool = Spool.create(tmp_path, RunMeta(training_id=1, network_id="n"))
    spool.add_preview("epoch_0000_00.png", b"a")
    with open(spool.path / "previews.jsonl", "ab") as fh:
        fh.write(b'{"file": "epoch_00')  # a writer killed mid-line
    assert spool.read_previews(0, 10) == (["epoch_0000_00.png"], 30)  # not the torn line
    spool.add_preview("epoch_0001_00.png", b"b")
    names, end = spool.read_previews(0, 10)
    assert names == ["epoch_0000_00.png", "epoch_0001_00.png"] and end == spool.previews_size()
    assert spool.bad_lines == 1
