"""What the examples share: the platform they run against, their common flags, and the
results they read back. Not part of the package: a helper for the scripts beside it."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import picsellia_tf
from picsellia_tf.client import Client

SMALL = os.environ.get("PICSELLIA_EXAMPLE_SMALL") == "1"
"""``PICSELLIA_EXAMPLE_SMALL=1`` shrinks every example to a smoke test."""


def parser(doc: str | None, *, epochs: tuple[int, int]) -> argparse.ArgumentParser:
    """The flags every example has; ``epochs`` is (default, default when SMALL)."""
    result = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    result.add_argument("--epochs", type=int, default=epochs[1] if SMALL else epochs[0])
    result.add_argument(
        "--data-dir", default="picsellia-data", help="local platform data (without a token)"
    )
    return result


def add_image_options(
    p: argparse.ArgumentParser, *, images: tuple[int, int], image_size: int, batch_size: int
) -> None:
    """The flags of the examples that train on generated images."""
    p.add_argument("--images", type=int, default=images[1] if SMALL else images[0])
    p.add_argument("--image-size", type=int, default=image_size, help="side of the square images")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--cache-dir", default=None, help="image cache (default: data.load's)")


def add_preview_options(p: argparse.ArgumentParser) -> None:
    """The flags of the examples that upload previews."""
    p.add_argument("--previews", type=int, default=4 if SMALL else 8, help="images shown")
    p.add_argument("--out-dir", default="picsellia-previews", help="where the previews are saved")


@contextlib.contextmanager
def platform_client(data_dir: str) -> Iterator[tuple[Client, str]]:
    """The real platform's client with ``PICSELLIA_TOKEN``, else a local platform's."""
    if os.environ.get("PICSELLIA_TOKEN"):
        with Client() as client:
            yield client, client.host
        return
    with picsellia_tf.LocalPlatform(data_dir) as local:
        yield local.client, local.host


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
