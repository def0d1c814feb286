"""The examples run with no arguments (shrunk by PICSELLIA_EXAMPLE_SMALL=1) on a local platform,
print where their results are, and leave those results on the platform."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from picsellia_tf.local_platform import LocalPlatform

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return _run_both(name, tmp_path, *args, env=env)[0]


def _run_both(
    name: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[str, str]:
    """The example's stdout and stderr; ``env`` replaces the defaults (a cache and a spool in
    ``tmp_path``, TensorFlow's C++ logs off)."""
    if env is None:
        env = {
            "PICSELLIA_CACHE_DIR": str(tmp_path / "cache"),
            "PICSELLIA_SPOOL_DIR": str(tmp_path / "spool"),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PICSELLIA_") and k != "TF_CPP_MIN_LOG_LEVEL"
    }
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--data-dir", str(tmp_path / "data"), *args],
        cwd=tmp_path,
        env={**base, "PICSELLIA_EXAMPLE_SMALL": "1", **env},
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout, proc.stderr


def _experiment(out: str, model: str) -> tuple[int, str, str]:
    match = re.search(
        rf"experiment: model '{model}' \(([0-9a-f-]+)\), version (\d+), project ([0-9a-f-]+)", out
    )
    assert match, out
    return int(match.group(2)), match.group(1), match.group(3)


def _metrics(out: str) -> dict[str, float]:
    block = out.split("final metrics (read back from the platform):\n", 1)[1]
    rows = {}
    for line in block.splitlines():
        if not line.startswith("  "):
            break
        tag, value = line.split()[:2]
        rows[tag] = float(value)
    return rows


def _check_previews(
    out: str, tmp_path: Path, logs: Any, previews: list[Any], epochs: int, count: int, pid: str
) -> None:
    names = [p.object_name for p in previews]
    assert len(names) == epochs * count
    assert f"previews: {epochs * count} uploaded" in out
    last = [n for n in names if f"/results/epoch_{epochs - 1:04d}_" in n]
    assert len(last) == count and all(f"  {n}" in out for n in last)
    assert all(n.startswith(f"{pid}/") for n in names)
    saved = sorted(p.name for p in (tmp_path / "picsellia-previews").glob("*.png"))
    assert saved == sorted(n.rsplit("/", 1)[1] for n in names)
    with Image.open(tmp_path / "picsellia-previews" / saved[-1]) as image:
        assert min(image.size) >= 256  # rendered previews, not the 32 px inputs
        assert np.asarray(image.convert("RGB")).std() > 10


def test_train_classifier(tmp_path: Path) -> None:
    # As the README runs it: no TF_CPP_MIN_LOG_LEVEL, no cache or spool setting, and here a
    # home of its own to check that nothing lands in it.
    home = tmp_path / "home"
    home.mkdir()
    out, err = _run_both("train_classifier.py", tmp_path, env={"HOME": str(home)})
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard"):
        assert noise not in err, err
    assert list(home.iterdir()) == []  # no spool, image cache or Keras config there
    assert list((tmp_path / "data" / "image-cache").rglob("sha256-*"))  # the cache: data dir
    assert "120 images uploaded" in out
    assert "labels ['disc', 'square', 'triangle']" in out
    assert re.search(r"validation accuracy: [01]\.\d\d \(chance: 0\.33\)", out)
    tid, nid, pid = _experiment(out, "tiny-classifier")
    printed = _metrics(out)
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(printed)
    with LocalPlatform(tmp_path / "data") as local:
        logs = local.client.experiments.get_logs(tid, nid)
        previews = local.client.experiments.previews(tid, nid)
    assert logs["loss"]["step"] == [0, 1, 2]
    assert printed["val_loss"] == pytest.approx(logs["val_loss"]["value"][-1], abs=1e-4)
    _check_previews(out, tmp_path, logs, previews, epochs=3, count=4, pid=pid)
    assert not any((tmp_path / "data" / "spool").glob("*/meta.json"))  # all delivered

    # A rerun of the same size reuses the project and its dataset, by name; its previews
    # replace the first run's in ./picsellia-previews.
    (tmp_path / "picsellia-previews" / "epoch_0009_00.png").write_bytes(b"stale")
    again = _run("train_classifier.py", tmp_path, "--epochs", "1")
    assert "): reused, 120 images" in again and f"({pid})" in again
    assert "images uploaded" not in again
    saved = sorted(p.name for p in (tmp_path / "picsellia-previews").glob("*.png"))
    assert saved == [f"epoch_0000_0{i}.png" for i in range(4)]
    with LocalPlatform(tmp_path / "data") as local:
        assert [d.name for d in local.client.datasets.list()] == ["classifier-example-120x32"]
        assert len(local.client.projects.list()) == 1


