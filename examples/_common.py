"""What the examples share: the platform they run against, their common flags, and the
results they read back. Not part of the package: a helper for the scripts beside it."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import picsellia_tf
from picsellia_tf.client import Client

SMALL = os.environ.get("PICSELLIA_EXAMPLE_SMALL") == "1"
"""``PICSELLIA_EXAMPLE_SMALL=1`` shrinks every example to a smoke test."""

# TensorFlow's C++ start-up lines (absl's banner, the oneDNN and CPU-feature notices), which
# TF_CPP_MIN_LOG_LEVEL does not silence: they are written while ``tensorflow`` is imported.
_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
    r"|To enable the following instructions:)"
)


def _keep_keras_config_out_of_home() -> None:
    """Keras writes ``~/.keras/keras.json`` when it is first imported; where the user has no
    ``~/.keras`` (nor ``KERAS_HOME``), it goes to a temporary folder, removed at exit."""
    if "KERAS_HOME" in os.environ or os.path.exists(os.path.expanduser("~/.keras")):
        return
    folder = tempfile.mkdtemp(prefix="picsellia-example-keras-")
    os.environ["KERAS_HOME"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up logs hidden, unless ``TF_CPP_MIN_LOG_LEVEL`` is set
    (then TensorFlow logs as the user asked). Anything else it writes is shown."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # and later INFO/WARNING lines of its C++ side
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if not _STARTUP_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed arguments, then TensorFlow imported (quietly, its Keras config kept out of the
    home): ``--help`` and a usage error answer at once, without the seconds of that import."""
    args = parser.parse_args()
    _keep_keras_config_out_of_home()
    _import_tensorflow_quietly()
    return args


def build_optimizer(model) -> None:
    """Make the compiled model's optimizer variables (Adam's slots) now. Variables created inside
    fit's first trace of its training step make TensorFlow trace it again; with these made, and
    the metrics given as objects rather than strings, it is traced once: the same run."""
    model.optimizer.build(model.trainable_variables)


def parser(doc: str | None, *, epochs: tuple[int, int]) -> argparse.ArgumentParser:
    """The flags every example has; ``epochs`` is (default, default when SMALL)."""
    result = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # --help shows the sizes
        epilog="PICSELLIA_EXAMPLE_SMALL=1 shrinks the defaults to a smoke test.",
    )
    result.add_argument(
        "--epochs", type=int, default=epochs[1] if SMALL else epochs[0], help="epochs to train"
    )
    result.add_argument(
        "--data-dir",
        default="picsellia-data",
        help="local platform data, image cache and spool (without PICSELLIA_TOKEN)",
    )
    return result


def add_image_options(
    p: argparse.ArgumentParser, *, images: tuple[int, int], image_size: int, batch_size: int
) -> None:
    """The flags of the examples that train on generated images."""
    p.add_argument(
        "--images",
        type=int,
        default=images[1] if SMALL else images[0],
        help="images generated and uploaded (a project per size, reused on a rerun)",
    )
    p.add_argument("--image-size", type=int, default=image_size, help="side of the square images")
    p.add_argument("--batch-size", type=int, default=batch_size, help="images per batch")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="image cache (default: $PICSELLIA_CACHE_DIR, else DATA_DIR/image-cache on the "
        "local platform, else data.load's)",
    )


def add_preview_options(p: argparse.ArgumentParser) -> None:
    """The flags of the examples that upload previews."""
    p.add_argument("--previews", type=int, default=4 if SMALL else 8, help="images shown")
    p.add_argument(
        "--out-dir",
        default="picsellia-previews",
        help="where the previews are saved (its previews of an earlier run are replaced)",
    )


