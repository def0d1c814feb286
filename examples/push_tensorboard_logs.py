"""Upload a finished TensorBoard run to a Picsellia experiment, after training.

Run with no arguments. Without ``PICSELLIA_TOKEN`` it starts a local platform (data kept in
``--data-dir``, default ``./picsellia-data``); with it, it uses the platform at
``PICSELLIA_HOST`` (default app.picsellia.com) and makes a project there (reused on a rerun).

It trains a tiny model with ``keras.callbacks.TensorBoard`` writing to ``--logdir`` (plus a
``tf.summary`` scalar of its own), then reads every scalar of the log directory with
``picsellia_tf.tfevents.read_logs`` (no TensorFlow needed for that part), starts an experiment
version, posts the scalars with ``client.experiments.post_logs``, prints the equivalent
``picsellia-tf push-logs`` command, and reads the series back from the platform.

``--epochs`` sizes the run; ``PICSELLIA_EXAMPLE_SMALL=1`` shrinks it to a smoke test.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import _common
import numpy as np

import picsellia_tf
from picsellia_tf import tfevents

MODEL_NAME = "tensorboard-run"
CHUNK = 5_000
"""Points per ``post_logs`` request."""


def parse_args() -> argparse.Namespace:
    parser = _common.parser(__doc__, epochs=(20, 3))
    parser.add_argument("--logdir", default="tensorboard-logs", help="TensorBoard log directory")
    return _common.parse(parser)


def train(logdir: str, epochs: int) -> None:
    """A tiny regression, logged by Keras's TensorBoard callback and one ``tf.summary``, into
    ``logdir`` emptied of an earlier run's event files (which would be read again)."""
    import keras
    import tensorflow as tf

    for old in Path(logdir).rglob("*tfevents*"):
        old.unlink()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], "float32") + 0.1 * rng.normal(size=256)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="mse",
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    _common.build_optimizer(model)
    writer = tf.summary.create_file_writer(os.path.join(logdir, "custom"))

    def log_weight_norm(epoch: int, logs: dict | None) -> None:
        with writer.as_default():
            norm = tf.linalg.global_norm(model.trainable_weights)
            tf.summary.scalar("weight_norm", norm, step=epoch)

    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(logdir, update_freq="epoch"),
            keras.callbacks.LambdaCallback(on_epoch_end=log_weight_norm),
        ],
    )
    writer.close()


def main() -> None:
    args = parse_args()
    train(args.logdir, args.epochs)
    logs = tfevents.read_logs(args.logdir)
    total = sum(len(series["step"]) for series in logs.values())
    print(f"read {total} points in {len(logs)} tags from {os.path.abspath(args.logdir)}")

    with _common.platform_client(args.data_dir) as (client, host):
        print(f"platform: {host}")
        name = "tensorboard-example"
        project = next((p for p in client.projects.list() if p.name == name), None)
        if project is None:  # else the project of an earlier run, reused
            project = client.projects.create(name, "classification")
        exp = client.experiments.init(project.id, MODEL_NAME)
        tid, nid = exp.training_id, exp.network_id
        print(f"experiment: model {MODEL_NAME!r} ({nid}), version {tid}, project {project.id}")

        sent = 0
        for tag, series in logs.items():  # one request per tag here; chunked if long
            for start in range(0, len(series["step"]), CHUNK):
                part = {key: values[start : start + CHUNK] for key, values in series.items()}
                sent += client.experiments.post_logs(tid, nid, {tag: part})
        print(f"posted {sent} points")
        print(
            "the same upload from a shell: "
            f"picsellia-tf push-logs {args.logdir} --training-id {tid} --network-id {nid}"
        )

        try:
            stored = client.experiments.get_logs(tid, nid)
        except picsellia_tf.PicselliaError as exc:  # the hosted platform may not list them
            print(f"see the curves on {host} ({exc})")
            return
        print("series read back from the platform:")
        for tag in sorted(stored):
            steps, values = stored[tag]["step"], stored[tag]["value"]
            print(f"  {tag:<42} {len(steps):>3} points, last {values[-1]:.4f} at step {steps[-1]}")


if __name__ == "__main__":
    main()
