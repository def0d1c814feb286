"""Test helpers: TensorBoard's own EventAccumulator as the reference reading of event files."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from picsellia_tf.tfevents._framing import encode_record

Points = list[tuple[int, float, float]]  # (step, value, wall_time), in reading order


def accumulate(run_dir: Path) -> dict[str, Points]:
    """The scalar series TensorBoard reads from the event files directly in ``run_dir``
    (``plugin_event_accumulator``, as the TensorBoard server uses it, nothing sampled away):
    every tag of the ``scalars`` plugin, simple_value summaries included (migrated), rank 0."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(str(run_dir), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    out: dict[str, Points] = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        for event in acc.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            if value.ndim == 0:
                out.setdefault(tag, []).append((event.step, float(value), event.wall_time))
    return out


def accumulate_logdir(logdir: Path) -> dict[str, Points]:
    """:func:`accumulate` of every folder under ``logdir`` (links followed, no cycles), keyed
    ``<run>/<tag>`` as picsellia_tf names series when no two share a key."""
    out: dict[str, Points] = {}
    seen: set[str] = set()
    for dirpath, _, files in os.walk(logdir, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen or not any("tfevents" in f for f in files):
            continue
        seen.add(real)
        run = os.path.relpath(dirpath, logdir).replace(os.sep, "/")
        for tag, points in accumulate(Path(dirpath)).items():
            key = tag if run == "." else f"{run}/{tag}"
            assert key not in out, f"two series would share {key!r}: name them in the test"
            out[key] = points
    return out


def ours(logs: dict[str, dict[str, list[Any]]]) -> dict[str, Points]:
    """A LOGS mapping as :data:`Points` per tag, in reading order."""
    return {
        tag: list(zip(s["step"], s["value"], s["wall_time"], strict=True))
        for tag, s in logs.items()
    }


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def simple_value_record(tag: bytes, step: int, value: float, wall: float) -> bytes:
    """A framed TF1 ``simple_value`` event whose tag is the raw bytes ``tag`` (which need not
    be UTF-8: protobuf writers refuse that, so it is encoded by hand)."""
    val = _field(1, tag) + b"\x15" + struct.pack("<f", value)
    event = b"\x09" + struct.pack("<d", wall) + b"\x10" + _varint(step) + _field(5, _field(1, val))
    return encode_record(event)


def file_version_record(wall: float = 0.0) -> bytes:
    """A framed ``file_version: "brain.Event:2"`` event, as every writer starts a file."""
    return encode_record(b"\x09" + struct.pack("<d", wall) + _field(3, b"brain.Event:2"))