@contextlib.contextmanager
def platform_client(data_dir: str) -> Iterator[tuple[Client, str]]:
    """The real platform's client with ``PICSELLIA_TOKEN``, else a local platform's, whose
    image cache and spool stay in ``data_dir`` too (unless ``$PICSELLIA_CACHE_DIR`` or
    ``$PICSELLIA_SPOOL_DIR`` say otherwise), so that the run writes nothing in the home."""
    if os.environ.get("PICSELLIA_TOKEN"):
        with Client() as client:
            yield client, client.host
        return
    os.environ.setdefault("PICSELLIA_CACHE_DIR", os.path.join(data_dir, "image-cache"))
    os.environ.setdefault("PICSELLIA_SPOOL_DIR", os.path.join(data_dir, "spool"))
    with picsellia_tf.LocalPlatform(data_dir) as local:
        yield local.client, local.host


def reuse_project(client: Client, name: str, images: int) -> tuple[str, str] | None:
    """``(project_id, dataset_id)`` of the project ``name`` made by an earlier run, if it holds
    its ``images`` annotated images; else None, with what an interrupted run left of it (a
    project or dataset of that name) deleted so that it can be made again."""
    project = next((p for p in client.projects.list() if p.name == name), None)
    if project is not None:
        full = client.projects.get(project.id)
        dataset = client.datasets.get(full.dataset.id) if full.dataset else None
        if dataset is not None and dataset.size == images and full.nb_annotations in (images, None):
            return full.id, dataset.id
        client.projects.delete(project.id)
    for dataset_summary in client.datasets.list():
        if dataset_summary.name == name:
            client.datasets.delete(dataset_summary.id)
    return None


def show_results(
    client: Client,
    host: str,
    project_id: str,
    callback: picsellia_tf.PicselliaCallback,
    model_name: str,
    out_dir: Path | None = None,
) -> None:
    """The run's metrics (and previews, saved into ``out_dir``) as the platform has them."""
    tid, nid = callback.training_id, callback.network_id
    if tid is None or nid is None:
        print("the experiment could not be started; the run was spooled for picsellia-tf sync")
        return
    print(f"experiment: model {model_name!r} ({nid}), version {tid}, project {project_id}")
    print(f"  with the platform running: picsellia-tf experiments show {model_name} {tid}")
    try:
        logs = client.experiments.get_logs(tid, nid)
        previews = client.experiments.previews(tid, nid) if out_dir is not None else []
    except picsellia_tf.PicselliaError as exc:  # the hosted platform may not list them
        print(f"see the curves and previews on {host} ({exc})")
        return
    print("final metrics (read back from the platform):")
    for tag in sorted(logs):
        series = logs[tag]
        print(f"  {tag:<16} {series['value'][-1]:>9.4f}  (step {series['step'][-1]})")
    if out_dir is None:
        return
    last = previews[-1].object_name.rsplit("/", 1)[1][: len("epoch_0000")] if previews else ""
    print(f"previews: {len(previews)} uploaded; those of the last epoch:")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("epoch_*.png"):  # an earlier run's
        old.unlink()
    for preview in previews:
        file_name = preview.object_name.rsplit("/", 1)[1]
        (out_dir / file_name).write_bytes(client.storage_get(preview.url))
        if file_name.startswith(last):
            print(f"  {preview.object_name}")
    print(f"preview images saved in {out_dir.resolve()}")


def local_data_note(data_dir: str) -> None:
    """Where a local platform's data stays, and how to serve it again."""
    if not os.environ.get("PICSELLIA_TOKEN"):
        script = os.path.join(os.path.dirname(sys.executable), "picsellia-tf")
        command = "picsellia-tf"
        if os.path.exists(script):  # the venv's, as the README runs it (.venv/bin/picsellia-tf)
            relative = os.path.relpath(script)
            command = script if relative.startswith("..") else relative
        print(f"the data stays in {os.path.abspath(data_dir)}")
        print(
            f"to see the curves, previews and dataset: `{command} serve --data-dir {data_dir}`, "
            "then open the dashboard URL it prints (http://127.0.0.1:8080/?token=...)"
        )
