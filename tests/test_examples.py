"""The examples run with no arguments (shrunk by PICSELLIA_EXAMPLE_SMALL=1) on a local platform,
print where their results are, and leave those results on the platform."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from picsellia_tf.local_platform import LocalPlatform

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _start(
    name: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The example running in ``tmp_path``; ``env`` replaces the defaults (a cache and a spool
    in ``tmp_path``, TensorFlow's C++ logs off)."""
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
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), "--data-dir", str(tmp_path / "data"), *args],
        cwd=tmp_path,
        env={**base, "PICSELLIA_EXAMPLE_SMALL": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The example's stdout and stderr, once it exited 0 without a traceback."""
    try:
        out, err = proc.communicate(timeout=170)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the example ran for more than 170 s: {err[-4000:]}") from None
    assert proc.returncode == 0, out[-2000:] + err[-4000:]
    assert "Traceback" not in err
    return out, err


def _run(name: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return _finish(_start(name, tmp_path, *args, env=env))[0]


def _classifier_env(tmp_path: Path) -> dict[str, str]:
    # As the README runs it: no TF_CPP_MIN_LOG_LEVEL, no cache or spool setting, and here a
    # home of its own to check that nothing lands in it.
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home)}


# The first run of each example starts with the module, all at once: each mostly waits on
# its own process, and the processes share the machine's cores.
LAUNCHED = {
    "test_train_classifier": ("train_classifier.py", _classifier_env),
    "test_train_segmenter": ("train_segmenter.py", None),
    "test_train_detector": ("train_detector.py", None),
    "test_push_tensorboard_logs": ("push_tensorboard_logs.py", None),
}


@pytest.fixture(scope="module")
def launched(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Path, subprocess.Popen[str]]]]:
    """The first run of every example whose test is selected: its folder and its process."""
    selected = {
        item.originalname for item in request.session.items if item.module is request.module
    }  # type: ignore[attr-defined]
    runs: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    for test, (name, env) in LAUNCHED.items():
        if test in selected:
            folder = tmp_path_factory.mktemp(test)
            runs[test] = (folder, _start(name, folder, env=env(folder) if env else None))
    yield runs
    for _, proc in runs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _first_run(
    launched: dict[str, tuple[Path, subprocess.Popen[str]]], test: str
) -> tuple[Path, str, str]:
    folder, proc = launched[test]
    return (folder, *_finish(proc))


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


def test_train_classifier(launched: Any) -> None:
    tmp_path, out, err = _first_run(launched, "test_train_classifier")
    home = tmp_path / "home"
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


def test_train_segmenter(launched: Any) -> None:
    tmp_path, out, _ = _first_run(launched, "test_train_segmenter")
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


def test_train_detector(launched: Any) -> None:
    tmp_path, out, _ = _first_run(launched, "test_train_detector")
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


def test_push_tensorboard_logs(launched: Any) -> None:
    tmp_path, out, _ = _first_run(launched, "test_push_tensorboard_logs")
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
