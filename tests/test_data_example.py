"""examples/train_detector.py runs with no arguments (shrunk) against a local platform."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from picsellia_tf.local_platform import LocalPlatform

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_detector.py"


def test_train_detector_example_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICSELLIA_")}
    env.update(
        PICSELLIA_EXAMPLE_SMALL="1",
        PICSELLIA_CACHE_DIR=str(tmp_path / "cache"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "48 images uploaded" in out
    assert "validation: mean box IoU" in out
    logged = next(line for line in out.splitlines() if line.startswith("logged series:"))
    assert "loss" in logged and "val_loss" in logged and "val_cls_accuracy" in logged

    # The run's data outlives it: the project, its annotations and the experiment's curve.
    with LocalPlatform(tmp_path / "data") as local:
        client = local.client
        (project,) = [p for p in client.projects.list() if p.name.startswith("detector-example")]
        assert len(list(client.annotations.iter(project.id))) == 48
        (model,) = [m for m in client.models.list() if m.name == "tiny-detector"]
        logs = client.experiments.get_logs(1, model.id)
        assert len(logs["loss"]["step"]) == 2  # PICSELLIA_EXAMPLE_SMALL: two epochs
    assert len(list((tmp_path / "cache" / "raw").rglob("sha256-*"))) == 48
