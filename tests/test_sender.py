"""The spool and the sender against the local platform: retries, deadlines, coalescing, exit."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from picsellia_tf.errors import NotFoundError, ValidationError
from picsellia_tf.sender import Backoff, Delivery, Sender, make_sender_client
from picsellia_tf.spool import ACKED_FILE, POINTS_FILE, Point, RunMeta, Spool, find_runs, to_logs
from tests.helpers.callback import new_experiment, new_project, server_points

pytestmark = pytest.mark.timeout(60)


def _points(n: int, tag: str = "loss", start: int = 0) -> list[Point]:
    return [Point(tag, start + i, 1.0 / (start + i + 1), 1_700_000_000.0 + i) for i in range(n)]


def _spool(tmp_path: Path, platform: Any, exp: Any) -> Spool:
    meta = RunMeta(host=platform.host, training_id=exp.training_id, network_id=exp.network_id)
    return Spool.create(tmp_path / "spool", meta)


# -- the spool ---------------------------------------------------------------------------------


def test_spool_appends_reads_and_acks(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, RunMeta(training_id=2, network_id="net"))
    assert spool.path == tmp_path / "net-2"
    end = spool.append(_points(5))
    assert end == spool.size() and spool.pending()
    first, pos = spool.read(0, 3)
    assert [p.step for p in first] == [0, 1, 2]
    rest, pos2 = spool.read(pos, 100)
    assert [p.step for p in rest] == [3, 4] and pos2 == end
    spool.ack(pos)
    assert Spool.open(spool.path).acked() == pos
    assert [p.step for p in Spool.open(spool.path).iter_points(pos)] == [3, 4]
    spool.ack(end)
    assert not spool.pending()


def test_spool_survives_a_torn_last_line_and_garbage(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, RunMeta(training_id=1, network_id="n"))
    spool.append(_points(2))
    spool.close()
    with open(spool.path / POINTS_FILE, "ab") as fh:
        fh.write(b'["loss",2,0.5')  # a writer killed mid-line
    points, _ = Spool.open(spool.path).read(0, 100)
    assert [p.step for p in points] == [0, 1]  # the unterminated line is not read
    again = Spool.open(spool.path)
    again.append(_points(1, start=3))
    again.append_lines("not json\n")
    again.append(_points(1, start=4))
    points, _ = again.read(0, 100)
    assert [p.step for p in points] == [0, 1, 3, 4]
    assert again.bad_lines == 2  # the torn line and the garbage, skipped


def test_spool_keeps_nan_and_infinity(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, RunMeta(training_id=1, network_id="n"))
    spool.append([Point("a", 0, float("nan")), Point("a", 1, float("inf"))])
    values = [p.value for p in spool.iter_points()]
    assert values[0] != values[0] and values[1] == float("inf")


def test_find_runs_and_bad_meta_are_named(tmp_path: Path) -> None:
    a = Spool.create(tmp_path, RunMeta(training_id=1, network_id="a"))
    b = Spool.create(tmp_path, RunMeta(project_id="p", model_name="my model"))
    assert b.path.name.startswith("new-my_model-")
    assert find_runs(tmp_path) == sorted([a.path, b.path])
    assert find_runs(a.path) == [a.path]
    with pytest.raises(ValidationError, match="does not exist"):
        find_runs(tmp_path / "nope")
    (a.path / "meta.json").write_text('{"training_id": "seven"}')
    with pytest.raises(ValidationError, match=r"meta\.json: field 'training_id'"):
        Spool.open(a.path)


def test_to_logs_keeps_the_last_value_of_a_repeated_step() -> None:
    logs = to_logs([Point("l", 1, 0.5, 10.0), Point("l", 0, 0.7, 9.0), Point("l", 1, 0.4, 11.0)])
    assert logs == {"l": {"step": [0, 1], "value": [0.7, 0.4], "wall_time": [9.0, 11.0]}}


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    assert all(0 < d <= 4.0 for d in delays)
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0 and max(delays[4:]) > 2.0
    assert len(set(delays)) == len(delays)  # jitter
    assert backoff.next(hint=3.5) >= 3.5
    backoff.reset()
    assert backoff.next() <= 0.5


# -- delivery ----------------------------------------------------------------------------------


def test_delivery_retries_transient_failures(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    spool = _spool(tmp_path, platform, exp)
    spool.append(_points(25))
    platform.server.faults.fail_next(2, 503)
    platform.server.faults.fail_next(1, 429, retry_after=0.2)
    delivery = Delivery.for_spool(spool, make_sender_client(client), max_points=10)
    result = delivery.drain(time.monotonic() + 30, backoff=Backoff(base=0.05, cap=0.2))
    assert result.complete and result.sent == 25 and delivery.posts == 3
    assert spool.acked() == spool.size()
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got == {"loss": {p.step: p.value for p in _points(25)}}


def test_delivery_does_not_retry_a_refusal(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    meta = RunMeta(training_id=exp.training_id + 1, network_id=exp.network_id)
    spool = Spool.create(tmp_path, meta)
    spool.append(_points(3))
    start = time.monotonic()
    result = Delivery.for_spool(spool, make_sender_client(client)).drain(start + 30)
    assert time.monotonic() - start < 5
    assert not result.complete and isinstance(result.error, NotFoundError)
    assert spool.acked() == 0 and spool.pending()


def test_client_and_sender_share_one_retry_rule(platform: Any, tmp_path: Path) -> None:
    # One rule (picsellia_tf._retry): 429, 500/502/503/504 and connection failures are worth
    # another try, for the sender as for the client; a 4xx is final.
    from picsellia_tf import _http, _retry
    from picsellia_tf import sender as sender_module
    from picsellia_tf.errors import NetworkError, ResponseTooLarge, error_for_status

    assert sender_module.is_retryable is _retry.is_retryable is _http.is_retryable
    assert sender_module.Backoff is _retry.Backoff is _http.Backoff
    for status, retried in (
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
    ):
        assert _retry.is_retryable(error_for_status(status, "GET", "/x", "m")) is retried, status
    assert _retry.is_retryable(NetworkError("reset")) is True
    assert _retry.is_retryable(ResponseTooLarge("too big")) is False

    client = platform.client
    exp = new_experiment(client)
    spool = _spool(tmp_path, platform, exp)
    spool.append(_points(3))
    platform.server.faults.fail_next(2, 500)  # a passing fault: delivered after it
    delivery = Delivery.for_spool(spool, make_sender_client(client))
    result = delivery.drain(time.monotonic() + 30, backoff=Backoff(base=0.05, cap=0.2))
    assert result.complete and result.sent == 3 and spool.acked() == spool.size()
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got == {"loss": {p.step: p.value for p in _points(3)}}


def test_delivery_starts_the_experiment_once(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    project_id = new_project(client)
    spool = Spool.create(tmp_path, RunMeta(project_id=project_id, model_name="later"))
    spool.append(_points(4))
    result = Delivery.for_spool(spool, client).drain(time.monotonic() + 10)
    assert result.complete
    meta = Spool.open(spool.path).meta
    assert meta.training_id == 1 and meta.network_id
    spool.append(_points(2, start=4))
    assert Delivery.for_spool(Spool.open(spool.path), client).drain(time.monotonic() + 10).sent == 2
    (model,) = [m for m in client.models.list() if m.name == "later"]
    assert len(client.models.get(model.id).experiments) == 1
    got = client.experiments.get_logs(1, model.id)
    assert got["loss"]["step"] == [0, 1, 2, 3, 4, 5]


# -- the sender thread -------------------------------------------------------------------------


def test_sender_coalesces_into_one_post_per_interval(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    spool = _spool(tmp_path, platform, exp)
    sender = Sender(spool, make_sender_client(client), flush_interval=0.5)
    sender.start()
    for i in range(50):
        spool.append(_points(10, tag=f"t{i % 5}", start=10 * (i // 5)))
    assert sender.close(idle_timeout=5, max_time=10)
    assert sender.sent == 500
    assert sender.delivery is not None and sender.delivery.posts <= 2
    got = client.experiments.get_logs(exp.training_id, exp.network_id)
    assert sorted(got) == [f"t{i}" for i in range(5)]
    assert all(len(series["step"]) == 100 for series in got.values())
    assert not spool.path.exists()  # delivered: the run leaves the spool


def test_sender_waits_out_an_outage_without_losing_points(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    spool = _spool(tmp_path, platform, exp)
    sender = Sender(
        spool, make_sender_client(client), flush_interval=0.05, backoff=Backoff(0.05, 0.3)
    )
    sender.start()
    platform.server.stop()
    spool.append(_points(30))
    start = time.monotonic()
    assert sender.flush(idle_timeout=0.25, max_time=5) is False
    assert time.monotonic() - start < 2.0
    assert sender.failed_attempts >= 1 and not sender.disabled_by
    spool.append(_points(30, start=30))
    platform.server.start()
    assert sender.close(idle_timeout=5, max_time=10) is True
    got = client.experiments.get_logs(exp.training_id, exp.network_id)
    assert got["loss"]["step"] == list(range(60))


def test_sender_close_is_bounded_when_the_server_hangs(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    spool = _spool(tmp_path, platform, exp)
    platform.server.faults.paths = ("/sdk/post_logs",)
    platform.server.faults.latency = 3.0
    sender = Sender(spool, make_sender_client(client), flush_interval=0.05)
    sender.start()
    spool.append(_points(5))
    start = time.monotonic()
    assert sender.close(idle_timeout=0.25, max_time=30) is False
    assert time.monotonic() - start < 1.5
    assert spool.path.exists() and Spool.open(spool.path).pending()
    platform.server.faults.reset()


def test_a_job_slower_than_the_idle_timeout_is_waited_for(platform: Any, tmp_path: Path) -> None:
    # Rendering previews on a busy machine can outlast flush_timeout: that is work, not a
    # platform gone quiet, so the flush waits for it (up to max_time) and delivers what it made.
    client = platform.client
    exp = new_experiment(client)
    spool = _spool(tmp_path, platform, exp)
    sender = Sender(spool, make_sender_client(client), flush_interval=0.05)
    sender.start()

    def slow(start: int) -> Any:
        def job(spool: Spool) -> None:
            time.sleep(0.5)  # each job alone outlasts the idle timeout
            spool.append(_points(5, start=start))

        return job

    sender.submit(slow(0))
    sender.submit(slow(5))
    assert sender.close(idle_timeout=0.3, max_time=10) is True
    got = client.experiments.get_logs(exp.training_id, exp.network_id)
    assert got["loss"]["step"] == list(range(10))
    # still bounded: a job longer than max_time is not waited for
    spool = _spool(tmp_path / "other", platform, exp)
    sender = Sender(spool, make_sender_client(client), flush_interval=0.05)
    sender.start()
    sender.submit(lambda _: time.sleep(3.0))
    start = time.monotonic()
    assert sender.close(idle_timeout=0.3, max_time=0.5) is False
    assert time.monotonic() - start < 1.5


def test_sender_starts_the_experiment_once_after_failures(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    project_id = new_project(client)
    meta = RunMeta(host=platform.host, project_id=project_id, model_name="retried")
    spool = Spool.create(tmp_path, meta)
    platform.server.faults.paths = ("/sdk/init_model",)
    platform.server.faults.fail_next(2, 503)
    sender = Sender(
        spool, make_sender_client(client), flush_interval=0.05, backoff=Backoff(0.05, 0.2)
    )
    sender.start()
    spool.append(_points(5))
    assert sender.flush(idle_timeout=5, max_time=10)
    assert sender.failed_attempts == 2
    on_disk = Spool.open(spool.path).meta
    (model,) = [m for m in client.models.list() if m.name == "retried"]
    assert (on_disk.training_id, on_disk.network_id) == (1, model.id)
    assert spool.meta == on_disk
    spool.append(_points(3, start=5))
    assert sender.close(idle_timeout=5, max_time=10)
    assert len(client.models.get(model.id).experiments) == 1
    assert client.experiments.get_logs(1, model.id)["loss"]["step"] == list(range(8))


def test_offline_sender_only_spools(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, RunMeta(training_id=1, network_id="n"))
    sender = Sender(spool, None, flush_interval=0.05)
    sender.start()
    spool.append(_points(3))
    assert sender.close(idle_timeout=0.2, max_time=1) is False
    assert [p.step for p in Spool.open(spool.path).iter_points()] == [0, 1, 2]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # that exit
def test_a_system_exit_on_the_sender_thread_ends_it(tmp_path: Path) -> None:
    # An error never ends the sender's thread; SystemExit (and KeyboardInterrupt) are not
    # swallowed: the thread ends, and close() sees it ended rather than waiting for a pass.
    spool = Spool.create(tmp_path, RunMeta(training_id=1, network_id="n"))
    sender = Sender(spool, None, flush_interval=0.05)
    sender.start()
    ran: list[str] = []

    def fails(_: Spool) -> None:
        ran.append("error")
        raise ValueError("a job's own error")

    def leaves(_: Spool) -> None:
        ran.append("exit")
        raise SystemExit(3)

    sender.submit(fails)
    sender.submit(leaves)
    thread = sender._thread
    assert thread is not None
    thread.join(timeout=10)
    assert not thread.is_alive() and ran == ["error", "exit"]
    assert isinstance(sender.last_error, ValueError)  # the job's error was kept, not raised
    spool.append(_points(2))
    # (were it waiting for a pass, it would outlast the module's 60 s timeout)
    assert sender.close(idle_timeout=120, max_time=120) is False
    assert [p.step for p in Spool.open(spool.path).iter_points()] == [0, 1]


def _run_child(code: str, platform: Any, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {"PICSELLIA_TOKEN": platform.token, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_exit_without_close_flushes_at_exit(platform: Any, tmp_path: Path) -> None:
    exp = new_experiment(platform.client)
    code = f"""
        from picsellia_tf.client import Client
        from picsellia_tf.sender import Sender
        from picsellia_tf.spool import Point, RunMeta, Spool
        meta = RunMeta(training_id={exp.training_id}, network_id={exp.network_id!r})
        spool = Spool.create({str(tmp_path)!r}, meta)
        sender = Sender(spool, Client(host={platform.host!r}), flush_interval=60)
        sender.start()
        spool.append(Point("exit", i, float(i)) for i in range(7))
        print("bye")
    """
    out = _run_child(code, platform, timeout=60)
    assert out.returncode == 0 and "bye" in out.stdout, out.stderr
    got = platform.client.experiments.get_logs(exp.training_id, exp.network_id)
    assert got["exit"]["step"] == list(range(7))


def test_exit_never_hangs_on_a_server_that_never_answers(platform: Any, tmp_path: Path) -> None:
    exp = new_experiment(platform.client)
    platform.server.faults.paths = ("/sdk/post_logs",)
    platform.server.faults.latency = 8.0
    at_exit = 0.5  # the at-exit flush deadline (sender.ATEXIT_DEADLINE, 2 s, shortened here)
    code = f"""
        import time
        from picsellia_tf import sender as sender_module
        from picsellia_tf.client import Client
        from picsellia_tf.sender import Sender
        from picsellia_tf.spool import Point, RunMeta, Spool
        sender_module.ATEXIT_DEADLINE = {at_exit}
        meta = RunMeta(training_id={exp.training_id}, network_id={exp.network_id!r})
        spool = Spool.create({str(tmp_path)!r}, meta)
        sender = Sender(spool, Client(host={platform.host!r}), flush_interval=0.05)
        sender.start()
        spool.append(Point("exit", i, float(i)) for i in range(7))
        time.sleep(0.3)
        print("exiting", time.time())
    """
    out = _run_child(code, platform, timeout=60)
    ended = time.time()
    assert out.returncode == 0, out.stderr
    exiting = float(out.stdout.split()[-1])
    assert ended - exiting < at_exit + 1.5  # the at-exit flush deadline, plus interpreter teardown
    assert f"picsellia-tf sync {tmp_path}" in out.stderr
    (run,) = find_runs(tmp_path)
    assert len(list(Spool.open(run).iter_points())) == 7
    assert (run / ACKED_FILE).exists() is False
    platform.server.faults.reset()
    assert json.loads((run / "meta.json").read_text())["training_id"] == exp.training_id
