"""picsellia_tf.tfevents against event files written by TensorFlow and Keras themselves.

TensorFlow is only used to *write* logs (once per session); tbparse reads the same logs as
the reference where it applies.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from picsellia_tf.errors import PicselliaError
from picsellia_tf.tfevents import (
    EventFileTailer,
    LogdirTailer,
    ScalarEvent,
    TFEventsError,
    TFEventsWarning,
    _crc32c,
    _decoder,
    follow,
    iter_scalars,
    read_logs,
)
from picsellia_tf.tfevents._framing import encode_record

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")

# --- writing real logs ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def _scalars_metadata() -> Any:
    from tensorboard.compat.proto.summary_pb2 import SummaryMetadata

    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))


def _event_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if "tfevents" in p.name)


@pytest.fixture(scope="session")
def keras_logdir(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``model.fit`` with the Keras TensorBoard callback: train/ and validation/ runs,
    with histograms and the graph in the same files."""
    keras = pytest.importorskip("keras")
    logdir = tmp_path_factory.mktemp("keras") / "logs"
    rng = np.random.default_rng(0)
    x = rng.random((48, 3), dtype=np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        validation_split=0.25,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(str(logdir), histogram_freq=1)],
    )
    return logdir


@pytest.fixture(scope="session")
def dtype_logdir(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scalars of many dtypes: ``tf.summary.scalar`` (float32/float64/int inputs), and
    ``tf.summary.write`` of tensors kept in their own dtype (stored as tensor_content)."""
    logdir = tmp_path_factory.mktemp("dtypes")
    meta = _scalars_metadata()
    scalar = tf.summary.create_file_writer(str(logdir / "scalar"))
    raw = tf.summary.create_file_writer(str(logdir / "raw"))
    for step in range(3):
        with scalar.as_default():
            tf.summary.scalar("f32", tf.constant(0.1 * step, tf.float32), step=step)
            tf.summary.scalar("f64", tf.constant(1.0 / 3 + step, tf.float64), step=step)
            tf.summary.scalar("int", tf.constant(7 * step, tf.int64), step=step)
        with raw.as_default():
            for name, dtype, value in [
                ("f64", tf.float64, 1.0 / 3 + step),
                ("f16", tf.float16, 0.5 + step),
                ("bf16", tf.bfloat16, 1.25 + step),
                ("i32", tf.int32, -5 - step),
                ("i64", tf.int64, 2**40 + step),
                ("u8", tf.uint8, 200 + step),
                ("i16", tf.int16, -300 * step),
            ]:
                tf.summary.write(name, tf.constant(value, dtype), step=step, metadata=meta)
    scalar.close()
    raw.close()
    return logdir


@pytest.fixture(scope="session")
def rawpb_logdir(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Summaries built as protos and written by TF's writer: TF1-style simple_value events
    (several values per event), typed TensorProto fields (float_val, double_val, int64_val,
    int_val, half_val), scalars metadata only on a tag's first event, a rank-1 tensor under
    the scalars plugin (not a scalar) and a tensor without any plugin (not a scalar)."""
    from tensorflow.core.framework.summary_pb2 import Summary, SummaryMetadata

    logdir = tmp_path_factory.mktemp("rawpb")
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for step in range(4):
            tf1 = Summary(
                value=[
                    Summary.Value(tag="tf1/loss", simple_value=1.0 / (step + 1)),
                    Summary.Value(tag="tf1/acc", simple_value=0.25 * step),
                ]
            )
            tf.summary.experimental.write_raw_pb(tf1.SerializeToString(), step=step)
            values = []
            for tag, value in [
                ("typed/float_val", np.float32(1.5 + step)),
                ("typed/double_val", np.float64(2.5 + step)),
                ("typed/int64_val", np.int64(-3 - step)),
                ("typed/int_val", np.int32(-7 * step)),
                ("typed/half_val", np.float16(0.5 + step)),
            ]:
                v = Summary.Value(tag=tag, tensor=tf.make_tensor_proto(value))
                if step == 0:
                    v.metadata.CopyFrom(meta)
                values.append(v)
            vector = Summary.Value(
                tag="typed/vector", tensor=tf.make_tensor_proto(np.array([1.0, 2.0], np.float32))
            )
            vector.metadata.CopyFrom(meta)
            plain = Summary.Value(tag="typed/no_plugin", tensor=tf.make_tensor_proto(np.float32(9)))
            summary = Summary(value=values + [vector, plain])
            tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)
    writer.close()
    return logdir


