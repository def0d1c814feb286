"""The platform's released SDK (``picsellia==4.6``, its own code from the package index) runs
its training path against the local platform: ``create_network`` -> ``send_logs`` ->
``send_results``, and what it sent reads back intact."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from picsellia_tf.local_platform import LocalPlatform
from tests.helpers.released_sdk import load, sdk_client


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load(tmp_path_factory.mktemp("released-sdk"))


def _image(path: Path, color: tuple[int, int, int]) -> bytes:
    Image.new("RGB", (12, 9), color).save(path, format="PNG")
    return path.read_bytes()


def test_released_sdk_training_path_runs_unchanged(
    sdk: Any, platform: LocalPlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = platform.client
    project = client.projects.create("compat", "classification", labels=[("cat", "rectangle")])
    legacy = sdk_client(sdk, platform.url, platform.token, project.id)

    legacy.create_network("sdk-net", orphan=True)  # GET /sdk/init_model with a JSON body
    assert legacy.training_id == 1 and isinstance(legacy.network_id, str)
    again = sdk_client(sdk, platform.url, platform.token, project.id)
    again.create_network("sdk-net", orphan=True)  # a new version of the same model
    assert (again.network_id, again.training_id) == (legacy.network_id, 2)

    logs = {
        "loss": {"step": [0, 1, 2], "value": [0.9, 0.5, 0.25], "wall_time": [1.0, 2.0, 3.0]},
        "accuracy": {"step": [0, 1, 2], "value": [0.1, 0.6, 0.875]},
    }
    legacy.send_logs(logs=logs)  # raises unless the platform answers 201

    images = {
        f"pred_{i}.png": _image(tmp_path / f"pred_{i}.png", (40 * i, 90, 200)) for i in range(3)
    }
    legacy.send_results(example_path_list=[str(tmp_path / name) for name in images])
    printed = capsys.readouterr().out
    assert printed.count("http: 204") == 3 and "have been uploaded" in printed

    stored = client.experiments.get_logs(legacy.training_id, legacy.network_id)
    assert stored["loss"]["step"] == [0, 1, 2]
    assert stored["loss"]["value"] == [0.9, 0.5, 0.25]
    assert stored["loss"]["wall_time"] == [1.0, 2.0, 3.0]
    assert stored["accuracy"]["value"] == [0.1, 0.6, 0.875]
    previews = client.experiments.previews(legacy.training_id, legacy.network_id)
    prefix = f"{project.id}/{legacy.network_id}/{legacy.training_id}/results/"
    assert [p.object_name for p in previews] == [prefix + name for name in images]
    for preview, data in zip(previews, images.values(), strict=True):
        assert preview.url is not None
        assert requests.get(preview.url, timeout=10).content == data
        Image.open(io.BytesIO(data)).verify()
    model = client.models.get(legacy.network_id)
    assert model.name == "sdk-net" and [p.id for p in model.used_in] == [project.id]
