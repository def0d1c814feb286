"""picsellia_tf.tfevents against TensorBoard's EventAccumulator, point by point, on files written
by tensorboardX; symlinked runs, series that would share a key, and restarts (SessionLog.START)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from picsellia_tf.tfevents import LogdirTailer, TFEventsWarning, _decoder, iter_scalars, read_logs
from tests.helpers.tfevents_reference import (
    accumulate,
    accumulate_logdir,
    file_version_record,
    ours,
    simple_value_record,
)

tbx = pytest.importorskip("tensorboardX")


def _writer(logdir: Path, suffix: str = "", **kwargs: Any) -> Any:
    return tbx.SummaryWriter(str(logdir), filename_suffix=suffix, flush_secs=3600, **kwargs)


def _start_event(step: int) -> Any:
    from tensorboardX.proto import event_pb2

    return event_pb2.Event(
        step=step,
        wall_time=1.7e9,
        session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START),
    )


def _read_quietly(path: Path, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about in these files
        return read_logs(path, **kwargs)


@pytest.fixture(scope="module")
def tbx_logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What tensorboardX writes: scalars (floats, ints, numpy values), ``add_scalars`` (one run per
    series), histograms, images, text and hparams (a run of its own), in a few hundred records."""
    import numpy as np

    logdir = tmp_path_factory.mktemp("tbx")
    w = _writer(logdir / "run")
    rng = np.random.default_rng(0)
    for step in range(120):
        w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("metrics/acc", step / 120, step, walltime=1.7e9 + step)
        w.add_scalar("int_value", step * 3, step)
        w.add_scalar("np_value", np.float64(step) / 3, step)
        if step % 10 == 0:
            w.add_scalars("pair", {"a": step, "b": -step}, step)
            w.add_histogram("weights", rng.random(50), step)
            w.add_image("img", rng.random((3, 4, 4)), step)
            w.add_text("note", f"step {step}", step)
    w.add_hparams({"lr": 0.1, "opt": "sgd"}, {"hparam/score": 0.5}, name="hp")
    w.close()
    return logdir


def test_tensorboardx_files_equal_event_accumulator_point_by_point(tbx_logdir: Path) -> None:
    logs = _read_quietly(tbx_logdir)
    reference = accumulate_logdir(tbx_logdir)
    assert {"run/loss", "run/metrics/acc", "run/int_value", "run/np_value"} <= set(logs)
    assert {"run/pair/a/pair", "run/pair/b/pair", "run/hp/hparam/score"} <= set(logs)
    assert len(logs["run/loss"]["step"]) == 120
    assert ours(logs) == reference
    # the template fast path and the general path agree on these files too
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_decoder, "_MAX_TEMPLATES", 0)
        assert _read_quietly(tbx_logdir) == logs


# --- restarts ---------------------------------------------------------------------------------


def test_restart_drops_the_old_points_as_tensorboard_does(tmp_path: Path) -> None:
    # the case: a writer logs steps 0-9, a restarted one steps 5-14; each session
    # starts with SessionLog.START, as TF1's Supervisor writes it (tensorboardX's purge_step
    # writes one at step 5)
    first = _writer(tmp_path / "run", ".1")
    first.file_writer.add_event(_start_event(0))
    for step in range(10):
        first.add_scalar("loss", step, step)
    first.close()
    second = _writer(tmp_path / "run", ".2", purge_step=5)
    for step in range(5, 15):
        second.add_scalar("loss", 100 + step, step)
    second.close()
    logs = _read_quietly(tmp_path)
    assert logs["run/loss"]["step"] == list(range(15))
    assert logs["run/loss"]["value"] == [*range(5), *(100.0 + s for s in range(5, 15))]
    assert ours(logs) == accumulate_logdir(tmp_path)
    assert LogdirTailer(tmp_path).poll_logs() == logs  # one poll over both files: the same


def test_a_runs_first_start_is_not_a_restart(tmp_path: Path) -> None:
    # TensorBoard's reading: the first START of a run starts it, so purge_step after a first
    # writer that wrote none purges nothing
    first = _writer(tmp_path, ".1")
    for step in range(10):
        first.add_scalar("loss", step, step)
    first.close()
    second = _writer(tmp_path, ".2", purge_step=5)
    for step in range(5, 15):
        second.add_scalar("loss", 100 + step, step)
    second.close()
    logs = _read_quietly(tmp_path)
    assert logs["loss"]["step"] == [*range(10), *range(5, 15)]
    assert ours(logs) == accumulate_logdir(tmp_path)


@pytest.mark.parametrize("general_path", [False, True])
def test_restart_inside_a_long_file_purges_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, general_path: bool
) -> None:
    # hundreds of same-layout records (decoded as blocks), two restarts within one file, the
    # second one to a step before the first; other runs are not purged
    if general_path:
        monkeypatch.setattr(_decoder, "_MAX_TEMPLATES", 0)
    w = _writer(tmp_path / "a")
    w.file_writer.add_event(_start_event(0))
    other = _writer(tmp_path / "b")
    for step in range(200):
        w.add_scalar("x", step, step)
        w.add_scalar("y", -step, step)
        other.add_scalar("z", step, step)
    w.file_writer.add_event(_start_event(150))
    for step in range(150, 300):
        w.add_scalar("x", 1000 + step, step)
    w.file_writer.add_event(_start_event(100))
    for step in range(100, 120):
        w.add_scalar("y", 5000 + step, step)
    w.close()
    other.close()
    logs = _read_quietly(tmp_path)
    assert logs["a/x"]["step"] == list(range(100))
    assert logs["a/y"]["step"] == list(range(120))
    assert logs["a/y"]["value"][100:] == [5000.0 + s for s in range(100, 120)]
    assert logs["b/z"]["step"] == list(range(200))
    assert ours(logs) == accumulate_logdir(tmp_path)
    small = LogdirTailer(tmp_path, chunk_size=4096)  # many small batches, restarts inside some
    parts = [small.poll_logs()]
    assert parts[0] == logs


