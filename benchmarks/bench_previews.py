"""Benchmark: what previews cost a ``fit``, beyond the ``predict`` call they need.

A small CNN on 32x32 images trains against the local platform, served from another process
(as a real platform is remote) with ``--latency`` seconds injected into every request. Three
configurations, each a fresh model fitted for ``--epochs`` epochs, in ``--rounds``
interleaved rounds:

- baseline: no callback;
- logs: ``PicselliaCallback`` (epoch metrics only);
- previews: the same with ``preview_data`` (``--previews`` images) and ``preview_every=1``.

Epoch time is measured from one ``on_epoch_begin`` to the next (so it includes every
``on_epoch_end`` hook: the preview ``predict`` on the training thread and whatever the
background rendering and uploads take from the training thread's CPU); the first epoch of each
fit (tracing) is dropped. The cost of the ``predict`` call alone is measured separately on the
same model and input. Afterwards the benchmark checks that every preview reached the server.

    .venv/bin/python benchmarks/bench_previews.py            # full (~2 min)
    .venv/bin/python benchmarks/bench_previews.py --quick    # smoke (~40 s)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_callback import _start_server  # noqa: E402  (the same out-of-process platform)


def _model(keras: Any, seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class EpochTimer:
    """Wall time from each ``on_epoch_begin`` to the next one (and to the end of ``fit``)."""

    def __init__(self, keras: Any) -> None:
        self.marks: list[float] = []
        self.callback = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: self.marks.append(time.perf_counter()),
            on_train_end=lambda logs: self.marks.append(time.perf_counter()),
        )

    def epochs(self) -> list[float]:
        return [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--steps", type=int, default=100, help="batches of 32 per epoch")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit (first untimed)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--previews", type=int, default=8, help="images previewed each epoch")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 6)

    import keras
    import numpy as np

    from picsellia_tf import PicselliaCallback
    from picsellia_tf.client import Client

    batch = 32
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(args.steps * batch, 32, 32, 3)).astype("uint8")
    y = rng.integers(0, 3, size=(args.steps * batch,)).astype("int32")
    preview = (x[: args.previews], y[: args.previews])

    with tempfile.TemporaryDirectory() as tmp:
        server, url, token = _start_server(Path(tmp) / "platform", args.latency)
        client = Client(token, url)
        project = client.projects.create("bench", "classification", labels=["a", "b", "c"])
        times: dict[str, list[float]] = {"baseline": [], "logs": [], "previews": []}
        predict: list[float] = []
        runs: list[tuple[int, str]] = []

        for r in range(rounds):
            order = list(times)
            random.Random(r).shuffle(order)
            for name in order:
                model = _model(keras, seed=r)
                extra: list[Any] = []
                if name != "baseline":
                    exp = client.experiments.init(project.id, f"bench-{name}")
                    options: dict[str, Any] = {}
                    if name == "previews":
                        options = dict(preview_data=preview, label_names=["a", "b", "c"])
                        runs.append((exp.training_id, exp.network_id))
                    extra.append(
                        PicselliaCallback(
                            client,
                            training_id=exp.training_id,
                            network_id=exp.network_id,
                            project_id=project.id,
                            spool_dir=Path(tmp) / "spool",
                            **options,
                        )
                    )
                timer = EpochTimer(keras)
                model.fit(
                    x,
                    y,
                    batch_size=batch,
                    epochs=args.epochs,
                    callbacks=[timer.callback, *extra],
                    verbose=0,
                    shuffle=False,
                )
                times[name].extend(timer.epochs()[1:])
                if name == "previews":
                    for _ in range(5):
                        start = time.perf_counter()
                        model(preview[0], training=False)
                        predict.append(time.perf_counter() - start)
            print(f"round {r + 1}/{rounds}", file=sys.stderr)

        for training_id, network_id in runs:
            names = client.experiments.previews(training_id, network_id)
            assert len(names) == args.epochs * args.previews, "a preview did not arrive"
        assert server.stdin is not None
        server.stdin.close()
        server.wait(30)

    base = statistics.median(times["baseline"])
    logs_only = statistics.median(times["logs"])
    with_previews = statistics.median(times["previews"])
    predict_s = statistics.median(predict)
    print()
    print(
        f"fit of a small CNN on 32x32x3 images, {args.steps} batches of {batch} per epoch, "
        f"{args.previews} previews every epoch, platform in another process with "
        f"{args.latency * 1000:.0f} ms latency per request; {rounds} interleaved rounds of "
        f"{args.epochs}-epoch fits, first epoch of each fit untimed"
    )
    print()
    print("| configuration | median epoch (s) | ratio to baseline |")
    print("|---|---:|---:|")
    for name, med in (
        ("no callback (baseline)", base),
        ("PicselliaCallback, logs only", logs_only),
        ("PicselliaCallback + previews every epoch", with_previews),
    ):
        print(f"| {name} | {med:.3f} | {med / base:.3f} |")
    print()
    beyond = with_previews - logs_only - predict_s
    print(
        f"predict of the {args.previews} preview images on the training thread: "
        f"{predict_s * 1000:.1f} ms; previews beyond that predict: {beyond * 1000:+.1f} ms per "
        f"epoch ({beyond / logs_only:+.1%} of an epoch)"
    )
    print(f"every preview of the {len(runs)} preview runs reached the server: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
