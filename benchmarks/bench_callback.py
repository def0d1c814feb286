"""Benchmark: what PicselliaCallback costs a ``fit`` that logs every batch.

A small Keras MLP (steps of a few ms) trains against the local platform, served from another
process (as a real platform is remote) with ``--latency`` seconds (default 50 ms) injected into
every request. Five configurations, each a fresh model
fitted for ``--epochs`` epochs, in ``--rounds`` interleaved rounds (so machine noise hits all
of them alike); the first epoch of each fit (tracing) is dropped and the median epoch time is
reported:

- baseline: no callback;
- noop: a callback whose batch hook does nothing (what Keras itself charges for any per-batch
  callback: it turns each batch's metrics into Python floats for the hooks);
- offline: the same callback with ``offline=True``: the hooks' spooling alone, no delivery;
- picsellia: ``PicselliaCallback(log_every_n_batches=1)`` (spool + background sender);
- naive: a callback that posts each batch's metrics synchronously (``post_logs`` in the hook),
  what the background sender avoids (one round only: it is slow by design).

Afterwards the benchmark checks that every point of the picsellia runs reached the server.

    .venv/bin/python benchmarks/bench_callback.py            # full (~2 min)
    .venv/bin/python benchmarks/bench_callback.py --quick    # smoke (~30 s)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


SERVER = """
import json, sys, threading
from picsellia_tf.local import LocalServer
server = LocalServer(sys.argv[1]).start()
server.faults.latency = float(sys.argv[2])
print(json.dumps({"url": server.url, "token": server.token}), flush=True)
sys.stdin.read()  # until the benchmark closes the pipe
server.stop()
"""


def _start_server(data_dir: Path, latency: float) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(data_dir), str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info["url"], info["token"]


def _model(keras: Any, seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class EpochTimer:
    """Wall time of each epoch, from on_epoch_begin to on_epoch_end."""

    def __init__(self, keras: Any) -> None:
        self.times: list[float] = []
        self._start = 0.0

        def begin(epoch: int, logs: Any) -> None:
            self._start = time.perf_counter()

        def end(epoch: int, logs: Any) -> None:
            self.times.append(time.perf_counter() - self._start)

        # Epoch hooks only: this timer leaves Keras's async batch dispatch as it is.
        self.callback = keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)


def _noop_callback(keras: Any) -> Any:
    class NoopBatchCallback(keras.callbacks.Callback):
        """Takes every batch hook and does nothing: what Keras itself charges for one."""

        async_safe = True

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    return NoopBatchCallback()


def _naive_callback(keras: Any, client: Any, training_id: int, network_id: str) -> Any:
    class NaiveCallback(keras.callbacks.Callback):
        """Posts every batch's metrics from the hook, synchronously."""

        def __init__(self) -> None:
            super().__init__()
            self.step = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.step += 1
            payload = {
                f"batch/{k}": {"step": [self.step], "value": [float(v)]} for k, v in logs.items()
            }
            client.experiments.post_logs(training_id, network_id, payload)

    return NaiveCallback()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and epochs")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--steps", type=int, default=300, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per fit (first untimed)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    args = parser.parse_args()
    epochs = args.epochs or (4 if args.quick else 6)
    rounds = args.rounds or (2 if args.quick else 10)

    import keras
    import numpy as np

    from picsellia_tf import PicselliaCallback
    from picsellia_tf.client import Client

    batch = 64
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * batch, 64)).astype("float32")
    y = rng.integers(0, 10, size=(args.steps * batch,))

    with tempfile.TemporaryDirectory() as tmp:
        server, url, token = _start_server(Path(tmp) / "platform", args.latency)
        client = Client(token, url)
        project = client.projects.create("bench", "classification")
        names = ("baseline", "noop", "offline", "picsellia", "naive")
        epoch_times: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        paired: list[float] = []
        paired_noop: list[float] = []
        checks: list[tuple[int, str, int]] = []

        def run(name: str, n_epochs: int, extra: list[Any]) -> float:
            timer = EpochTimer(keras)
            model = _model(keras, seed=len(epoch_times[name]))
            cpu_start = time.process_time()
            model.fit(
                x,
                y,
                batch_size=batch,
                epochs=n_epochs,
                callbacks=[timer.callback, *extra],
                verbose=0,
                shuffle=False,
            )
            cpu[name].append((time.process_time() - cpu_start) / n_epochs)
            epoch_times[name].extend(timer.times[1:])
            return statistics.median(timer.times[1:])

        for r in range(rounds):
            medians: dict[str, float] = {}
            order = ["baseline", "noop", "offline", "picsellia"]
            random.Random(r).shuffle(order)
            for name in order:
                if name == "baseline":
                    medians[name] = run(name, epochs, [])
                    continue
                if name == "noop":
                    medians[name] = run(name, epochs, [_noop_callback(keras)])
                    continue
                if name == "offline":
                    spooler = PicselliaCallback(
                        client,
                        training_id=1,
                        network_id="offline",
                        log_every_n_batches=1,
                        offline=True,
                        spool_dir=Path(tmp) / "offline-spool",
                    )
                    medians[name] = run(name, epochs, [spooler])
                    continue
                exp = client.experiments.init(project.id, "bench-mlp")
                cb = PicselliaCallback(
                    client,
                    training_id=exp.training_id,
                    network_id=exp.network_id,
                    log_every_n_batches=1,
                    spool_dir=Path(tmp) / "spool",
                )
                medians[name] = run(name, epochs, [cb])
                checks.append((exp.training_id, exp.network_id, cb.sender.sent if cb.sender else 0))
            paired.append(medians["picsellia"] / medians["baseline"])
            paired_noop.append(medians["picsellia"] / medians["noop"])
            print(f"round {r + 1}/{rounds}: ratio {paired[-1]:.3f}", file=sys.stderr)

        exp = client.experiments.init(project.id, "bench-naive")
        naive = _naive_callback(keras, client, exp.training_id, exp.network_id)
        run("naive", 2, [naive])

        expected = epochs * args.steps
        for training_id, network_id, sent in checks:
            logs = client.experiments.get_logs(training_id, network_id)
            assert len(logs["batch/loss"]["step"]) == expected, "picsellia run lost points"
            assert len(logs["loss"]["step"]) == epochs, "picsellia run lost epoch points"
            assert sent > 0
        assert server.stdin is not None
        server.stdin.close()
        server.wait(30)

    base = statistics.median(epoch_times["baseline"])
    base_cpu = statistics.median(cpu["baseline"])
    print()
    print(
        f"fit of an MLP 64-256-256-10, {args.steps} batches of {batch} per epoch, logging every "
        f"batch, platform in another process with {args.latency * 1000:.0f} ms latency per "
        f"request; {rounds} interleaved rounds of {epochs}-epoch fits, first epoch of each fit "
        "untimed"
    )
    print()
    print(
        "| configuration | median epoch (s) | per step (ms) | ratio to baseline | CPU/epoch ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, label in (
        ("baseline", "no callback (baseline)"),
        ("noop", "a no-op per-batch callback (Keras's own cost of batch hooks)"),
        ("offline", "PicselliaCallback(log_every_n_batches=1, offline=True): spool only"),
        ("picsellia", "PicselliaCallback(log_every_n_batches=1)"),
        ("naive", "naive: synchronous post_logs in every batch hook"),
    ):
        med = statistics.median(epoch_times[name])
        cpu_ratio = statistics.median(cpu[name]) / base_cpu
        print(
            f"| {label} | {med:.3f} | {1000 * med / args.steps:.2f} | {med / base:.3f} | "
            f"{cpu_ratio:.3f} |"
        )
    print()
    print(
        f"paired (per round) ratio picsellia/baseline: median {statistics.median(paired):.3f}, "
        f"min {min(paired):.3f}, max {max(paired):.3f}"
    )
    print(
        f"paired (per round) ratio picsellia/no-op callback: median "
        f"{statistics.median(paired_noop):.3f}, min {min(paired_noop):.3f}, "
        f"max {max(paired_noop):.3f}"
    )
    print(f"every point of the {len(checks)} picsellia runs reached the server: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