def test_streams_cannot_take_back_what_they_handed_out(tmp_path: Path) -> None:
    # iter_scalars yields file by file: the first writer's points are out before the restart
    first = _writer(tmp_path, ".1")
    first.file_writer.add_event(_start_event(0))
    for step in range(10):
        first.add_scalar("loss", step, step)
    first.close()
    second = _writer(tmp_path, ".2", purge_step=5)
    for step in range(5, 15):
        second.add_scalar("loss", 100 + step, step)
    second.close()
    steps = [e.step for e in iter_scalars(tmp_path)]
    assert steps == [*range(10), *range(5, 15)]
    # what a server keyed by (tag, step) ends up with is TensorBoard's reading
    last: dict[int, float] = {}
    for e in iter_scalars(tmp_path):
        last[e.step] = e.value
    assert sorted(last.items()) == [(s, v) for s, v, _ in accumulate(tmp_path)["loss"]]


def test_start_in_a_file_without_version_2_is_not_a_restart(tmp_path: Path) -> None:
    from tensorboardX.proto import event_pb2

    path = tmp_path / "events.out.tfevents.1.host"
    start = event_pb2.Event(step=1, session_log=event_pb2.SessionLog(status=1)).SerializeToString()
    from picsellia_tf.tfevents._framing import encode_record

    path.write_bytes(
        encode_record(start)
        + b"".join(simple_value_record(b"t", s, s, 1.0) for s in range(3))
        + encode_record(start)
    )
    assert read_logs(path)["t"]["step"] == [0, 1, 2]
    path.write_bytes(file_version_record() + path.read_bytes())
    assert read_logs(path)["t"]["step"] == [0]


# --- symlinks ---------------------------------------------------------------------------------


def test_symlinked_run_folders_are_read_and_cycles_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "exp1"
    w = _writer(outside)
    for step in range(5):
        w.add_scalar("loss", step / 2, step)
    w.close()
    logdir = tmp_path / "logs"
    w = _writer(logdir / "local")
    w.add_scalar("loss", 1.0, 0)
    w.close()
    os.symlink(outside, logdir / "linked")
    os.symlink(outside.parent, logdir / "all")  # a link to a folder of runs
    (logdir / "local" / "loop").symlink_to(logdir)  # back to the top: a cycle
    (logdir / "dangling").symlink_to(tmp_path / "nope")
    with pytest.warns(TFEventsWarning, match="loop") as caught:
        logs = read_logs(logdir)
    assert len([w for w in caught if "loop" in str(w.message)]) == 1
    assert sorted(logs) == ["all/exp1/loss", "linked/loss", "local/loss"]
    assert logs["linked/loss"] == logs["all/exp1/loss"]
    reference = accumulate(outside)["loss"]
    assert ours(logs)["linked/loss"] == reference
    tailer = LogdirTailer(logdir)
    with pytest.warns(TFEventsWarning, match="loop"):
        assert tailer.poll_logs() == logs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cycle is reported once per tailer, not every poll
        assert tailer.poll_logs() == {}
    # a symlinked event file is read too
    solo = tmp_path / "solo"
    solo.mkdir()
    (event,) = [p for p in outside.iterdir() if "tfevents" in p.name]
    (solo / event.name).symlink_to(event)
    assert _read_quietly(solo) == {"loss": logs["linked/loss"]}


# --- series that would share a key --------------------------------------------------------------


def test_root_tag_and_run_tag_with_the_same_key_stay_apart(tmp_path: Path) -> None:
    root = _writer(tmp_path)
    run = _writer(tmp_path / "train")
    for step in range(3):
        root.add_scalar("train/loss", 10 + step, step)
        run.add_scalar("loss", 20 + step, step)
    root.close()
    run.close()
    with pytest.warns(TFEventsWarning, match="train/loss \\(2\\)") as caught:
        logs = read_logs(tmp_path)
    message = str(caught[0].message)
    assert "run 'train' tag 'loss'" in message and "root" in message
    assert sorted(logs) == ["train/loss", "train/loss (2)"]
    assert ours(logs)["train/loss"] == accumulate(tmp_path)["train/loss"]
    assert ours(logs)["train/loss (2)"] == accumulate(tmp_path / "train")["loss"]
    with pytest.warns(TFEventsWarning, match="train/loss \\(2\\)"):
        events = list(iter_scalars(tmp_path))
    assert {(e.run, e.tag) for e in events} == {("", "train/loss"), ("train", "train/loss (2)")}


def test_tags_with_invalid_utf8_that_decode_alike_stay_apart(tmp_path: Path) -> None:
    # protobuf writers refuse such tags (and EventAccumulator cannot parse them); written by hand
    path = tmp_path / "events.out.tfevents.1.host"
    records = [file_version_record()]
    for step in range(3):
        records.append(simple_value_record(b"a\xff", step, step, 1.0 + step))
        records.append(simple_value_record(b"a\xfe", step, -step, 1.0 + step))
    path.write_bytes(b"".join(records))
    with pytest.warns(TFEventsWarning, match="not valid UTF-8"):
        logs = read_logs(path)
    assert logs == {
        "a\ufffd": {"step": [0, 1, 2], "value": [0.0, 1.0, 2.0], "wall_time": [1.0, 2.0, 3.0]},
        "a\ufffd (2)": {
            "step": [0, 1, 2],
            "value": [0.0, -1.0, -2.0],
            "wall_time": [1.0, 2.0, 3.0],
        },
    }
