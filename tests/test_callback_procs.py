"""PicselliaCallback in training subprocesses: SIGKILL then sync, tf_keras, multi-worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.callback import (
    assert_points_equal,
    needs_tf_keras,
    new_experiment,
    new_project,
    server_points,
    unused_port,
)

CHILD = r"""
import json, os, sys, time
cfg = json.loads(sys.argv[1])
import numpy as np
import tensorflow as tf
if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
    import tf_keras as keras
else:
    import keras
from picsellia_tf import PicselliaCallback

strategy = (
    tf.distribute.MultiWorkerMirroredStrategy() if cfg.get("multiworker")
    else tf.distribute.get_strategy()
)
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat().with_options(options)
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
cb = PicselliaCallback(**cfg["callback"])
side = open(cfg["side_file"], "a") if cfg.get("side_file") else None

def on_batch_end(batch, logs):
    if side:
        step = int(model.optimizer.iterations.numpy())
        side.write(json.dumps({"step": step, "logs": {k: float(v) for k, v in logs.items()}}))
        side.write("\n")
        side.flush()
    time.sleep(cfg.get("sleep", 0))

def on_epoch_end(epoch, logs):
    if side:
        side.write(json.dumps({"epoch": epoch, "logs": {k: float(v) for k, v in logs.items()}}))
        side.write("\n")
        side.flush()

after = keras.callbacks.LambdaCallback(on_train_batch_end=on_batch_end, on_epoch_end=on_epoch_end)
h = model.fit(ds, epochs=cfg["epochs"], steps_per_epoch=4, callbacks=[cb, after], verbose=0)
with open(cfg["result"], "w") as fh:
    json.dump({
        "history": {k: [float(v) for v in vs] for k, vs in h.history.items()},
        "epoch": h.epoch,
        "is_keras_callback": isinstance(cb, keras.callbacks.Callback),
        "spooled": cb.spool is not None,
        "posted": cb.sender.sent if cb.sender is not None else 0,
    }, fh)
"""


def _env(platform: Any, legacy: bool = False, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TF_USE_LEGACY_KERAS")}
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        PICSELLIA_TOKEN=platform.token,
        PICSELLIA_HOST=platform.host,
        CUDA_VISIBLE_DEVICES="",
    )
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    env.update(extra)
    return env


def _spawn(tmp_path: Path, cfg: dict[str, Any], env: dict[str, str], name: str) -> Any:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 -- closed by the OS at exit
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(cfg)], env=env, stdout=log, stderr=log
    )


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else ""


def _history_points(result: dict[str, Any]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for name, values in result["history"].items():
        for epoch, value in zip(result["epoch"], values, strict=True):
            out.setdefault(name, {})[epoch] = value
    return out


@pytest.mark.timeout(180)
def test_sigkill_mid_run_then_sync_delivers_everything(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    faults = platform.server.faults
    faults.paths = ("/sdk/post_logs",)
    faults.latency = 3.0  # the platform is slow: points pile up in the spool
    side_file = tmp_path / "produced.jsonl"
    spool_dir = tmp_path / "spool"
    cfg = {
        "callback": {
            "training_id": exp.training_id,
            "network_id": exp.network_id,
            "log_every_n_batches": 1,
            "flush_interval": 0.2,
            "spool_dir": str(spool_dir),
        },
        "epochs": 1000,
        "sleep": 0.03,
        "side_file": str(side_file),
        "result": str(tmp_path / "result.json"),
    }
    proc = _spawn(tmp_path, cfg, _env(platform), "child")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if side_file.exists() and side_file.read_text().count('"step"') >= 14:
                break
            time.sleep(0.05)
        assert proc.poll() is None, _tail(tmp_path / "child.log")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    faults.reset()

    produced: dict[str, dict[int, float]] = {}
    for line in side_file.read_text().splitlines():
        record = json.loads(line)
        for name, value in record["logs"].items():
            if "step" in record:
                produced.setdefault(f"batch/{name}", {})[record["step"]] = value
            else:
                produced.setdefault(name, {})[record["epoch"]] = value
    assert len(produced["batch/loss"]) >= 14 and len(produced["loss"]) >= 3

    out = subprocess.run(
        [sys.executable, "-m", "picsellia_tf.cli", "sync", str(spool_dir), "--host", platform.host]
        + ["--json"],
        env=_env(platform, PICSELLIA_HOST="http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (run,) = json.loads(out.stdout)["runs"]
    assert run["complete"] is True and run["sent"] > 0  # sync had work left to do
    assert platform.token not in out.stdout + out.stderr

    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    subset = {
        tag: {s: got.get(tag, {}).get(s, float("nan")) for s in pts}
        for tag, pts in produced.items()
    }
    assert_points_equal(subset, produced)
    assert list(spool_dir.iterdir()) == []  # delivered runs leave the spool


@needs_tf_keras
@pytest.mark.timeout(120)
def test_tf_keras_fit_streams_to_the_platform(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    cfg = {
        "callback": {
            "training_id": exp.training_id,
            "network_id": exp.network_id,
            "log_every_n_batches": 2,
            "flush_interval": 0.2,
            "spool_dir": str(tmp_path / "spool"),
        },
        "epochs": 3,
        "result": str(tmp_path / "result.json"),
    }
    proc = _spawn(tmp_path, cfg, _env(platform, legacy=True), "child")
    assert proc.wait(100) == 0, _tail(tmp_path / "child.log")
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["is_keras_callback"] is True

    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    want = _history_points(result)
    want["learning_rate"] = {0: 0.05, 1: 0.05, 2: 0.05}
    assert_points_equal({k: v for k, v in got.items() if not k.startswith("batch/")}, want)
    assert sorted(got["batch/loss"]) == [2, 4, 6, 8, 10, 12]


@needs_tf_keras
@pytest.mark.timeout(300)
def test_multi_worker_only_the_chief_logs(platform: Any, tmp_path: Path) -> None:
    # Keras 3's fit does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585);
    # tf_keras's does, so the workers use it.
    client = platform.client
    project_id = new_project(client)
    ports = [unused_port(), unused_port()]
    procs = []
    for index in (0, 1):
        cfg = {
            "callback": {
                "project_id": project_id,
                "model_name": "mw-net",
                "flush_interval": 0.2,
                "spool_dir": str(tmp_path / f"spool-{index}"),
            },
            "epochs": 2,
            "multiworker": True,
            "result": str(tmp_path / f"result-{index}.json"),
        }
        tf_config = {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
        env = _env(platform, legacy=True, TF_CONFIG=json.dumps(tf_config))
        procs.append(_spawn(tmp_path, cfg, env, f"worker-{index}"))
    try:
        for index, proc in enumerate(procs):
            assert proc.wait(240) == 0, _tail(tmp_path / f"worker-{index}.log")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(30)

    chief = json.loads((tmp_path / "result-0.json").read_text())
    other = json.loads((tmp_path / "result-1.json").read_text())
    assert chief["spooled"] is True and chief["posted"] > 0
    assert other["spooled"] is False and other["posted"] == 0
    assert not (tmp_path / "spool-1").exists()

    (model,) = [m for m in client.models.list() if m.name == "mw-net"]
    (version,) = client.models.get(model.id).experiments  # the other worker started none
    got = server_points(client.experiments.get_logs(version.training_id, model.id))
    want = _history_points(chief)
    want["learning_rate"] = {0: 0.05, 1: 0.05}
    assert_points_equal(got, want)