@pytest.fixture(scope="session")
def long_logdir(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many records of few tags, with steps of 1 to 10 varint bytes (and a negative one)."""
    logdir = tmp_path_factory.mktemp("long")
    steps = [*range(0, 140, 3), 16383, 16384, 2**21 - 1, 2**21, 2**35, 2**62, -1]
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for i, step in enumerate(steps):
            tf.summary.scalar("a", i * 0.5, step=step)
            tf.summary.scalar("bb", -i, step=step)
            tf.summary.scalar("ccc", tf.constant(i, tf.float64), step=step)
    writer.close()
    return logdir


@pytest.fixture(scope="session")
def mixed_logdir(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file: scalars between an image, a histogram and a text summary."""
    logdir = tmp_path_factory.mktemp("mixed")
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for step in range(2):
            tf.summary.image("img", tf.zeros((1, 4, 4, 3)), step=step)
            tf.summary.scalar("loss", 1.0 + step, step=step)
            tf.summary.histogram("weights", tf.range(10.0), step=step)
            tf.summary.text("note", "hello", step=step)
            tf.summary.scalar("lr", 0.5, step=step)
    writer.close()
    return logdir


@pytest.fixture(scope="session")
def multi_file_logdir(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run, two event files; the later-named one written first (name order must win)."""
    logdir = tmp_path_factory.mktemp("multi")
    run = logdir / "run"
    names = {
        "late": "events.out.tfevents.1700000200.host.1.0.v2",
        "early": "events.out.tfevents.1700000100.host.1.0.v2",
    }
    for which, steps in [("late", range(3, 6)), ("early", range(0, 3))]:
        tmp = logdir / which
        writer = tf.summary.create_file_writer(str(tmp))
        with writer.as_default():
            for step in steps:
                tf.summary.scalar("loss", 10.0 - step, step=step)
        writer.close()
        (src,) = _event_files(tmp)
        run.mkdir(exist_ok=True)
        shutil.move(str(src), run / names[which])
        shutil.rmtree(tmp)
    return logdir


# --- reference readings -------------------------------------------------------------------------


def _tbparse(logdir: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Numeric rank-0 points that tbparse reads, by our tag naming, sorted."""
    tbparse = pytest.importorskip("tbparse")
    reader = tbparse.SummaryReader(
        str(logdir), pivot=False, extra_columns={"dir_name", "wall_time"}
    )
    out: dict[str, list[tuple[int, float, float]]] = {}
    for frame in (reader.scalars, reader.tensors):
        for row in frame.itertuples():
            value = row.value
            if np.ndim(value) != 0 or isinstance(value, (bytes, str, np.bytes_, np.str_)):
                continue
            tag = f"{row.dir_name}/{row.tag}" if row.dir_name else row.tag
            out.setdefault(tag, []).append((int(row.step), float(value), float(row.wall_time)))
    return {tag: sorted(points) for tag, points in out.items()}


def _ours(logs: dict[str, dict[str, list[Any]]]) -> dict[str, list[tuple[int, float, float]]]:
    return {
        tag: sorted(zip(s["step"], s["value"], s["wall_time"], strict=True))
        for tag, s in logs.items()
    }


def _records(path: Path) -> list[tuple[int, int]]:
    """(offset, payload length) of each record, walking the framing independently."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        out.append((pos, n))
        pos += 16 + n
    return out


def _pairs(logs: dict[str, dict[str, list[Any]]]) -> dict[str, list[tuple[int, float]]]:
    return {t: list(zip(s["step"], s["value"], strict=True)) for t, s in logs.items()}


# --- what is read -----------------------------------------------------------------------------


def test_keras_fit_logs_equal_tbparse_value_by_value(keras_logdir: Path) -> None:
    logs = read_logs(keras_logdir)
    assert {"train/epoch_loss", "validation/epoch_loss", "train/epoch_mae"} <= set(logs)
    assert not [t for t in logs if "histogram" in t or t.endswith("keras")]
    for series in logs.values():
        assert len(series["step"]) == len(series["value"]) == len(series["wall_time"])
    assert logs["train/epoch_loss"]["step"] == [0, 1, 2]
    assert _ours(logs) == _tbparse(keras_logdir)


def test_scalar_dtypes_equal_tbparse_and_expected_values(dtype_logdir: Path) -> None:
    logs = read_logs(dtype_logdir)
    # tbparse cannot decode some of these dtypes (bfloat16, uint8...): compare where it can
    assert _ours(read_logs(dtype_logdir / "scalar")) == _tbparse(dtype_logdir / "scalar")
    got = _pairs(logs)
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    assert got["scalar/f32"] == [(s, f32(0.1 * s)) for s in range(3)]
    assert got["scalar/f64"] == [(s, f32(1.0 / 3 + s)) for s in range(3)]  # cast by TF
    assert got["scalar/int"] == [(s, 7.0 * s) for s in range(3)]
    assert got["raw/f64"] == [(s, 1.0 / 3 + s) for s in range(3)]
    assert got["raw/f16"] == [(s, 0.5 + s) for s in range(3)]
    assert got["raw/bf16"] == [(s, 1.25 + s) for s in range(3)]
    assert got["raw/i32"] == [(s, -5.0 - s) for s in range(3)]
    assert got["raw/i64"] == [(s, float(2**40 + s)) for s in range(3)]
    assert got["raw/u8"] == [(s, 200.0 + s) for s in range(3)]
    assert got["raw/i16"] == [(s, -300.0 * s) for s in range(3)]


def test_simple_values_typed_fields_and_first_event_metadata(rawpb_logdir: Path) -> None:
    got = _pairs(read_logs(rawpb_logdir))
    assert got["tf1/loss"] == [(s, float(np.float32(1.0 / (s + 1)))) for s in range(4)]
    assert got["tf1/acc"] == [(s, 0.25 * s) for s in range(4)]
    # metadata only on step 0, yet all four steps are scalars
    assert got["typed/float_val"] == [(s, 1.5 + s) for s in range(4)]
    assert got["typed/double_val"] == [(s, 2.5 + s) for s in range(4)]
    assert got["typed/int64_val"] == [(s, -3.0 - s) for s in range(4)]
    assert got["typed/int_val"] == [(s, -7.0 * s) for s in range(4)]
    assert got["typed/half_val"] == [(s, 0.5 + s) for s in range(4)]
    assert "typed/vector" not in got  # rank 1
    assert "typed/no_plugin" not in got  # a tensor, but not of the scalars plugin


def test_non_scalar_summaries_are_skipped(mixed_logdir: Path) -> None:
    logs = read_logs(mixed_logdir)
    assert _pairs(logs) == {"loss": [(0, 1.0), (1, 2.0)], "lr": [(0, 0.5), (1, 0.5)]}


def test_files_of_a_run_are_read_in_name_order(multi_file_logdir: Path) -> None:
    logs = read_logs(multi_file_logdir)
    assert logs["run/loss"]["step"] == [0, 1, 2, 3, 4, 5]
    assert logs["run/loss"]["value"] == [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]


def test_iter_scalars_streams_the_same_points_in_file_order(keras_logdir: Path) -> None:
    events = list(iter_scalars(keras_logdir))
    assert all(isinstance(e, ScalarEvent) for e in events)
    assert [e.run for e in events] == sorted(e.run for e in events)  # runs in name order
    regrouped: dict[str, dict[str, list[Any]]] = {}
    for e in events:
        assert e.tag.startswith(e.run + "/")
        s = regrouped.setdefault(e.tag, {"step": [], "value": [], "wall_time": []})
        s["step"].append(e.step)
        s["value"].append(e.value)
        s["wall_time"].append(e.wall_time)
    assert regrouped == read_logs(keras_logdir)
    walls = [e.wall_time for e in events if e.run == "train"]
    assert walls == sorted(walls)  # record order


def test_single_file_keeps_bare_tags(keras_logdir: Path) -> None:
    (train,) = _event_files(keras_logdir / "train")
    logs = read_logs(train)
    assert logs["epoch_loss"] == read_logs(keras_logdir)["train/epoch_loss"]


def test_run_and_tag_filters(keras_logdir: Path) -> None:
    assert set(read_logs(keras_logdir, runs="validation")) == {
        "validation/epoch_loss",
        "validation/epoch_mae",
        "validation/evaluation_loss_vs_iterations",
        "validation/evaluation_mae_vs_iterations",
    } & set(read_logs(keras_logdir))
    assert set(read_logs(keras_logdir, tags="epoch_loss")) == {
        "train/epoch_loss",
        "validation/epoch_loss",
    }
    assert set(read_logs(keras_logdir, tags=["train/epoch_l*"])) == {
        "train/epoch_loss",
        "train/epoch_learning_rate",
    }
    assert read_logs(keras_logdir, runs=["nope*"]) == {}
    with pytest.raises(PicselliaError, match="tags"):
        read_logs(keras_logdir, tags=[3])  # type: ignore[list-item]


def test_template_fast_path_equals_general_path(
    keras_logdir: Path,
    dtype_logdir: Path,
    rawpb_logdir: Path,
    mixed_logdir: Path,
    long_logdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dirs = [keras_logdir, dtype_logdir, rawpb_logdir, mixed_logdir, long_logdir]
    fast = [read_logs(d) for d in dirs]
    steps = [*range(0, 140, 3), 16383, 16384, 2**21 - 1, 2**21, 2**35, 2**62, -1]
    assert fast[-1]["a"]["step"] == steps
    assert fast[-1]["a"]["value"] == [i * 0.5 for i in range(len(steps))]
    assert fast[-1]["ccc"]["value"] == [float(i) for i in range(len(steps))]
    monkeypatch.setattr(_decoder, "_MAX_TEMPLATES", 0)  # every record the general way
    slow = [read_logs(d) for d in dirs]
    assert fast == slow


def _varint(n: int) -> bytes:
    out, n = bytearray(), n & (1 << 64) - 1  # negative: two's complement, 10 bytes
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _scalar_record(tag: str, step: int, value: float, wall: float, first: bool, f64: bool) -> bytes:
    """A TF2 scalar event as tf.summary.scalar writes it (DT_FLOAT or DT_DOUBLE)."""
    t = tag.encode()
    content = struct.pack("<d", value) if f64 else struct.pack("<f", value)
    tensor = (b"\x08\x02" if f64 else b"\x08\x01") + b"\x12\x00\x22" + _varint(len(content))
    tensor += content
    val = b"\x0a" + _varint(len(t)) + t + b"\x42" + _varint(len(tensor)) + tensor
    if first:
        val += b"\x4a\x0b\x0a\x09\x0a\x07scalars"
    summ = b"\x0a" + _varint(len(val)) + val
    head = b"\x09" + struct.pack("<d", wall) + (b"\x10" + _varint(step) if step else b"")
    return encode_record(head + b"\x2a" + _varint(len(summ)) + summ)


def test_block_decoding_equals_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # many records in same-length runs (what blocks decode), broken by step widths, other
    # tag lengths, a float64 tag, non-scalar records, a negative step and a corrupt record
    records, steps = [], [*range(0, 200), *range(16370, 16400), 2**40, -5, *range(300, 420)]
    for k, step in enumerate(steps):
        for tag in ("loss_a", "loss_b", "acc", "double"):
            first = k == 0 or (tag == "acc" and step == 300)
            value = 1.0 / (k + 1) + len(tag)
            records.append(_scalar_record(tag, step, value, 1e9 + k, first, tag == "double"))
        if k % 97 == 5:
            records.append(encode_record(b"\x09" + struct.pack("<d", 1.0) + b"\x1a\x03abc"))
    bad = bytearray(records[500])
    bad[-6] ^= 0x10
    records[500] = bytes(bad)
    path = tmp_path / "run" / "events.out.tfevents.1.host"
    path.parent.mkdir()
    path.write_bytes(b"".join(records))

    def read_all() -> tuple[Any, ...]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            logs = read_logs(tmp_path)
            events = list(iter_scalars(tmp_path))
            tailer = LogdirTailer(tmp_path, chunk_size=3000)
            polled = [tailer.poll() for _ in range(3)]
        return logs, events, polled, [str(w.message) for w in caught]

    fast = read_all()
    assert fast[0]["run/loss_a"]["step"] == steps and fast[0]["run/double"]["step"] == steps
    assert len(fast[0]["run/acc"]["step"]) == len(steps) - 1  # the corrupt record
    assert fast[1] == fast[2][0] and fast[2][1:] == [[], []]
    assert len(fast[3]) == 3 and all("CRC" in m for m in fast[3])
    monkeypatch.setattr(_decoder, "_MAX_TEMPLATES", 0)  # every record the general way
    assert read_all() == fast


# --- damage -------------------------------------------------------------------------------------


def _copy_train_file(keras_logdir: Path, tmp_path: Path) -> tuple[Path, Path]:
    (src,) = _event_files(keras_logdir / "train")
    dst = tmp_path / "logs" / src.name
    dst.parent.mkdir()
    shutil.copy(src, dst)
    return src, dst


def test_corrupt_data_is_skipped_with_a_warning_naming_file_and_offset(
    keras_logdir: Path, tmp_path: Path
) -> None:
    src, path = _copy_train_file(keras_logdir, tmp_path)
    records = _records(path)
    good = list(iter_scalars(path))
    # the record holding the second scalar event
    target = [
        off
        for off, _ in records
        if struct.unpack_from("<d", path.read_bytes(), off + 13)[0] == good[1].wall_time
    ][0]
    n = dict(records)[target]
    data = bytearray(path.read_bytes())
    data[target + 12 + n // 2] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.warns(TFEventsWarning) as caught:
        events = list(iter_scalars(path))
    messages = [str(w.message) for w in caught]
    assert any(str(path) in m and f"offset {target}" in m and "CRC" in m for m in messages)
    assert events == good[:1] + good[2:]
    with pytest.raises(TFEventsError) as info:
        read_logs(path, strict=True)
    assert info.value.path == str(path) and info.value.offset == target
    assert str(path) in str(info.value) and str(target) in str(info.value)
    assert isinstance(info.value, PicselliaError) and isinstance(info.value, ValueError)


def test_corrupt_length_crc_stops_that_file(keras_logdir: Path, tmp_path: Path) -> None:
    src, path = _copy_train_file(keras_logdir, tmp_path)
    records = _records(path)
    cut = records[len(records) // 2][0]
    before = list(iter_scalars(_truncated_copy(path, cut, tmp_path)))
    data = bytearray(path.read_bytes())
    data[cut + 9] ^= 0xFF  # in the length's CRC
    path.write_bytes(bytes(data))
    with pytest.warns(TFEventsWarning, match=f"offset {cut}") as caught:
        events = list(iter_scalars(path))
    assert str(path) in str(caught[0].message) and "length" in str(caught[0].message)
    assert events == before and events
    with pytest.raises(TFEventsError, match=f"offset {cut}"):
        list(iter_scalars(path, strict=True))
    tailer = EventFileTailer(path)
    with pytest.warns(TFEventsWarning):
        assert tailer.poll() == before
    assert tailer.stopped and tailer.offset == cut
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once, not on every poll
        assert tailer.poll() == []


def _truncated_copy(path: Path, size: int, tmp_path: Path) -> Path:
    out = tmp_path / "cut" / path.name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(path.read_bytes()[:size])
    return out


def test_truncated_last_record_is_not_an_error(keras_logdir: Path, tmp_path: Path) -> None:
    src, path = _copy_train_file(keras_logdir, tmp_path)
    records = _records(path)
    last_off, last_len = records[-1]
    full = list(iter_scalars(path))
    for keep in (
        last_off + 5,
        last_off + 12,
        last_off + 12 + last_len // 2,
        path.stat().st_size - 1,
    ):
        cut = _truncated_copy(path, keep, tmp_path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            events = list(iter_scalars(cut, strict=True))
        assert events == list(iter_scalars(_truncated_copy(path, last_off, tmp_path)))
        assert len(events) >= len(full) - 1


def test_malformed_payload_with_good_crcs_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    ok = encode_record(
        b"\x09" + struct.pack("<d", 1.0) + b"\x2a\x0a\x0a\x08\x0a\x01a\x15\x00\x00\x80?"
    )
    path.write_bytes(ok + encode_record(b"\x09\x00\x00") + ok)
    with pytest.warns(TFEventsWarning, match=f"malformed event.*offset {len(ok)}"):
        logs = read_logs(path)
    assert logs == {"a": {"step": [0, 0], "value": [1.0, 1.0], "wall_time": [1.0, 1.0]}}
    with pytest.raises(TFEventsError, match="malformed"):
        read_logs(path, strict=True)


def test_record_claiming_more_bytes_than_the_file_holds_waits(tmp_path: Path) -> None:
    # a length with a valid CRC, far beyond the file: a record not written yet, never read
    path = tmp_path / "events.out.tfevents.1.host"
    ok = encode_record(
        b"\x09" + struct.pack("<d", 1.0) + b"\x2a\x0a\x0a\x08\x0a\x01a\x15\x00\x00\x80?"
    )
    head = struct.pack("<Q", 1 << 50)
    path.write_bytes(ok + head + struct.pack("<I", _crc32c.masked_crc32c(head)) + b"x" * 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_logs(path, strict=True) == {
            "a": {"step": [0], "value": [1.0], "wall_time": [1.0]}
        }
        tailer = EventFileTailer(path, chunk_size=64)
        assert len(tailer.poll()) == 1 and tailer.poll() == []
    assert tailer.offset == len(ok) and not tailer.stopped


def test_empty_inputs(tmp_path: Path) -> None:
    (tmp_path / "events.out.tfevents.0.empty").write_bytes(b"")
    assert read_logs(tmp_path) == {}
    assert read_logs(tmp_path / "events.out.tfevents.0.empty") == {}
    (tmp_path / "sub").mkdir()
    assert list(iter_scalars(tmp_path / "sub")) == []
    with pytest.raises(FileNotFoundError, match="nope"):
        read_logs(tmp_path / "nope")


# --- following files as they grow -------------------------------------------------------------


def test_poll_picks_up_appended_records_and_new_runs(keras_logdir: Path, tmp_path: Path) -> None:
    (train,) = _event_files(keras_logdir / "train")
    (validation,) = _event_files(keras_logdir / "validation")
    data = train.read_bytes()
    records = _records(train)
    split = records[len(records) // 2][0] + 7  # mid-record
    logdir = tmp_path / "live"
    tailer = LogdirTailer(logdir)
    assert tailer.poll() == []  # the directory does not exist yet
    (logdir / "train").mkdir(parents=True)
    live = logdir / "train" / train.name
    live.write_bytes(data[:split])
    first = tailer.poll()
    assert tailer.poll() == []  # nothing new, the partial record is still waiting
    with live.open("ab") as f:
        f.write(data[split:])
    second = tailer.poll()
    assert first and second
    assert first + second == list(iter_scalars(keras_logdir, runs="train"))
    (logdir / "validation").mkdir()
    shutil.copy(validation, logdir / "validation" / validation.name)
    third = tailer.poll_logs()
    assert third == read_logs(keras_logdir, runs="validation")
    assert tailer.poll_logs() == {}
    assert [f.run for f in tailer.files] == ["train", "validation"]


def test_file_tailer_reads_byte_by_byte_growth(keras_logdir: Path, tmp_path: Path) -> None:
    (train,) = _event_files(keras_logdir / "train")
    data = train.read_bytes()
    path = tmp_path / train.name
    path.write_bytes(b"")
    tailer = EventFileTailer(path, run="train", chunk_size=64)
    got: list[ScalarEvent] = []
    step = max(1, len(data) // 50)
    for end in range(step, len(data) + step, step):
        path.write_bytes(data[:end])
        got.extend(tailer.poll())
    assert got == list(iter_scalars(keras_logdir, runs="train"))
    assert tailer.offset == len(data)


def test_follow_yields_records_written_while_it_runs(keras_logdir: Path, tmp_path: Path) -> None:
    (train,) = _event_files(keras_logdir / "train")
    data = train.read_bytes()
    half = _records(train)[len(_records(train)) // 2][0]
    live = tmp_path / "train" / train.name
    live.parent.mkdir()
    live.write_bytes(data[:half])
    stop = threading.Event()
    got: list[ScalarEvent] = []

    def writer() -> None:
        with live.open("ab") as f:
            f.write(data[half:])
        stop.set()

    timer = threading.Timer(0.2, writer)
    timer.start()
    try:
        for event in follow(tmp_path, poll_interval=0.02, stop=stop):
            got.append(event)
    finally:
        timer.cancel()
    assert got == list(iter_scalars(keras_logdir, runs="train"))
    with pytest.raises(PicselliaError, match="poll_interval"):
        next(follow(tmp_path, poll_interval=0))


# --- no TensorFlow ----------------------------------------------------------------------------


def test_reading_does_not_import_tensorflow(keras_logdir: Path) -> None:
    code = (
        "import json, sys\n"
        "import picsellia_tf.tfevents as t\n"
        f"logs = t.read_logs({str(keras_logdir)!r})\n"
        "print(json.dumps({'tags': sorted(logs), 'mods': [m for m in sys.modules\n"
        "    if m.split('.')[0] in ('tensorflow', 'keras', 'tensorboard', 'tf_keras')]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(out.stdout)
    assert "train/epoch_loss" in result["tags"]
    assert result["mods"] == []


# --- CRC-32C ------------------------------------------------------------------------------------


def test_crc32c_known_value_and_batch_equals_reference() -> None:
    assert _crc32c.crc32c_py(b"123456789") == 0xE3069283
    assert _crc32c.crc32c(b"123456789") == 0xE3069283
    rng = np.random.default_rng(1)
    sizes = [0, 1, 3, 4, 5, 8, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 3000, 9000]
    blobs = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    buf = b"".join(blobs)
    starts = np.cumsum([0] + sizes[:-1])
    got = _crc32c._crc_many_numpy(buf, starts, sizes).tolist()
    assert got == [_crc32c.crc32c_py(b) for b in blobs]
    assert [_crc32c.crc32c(b) for b in blobs] == got
    arr = np.frombuffer(buf, dtype=np.uint8)
    for i in (-1, -2, -3):  # blocks side by side, then combined (no C library needed)
        assert _crc32c._crc_long(arr, int(starts[i]), sizes[i]) == got[i]


@pytest.mark.parametrize("count", [3, 40])  # one by one (with a C library) and as a batch
def test_bad_crcs_finds_exactly_the_damaged_records(count: int) -> None:
    rng = np.random.default_rng(count)
    payloads = [rng.integers(0, 256, 20 + 37 * i, dtype=np.uint8).tobytes() for i in range(count)]
    framed = bytearray(b"".join(encode_record(p) for p in payloads))
    starts, pos = [], 0
    for p in payloads:
        starts.append(pos + 12)
        pos += 16 + len(p)
    lengths = [len(p) for p in payloads]
    ends = [s + n for s, n in zip(starts, lengths, strict=True)]
    assert _crc32c.bad_crcs(bytes(framed), starts, lengths, ends) == []
    damaged = [1, count - 1]
    for i in damaged:
        framed[starts[i] + lengths[i] // 2] ^= 0x01
    assert _crc32c.bad_crcs(bytes(framed), starts, lengths, ends) == damaged


def test_masked_crc_matches_what_tensorflow_writes(keras_logdir: Path) -> None:
    (train,) = _event_files(keras_logdir / "train")
    data = train.read_bytes()
    for off, n in _records(train):
        header, payload = data[off : off + 8], data[off + 12 : off + 12 + n]
        assert struct.unpack_from("<I", data, off + 8)[0] == _crc32c.masked_crc32c(header)
        assert struct.unpack_from("<I", data, off + 12 + n)[0] == _crc32c.masked_crc32c(payload)
    assert (
        encode_record(data[12 : 12 + _records(train)[0][1]]) == data[: 16 + _records(train)[0][1]]
    )


def test_nan_and_inf_values_survive(tf: Any, tmp_path: Path) -> None:
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step, value in enumerate([math.nan, math.inf, -math.inf]):
            tf.summary.scalar("odd", value, step=step)
    writer.close()
    values = read_logs(tmp_path)["odd"]["value"]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]