def test_examples_help_gives_their_sizes() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_detector.py"), "--help"],
        env={k: v for k, v in os.environ.items() if k != "PICSELLIA_EXAMPLE_SMALL"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for default in ("(default: 12)", "(default: 600)", "(default: 64)", "(default: 16)"):
        assert default in text, text
    assert "PICSELLIA_EXAMPLE_SMALL=1" in text


def test_train_segmenter(tmp_path: Path) -> None:
    out = _run("train_segmenter.py", tmp_path)
    assert "60 images uploaded" in out
    assert re.search(r"validation: pixel accuracy [01]\.\d\d .* mean IoU of the shapes", out)
    tid, nid, pid = _experiment(out, "tiny-segmenter")
    printed = _metrics(out)
    assert {"loss", "accuracy", "val_loss"} <= set(printed)
    with LocalPlatform(tmp_path / "data") as local:
        logs = local.client.experiments.get_logs(tid, nid)
        previews = local.client.experiments.previews(tid, nid)
    assert logs["val_accuracy"]["step"] == [0, 1]
    _check_previews(out, tmp_path, logs, previews, epochs=2, count=4, pid=pid)


def test_train_detector(tmp_path: Path) -> None:
    out = _run("train_detector.py", tmp_path)
    assert "48 images uploaded" in out
    assert "validation: mean box IoU" in out
    tid, nid, pid = _experiment(out, "tiny-detector")
    printed = _metrics(out)
    assert {"loss", "val_loss", "val_cls_accuracy"} <= set(printed)
    # The run's data outlives it: the project, its annotations and the experiment's curve.
    with LocalPlatform(tmp_path / "data") as local:
        client = local.client
        assert len(list(client.annotations.iter(pid))) == 48
        logs = client.experiments.get_logs(tid, nid)
        previews = client.experiments.previews(tid, nid)
    assert logs["loss"]["step"] == [0, 1]  # PICSELLIA_EXAMPLE_SMALL: two epochs
    assert printed["val_loss"] == pytest.approx(logs["val_loss"]["value"][-1], abs=1e-4)
    assert len(list((tmp_path / "cache" / "raw").rglob("sha256-*"))) == 48
    _check_previews(out, tmp_path, logs, previews, epochs=2, count=4, pid=pid)
    assert "picsellia-tf serve --data-dir" in out


def test_push_tensorboard_logs(tmp_path: Path) -> None:
    out = _run("push_tensorboard_logs.py", tmp_path)
    match = re.search(r"read (\d+) points in (\d+) tags", out)
    assert match, out
    points, tags = int(match.group(1)), int(match.group(2))
    assert tags >= 5 and points == tags * 3  # every tag has one point per epoch
    assert f"posted {points} points" in out
    tid, nid, _ = _experiment(out, "tensorboard-run")
    assert f"picsellia-tf push-logs tensorboard-logs --training-id {tid} --network-id {nid}" in out
    with LocalPlatform(tmp_path / "data") as local:
        logs = local.client.experiments.get_logs(tid, nid)
    assert {"train/epoch_loss", "validation/epoch_loss", "custom/weight_norm"} <= set(logs)
    for tag, series in logs.items():
        assert f"  {tag} " in out
        last = f"last {series['value'][-1]:.4f} at step {series['step'][-1]}"
        assert last in out.split(f"  {tag} ", 1)[1].splitlines()[0]
