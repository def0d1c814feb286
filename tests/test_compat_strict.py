"""The client against a strict platform that answers only what the v1 reference and the released
SDK show (``strict_platform.StrictPlatform``): the callback (both ways of naming the version),
its previews, ``data.load``, ``check``, ``cleanup`` and the CLI commands the reference supports.
What arrived is read back from the local platform behind the proxy."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from picsellia_tf import PicselliaCallback, data
from picsellia_tf.data.synthetic import make_images, upload_project
from picsellia_tf.errors import NotFoundError, UnknownProjectError
from picsellia_tf.sender import DeliveryWarning
from picsellia_tf.spool import Point, RunMeta, Spool, find_runs
from tests.helpers.callback import epoch_points, server_points
from tests.helpers.cli import cli_env
from tests.helpers.cli import run as run_cli
from tests.helpers.local import png
from tests.helpers.strict_platform import StrictPlatform

pytestmark = pytest.mark.timeout(180)

LABELS = ["red", "green", "blue"]
SIZE = 10
PREVIEWS = 2


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[StrictPlatform]:
    with StrictPlatform(tmp_path / "platform") as platform:
        yield platform
    assert platform.refused == [], "the client used a route the reference does not have"


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n).astype("int32")
    x = rng.integers(0, 60, size=(n, SIZE, SIZE, 3)).astype("uint8")
    x[np.arange(n), :, :, y] += 150  # the class is the dominant channel
    return x, y


def _fit(callback: PicselliaCallback, epochs: int = 2) -> Any:
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    x, y = _images(24, seed=0)
    return model.fit(x, y, batch_size=8, epochs=epochs, callbacks=[callback], verbose=0)


def _callback(strict: StrictPlatform, tmp_path: Path, **naming: Any) -> PicselliaCallback:
    return PicselliaCallback(
        strict.new_client(),  # its own client: nothing known from an earlier init
        flush_interval=0.2,
        spool_dir=tmp_path / "spool",
        preview_data=_images(PREVIEWS, seed=1),
        label_names=LABELS,
        max_previews=PREVIEWS,
        **naming,
    )


def _assert_delivered(strict: StrictPlatform, cb: PicselliaCallback, history: Any) -> None:
    assert cb.training_id is not None and cb.network_id is not None
    backend = strict.local.client
    got = server_points(backend.experiments.get_logs(cb.training_id, cb.network_id))
    want = epoch_points(history)
    assert set(got) == {*want, "learning_rate"}
    for tag, points in want.items():
        assert got[tag] == pytest.approx(points), tag


def _preview_files(strict: StrictPlatform, cb: PicselliaCallback) -> list[str]:
    assert cb.training_id is not None and cb.network_id is not None
    previews = strict.local.client.experiments.previews(cb.training_id, cb.network_id)
    for preview in previews:
        assert preview.url is not None and strict.local.client.storage_get(preview.url)
    return [p.object_name.rsplit("/", 1)[1] for p in previews]


EXPECTED_PREVIEWS = [f"epoch_{e:04d}_{i:02d}.png" for e in range(2) for i in range(PREVIEWS)]


def test_callback_with_project_and_model_delivers_every_metric_and_preview(
    strict: StrictPlatform, tmp_path: Path
) -> None:
    project = strict.client.projects.create("by-name", "classification", labels=LABELS)
    cb = _callback(strict, tmp_path, project_id=project.id, model_name="strict-net")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeliveryWarning)
        history = _fit(cb)
    _assert_delivered(strict, cb, history)
    assert _preview_files(strict, cb) == EXPECTED_PREVIEWS
    assert find_runs(tmp_path / "spool") == []
    assert "GET /sdk/init_model" in strict.served


def test_callback_with_training_and_network_ids_finds_the_project_in_used_in(
    strict: StrictPlatform, tmp_path: Path
) -> None:
    project = strict.client.projects.create("by-ids", "classification", labels=LABELS)
    exp = strict.client.experiments.init(project.id, "strict-net")
    cb = _callback(strict, tmp_path, training_id=exp.training_id, network_id=exp.network_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeliveryWarning)
        history = _fit(cb)
    _assert_delivered(strict, cb, history)
    assert _preview_files(strict, cb) == EXPECTED_PREVIEWS
    assert find_runs(tmp_path / "spool") == []
    assert f"GET /api/v1/model_infos/{exp.network_id}" in strict.served


def test_a_model_used_in_two_projects_warns_once_and_keeps_delivering_metrics(
    strict: StrictPlatform, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    client = strict.client
    first = client.projects.create("first", "classification", labels=LABELS)
    second = client.projects.create("second", "classification", labels=LABELS)
    exp = client.experiments.init(first.id, "shared-net")
    client.projects.attach_model(second.id, exp.network_id)
    with pytest.raises(UnknownProjectError, match="used in 2 projects: 'first'.*'second'"):
        strict.new_client().experiments.upload_preview(exp.training_id, exp.network_id, b"x")

    cb = _callback(strict, tmp_path, training_id=exp.training_id, network_id=exp.network_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeliveryWarning)
        history = _fit(cb, epochs=3)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeliveryWarning)]
    assert len(messages) == 1, messages
    assert "previews are not sent" in messages[0] and "pass project_id" in messages[0]
    assert first.id in messages[0] and second.id in messages[0]
    _assert_delivered(strict, cb, history)
    assert _preview_files(strict, cb) == []
    (run,) = find_runs(tmp_path / "spool")  # the previews stay spooled
    assert Spool.open(run).previews_size() > 0
    # sync cannot tell the project either: it says so, and keeps the run.
    message = _cli(strict, "sync", str(run), code=1)
    assert "the rest stays spooled" in message and "used in 2 projects" in message
    assert find_runs(tmp_path / "spool") == [run]


def test_data_load_reads_the_same_examples_as_against_the_local_platform(
    strict: StrictPlatform, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images", 6, width=24, height=20, labels=LABELS, seed=4)
    # The raw data upload is a local extension: the data is put in behind the proxy.
    project_id, dataset_id = upload_project(strict.local.client, images, "shapes", labels=LABELS)

    def load(client: Any, cache: str) -> tuple[list[Any], Any]:
        ds, info = data.load(
            client,
            project_id,
            dataset_id,
            task="detection",
            shuffle=False,
            cache_dir=tmp_path / cache,
            progress=False,
        )
        return [tf.nest.map_structure(lambda t: t.numpy().tolist(), e) for e in ds], info

    got, info = load(strict.client, "strict-cache")
    want, local_info = load(strict.local.client, "local-cache")
    assert info.num_examples == 6 and info.skipped == [] and info.downloaded == 6
    assert got == want and info.label_counts == local_info.label_counts


def _cli(strict: StrictPlatform, *args: str, code: int = 0) -> str:
    """``picsellia-tf ARGS`` against the strict platform; stdout (with stderr on failure)."""
    env = cli_env(None, PICSELLIA_TOKEN=strict.token, PICSELLIA_HOST=strict.url)
    proc = run_cli(strict, *args, code=code, env=env)
    return proc.stdout if code == 0 else proc.stdout + proc.stderr


def test_check_says_what_it_could_confirm(
    strict: StrictPlatform, monkeypatch: Any, capsys: Any
) -> None:
    account = strict.client.check_connection()
    assert account.project_id == strict.project_id and account.username is None
    out = _cli(strict, "check")
    assert f"Connected to {strict.url}: token accepted, project {strict.project_id}" in out
    assert "did not say whose token it is" in out
    report = json.loads(_cli(strict, "check", "--json"))
    assert report["project_id"] == strict.project_id and report["username"] is None


def test_cli_commands_of_the_reference_work(
    strict: StrictPlatform, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    def cli(*args: str, code: int = 0) -> str:
        return _cli(strict, *args, code=code)

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"name": "cli", "type": "detection", "labels": [["car", "rectangle"]]})
    )
    project = json.loads(cli("projects", "create", "--spec", str(spec), "--json"))
    assert project["name"] == "cli" and project["labels"] == [{"name": "car", "tool": "rectangle"}]
    assert "cli" in cli("projects", "list")
    assert "car" in cli("projects", "show", project["id"])

    dataset = strict.client.datasets.create("cli-data")
    assert "cli-data" in cli("datasets", "list")
    assert "cli-data" in cli("datasets", "show", dataset.id)
    message = cli("datasets", "upload", str(tmp_path), "--dataset", dataset.id, code=1)
    assert "405" in message and "not allowed" in message  # an extension this platform lacks
    assert strict.refused.pop() == f"POST /api/v1/raw_data/{dataset.id} -> 405"

    exp = strict.client.experiments.init(project["id"], "cli-net")
    assert "cli-net" in cli("models", "list")
    shown = cli("models", "show", exp.network_id)
    assert "cli-net" in shown and "this platform does not list them" in shown

    # A spooled run naming its version by ids only: its preview's project comes from used_in.
    meta = RunMeta(host=strict.url, training_id=exp.training_id, network_id=exp.network_id)
    run = Spool.create(tmp_path / "spool", meta)
    run.append([Point("loss", i, 1.0 / (i + 1), 1_700_000_000.0 + i) for i in range(5)])
    run.add_preview("synced.png", png(4, 3))
    run.close()
    synced = json.loads(cli("sync", str(tmp_path / "spool"), "--json"))
    assert synced["failed"] == 0 and synced["runs"][0]["previews"] == 1
    logs = strict.local.client.experiments.get_logs(exp.training_id, exp.network_id)
    assert logs["loss"]["step"] == list(range(5))

    logdir = tmp_path / "tb"
    writer = tf.summary.create_file_writer(str(logdir / "train"))
    with writer.as_default():
        for step in range(4):
            tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
    writer.close()
    pushed = json.loads(
        cli(
            "push-logs",
            str(logdir),
            "--training-id",
            str(exp.training_id),
            "--network-id",
            exp.network_id,
            "--json",
        )
    )
    assert pushed["complete"] and pushed["sent"] == 4

    second = strict.client.experiments.init(project["id"], "cli-net")
    cli("experiments", "delete", project["id"], exp.network_id, str(second.training_id))
    with pytest.raises(NotFoundError):
        strict.local.client.experiments.get_logs(second.training_id, exp.network_id)

    message = cli("cleanup", "experiments", "--model", "cli-net", "--yes", code=1)
    assert "does not list them" in message and "experiments delete" in message
    cli("cleanup", "models", "cli-net", "--yes")
    cli("cleanup", "projects", "cli", "--yes")
    cli("cleanup", "datasets", "cli-data", "--yes")
    assert strict.local.client.projects.list() == []
    assert strict.local.client.models.list() == []
    assert strict.local.client.datasets.list() == []
    cli("models", "delete", strict.client.experiments.init(_project(strict), "m").network_id)
    cli("projects", "delete", _project(strict))
    cli("datasets", "delete", strict.client.datasets.create("gone").id)


def _project(strict: StrictPlatform) -> str:
    return strict.client.projects.create(f"p{len(strict.served)}", "classification").id
