"""``picsellia-tf sync`` and ``picsellia-tf push-logs`` against the local platform (through
``main(argv)``; one run as a subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from picsellia_tf.spool import Point, RunMeta, Spool, find_runs
from tests.helpers.callback import new_experiment, new_project, server_points, unused_port
from tests.helpers.cli import cli_env, run_process
from tests.helpers.cli import run as run_cli

pytestmark = pytest.mark.timeout(120)


def _cli(
    platform: Any, *args: str, timeout: float = 60, input: str = "", process: bool = False
) -> subprocess.CompletedProcess[str]:
    """``picsellia-tf ARGS`` with the platform's token (the host comes from each run's spool
    or ``--host``): in this process, or as a subprocess with ``process``."""
    env = cli_env(None, PICSELLIA_TOKEN=platform.token, TF_CPP_MIN_LOG_LEVEL="3")
    if process:
        return run_process(platform, *args, input=input, code=None, env=env, timeout=timeout)
    return run_cli(platform, *args, input=input, code=None, env=env)


def _points(tag: str, n: int, scale: float = 1.0) -> list[Point]:
    return [Point(tag, i, scale * i + 0.25, 1_700_000_000.0 + i) for i in range(n)]


def test_sync_delivers_every_run_under_a_spool_dir(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    project_id = new_project(client)
    known = Spool.create(
        tmp_path,
        RunMeta(host=platform.host, training_id=exp.training_id, network_id=exp.network_id),
    )
    known.append(_points("loss", 12))
    _, half = known.read(0, 6)
    known.ack(half)  # half was delivered before: only the rest is sent
    fresh = Spool.create(
        tmp_path, RunMeta(host=platform.host, project_id=project_id, model_name="synced")
    )
    fresh.append(_points("acc", 5, scale=0.1))
    known.close()
    fresh.close()

    out = _cli(platform, "sync", str(tmp_path), "--json", process=True)
    assert out.returncode == 0, out.stderr
    report = {Path(r["run"]).name: r for r in json.loads(out.stdout)["runs"]}
    assert report[known.path.name]["sent"] == 6 and report[known.path.name]["complete"]
    assert report[fresh.path.name]["sent"] == 5
    assert not known.path.exists() and not fresh.path.exists()

    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got == {"loss": {i: i + 0.25 for i in range(6, 12)}}
    new = report[fresh.path.name]
    got = server_points(client.experiments.get_logs(new["training_id"], new["network_id"]))
    assert got["acc"] == pytest.approx({i: 0.1 * i + 0.25 for i in range(5)})


def test_sync_of_one_run_dir_prints_points_per_run(platform: Any, tmp_path: Path) -> None:
    exp = new_experiment(platform.client)
    run = Spool.create(
        tmp_path,
        RunMeta(host=platform.host, training_id=exp.training_id, network_id=exp.network_id),
    )
    run.append(_points("loss", 3))
    run.close()
    out = _cli(platform, "sync", str(run.path))
    assert out.returncode == 0, out.stderr
    assert f"{run.path}: 3 points sent to training_id={exp.training_id}" in out.stdout


def _stranded_run(parent: Path, n: int = 3, **ids: Any) -> tuple[Spool, str]:
    """A run spooled for a server that is gone, and that server's URL."""
    dead = f"http://127.0.0.1:{unused_port()}"
    run = Spool.create(parent, RunMeta(host=dead, **ids))
    run.append(_points("loss", n))
    run.close()
    return run, dead


def test_sync_names_unreachable_servers_and_delivers_the_other_runs(
    platform: Any, tmp_path: Path
) -> None:
    stranded, dead = _stranded_run(tmp_path, training_id=1, network_id="gone")
    exp = new_experiment(platform.client)
    live = Spool.create(
        tmp_path,
        RunMeta(host=platform.host, training_id=exp.training_id, network_id=exp.network_id),
    )
    live.append(_points("loss", 4))
    live.close()

    out = _cli(platform, "sync", str(tmp_path), timeout=30)  # at once, not after --timeout
    assert out.returncode == 1
    assert f"{live.path}: 4 points sent" in out.stdout and not live.path.exists()
    assert f"{stranded.path}: not sent, stays spooled: cannot reach {dead}" in out.stdout
    assert f"1 run(s) spooled for {dead}, which does not answer:\n  {stranded.path}\n" in (
        out.stdout
    )
    assert "--host URL" in out.stdout and "--drop" in out.stdout
    assert "1 run(s) not fully delivered" in out.stderr
    assert len(list(Spool.open(stranded.path).iter_points())) == 3

    out = _cli(platform, "sync", str(tmp_path), "--json", timeout=30)
    (entry,) = json.loads(out.stdout)["runs"]
    assert entry["unreachable"] is True and entry["host"] == dead


def test_sync_host_sends_a_run_to_a_platform_that_moved(platform: Any, tmp_path: Path) -> None:
    exp = new_experiment(platform.client)
    run, _ = _stranded_run(tmp_path, training_id=exp.training_id, network_id=exp.network_id)
    out = _cli(platform, "sync", str(run.path), "--host", platform.host + "/")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"3 points sent to training_id={exp.training_id}" in out.stdout
    got = server_points(platform.client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got == {"loss": {i: i + 0.25 for i in range(3)}}


def test_sync_host_with_unknown_ids_says_how_to_map_them(platform: Any, tmp_path: Path) -> None:
    run, _ = _stranded_run(tmp_path, training_id=7, network_id="not-here")
    out = _cli(platform, "sync", str(run.path), "--host", platform.host, "--timeout", "1")
    assert out.returncode == 1
    assert "404" in out.stdout and "pass --project-id to start a new version there" in out.stdout
    assert Spool.open(run.path).meta.host == platform.host  # the run now goes there
    assert len(list(Spool.open(run.path).iter_points())) == 3


def test_sync_project_id_starts_a_new_version_and_resends_everything(
    platform: Any, tmp_path: Path
) -> None:
    client = platform.client
    project_id = new_project(client)
    run, _ = _stranded_run(tmp_path, n=6, training_id=3, network_id="old", model_name="net")
    _, half = run.read(0, 3)
    run.ack(half)  # delivered to the old server: the new version must still get them
    out = _cli(platform, "sync", str(run.path), "--host", platform.host, "--project-id", project_id)
    assert out.returncode == 0, out.stdout + out.stderr
    (model,) = [m for m in client.models.list() if m.name == "net"]
    (version,) = client.models.get(model.id).experiments
    assert f"6 points sent to training_id={version.training_id} network_id={model.id}" in (
        out.stdout
    )
    got = server_points(client.experiments.get_logs(version.training_id, model.id))
    assert got == {"loss": {i: i + 0.25 for i in range(6)}}


def test_sync_maps_one_run_to_an_existing_version(platform: Any, tmp_path: Path) -> None:
    client = platform.client
    exp = new_experiment(client)
    run, _ = _stranded_run(tmp_path, training_id=1, network_id="old")
    args = ["--host", platform.host, "--training-id", str(exp.training_id)]
    out = _cli(platform, "sync", str(run.path), *args, "--network-id", exp.network_id)
    assert out.returncode == 0, out.stdout + out.stderr
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got == {"loss": {i: i + 0.25 for i in range(3)}}

    _stranded_run(tmp_path)
    _stranded_run(tmp_path)
    out = _cli(platform, "sync", str(tmp_path), *args, "--network-id", exp.network_id)
    assert out.returncode == 1
    assert "--training-id/--network-id map one run" in out.stderr
    assert "pass that run's directory" in out.stderr
    out = _cli(platform, "sync", str(tmp_path), "--training-id", "3")
    assert out.returncode == 1 and "--training-id and --network-id go together" in out.stderr


def test_sync_drop_deletes_runs_after_a_prompt(platform: Any, tmp_path: Path) -> None:
    run, dead = _stranded_run(tmp_path, training_id=2, network_id="gone")
    out = _cli(platform, "sync", str(run.path), "--drop", input="n\n")
    assert out.returncode == 1 and "aborted; nothing deleted" in out.stderr
    assert f"{run.path}: 3 points, 0 previews undelivered, for training_id=2" in out.stderr
    assert dead in out.stderr and "[y/N]" in out.stderr
    assert run.path.exists()
    out = _cli(platform, "sync", str(run.path), "--drop")  # no answer (EOF) is no
    assert out.returncode == 1 and run.path.exists()

    out = _cli(platform, "sync", str(tmp_path), "--drop", input="y\n")
    assert out.returncode == 0, out.stderr
    assert f"dropped {run.path}" in out.stdout and not run.path.exists()

    other, _ = _stranded_run(tmp_path)
    out = _cli(platform, "sync", str(tmp_path), "--drop", "--yes", "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == {"dropped": [str(other.path)]}
    assert find_runs(tmp_path) == []
    out = _cli(platform, "sync", str(tmp_path), "--drop", "--host", platform.host)
    assert out.returncode == 1 and "--drop deletes runs" in out.stderr


def test_sync_names_a_missing_spool_dir(platform: Any, tmp_path: Path) -> None:
    out = _cli(platform, "sync", str(tmp_path / "missing"))
    assert out.returncode == 1
    assert f"spool directory '{tmp_path / 'missing'}' does not exist" in out.stderr


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real event files: runs train and validation, tags epoch_loss and epoch_acc, 13 steps."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("logs")
    for run, scale in (("train", 1.0), ("validation", 2.0)):
        writer = tf.summary.create_file_writer(str(root / run))
        with writer.as_default():
            for step in range(13):
                tf.summary.scalar("epoch_loss", scale / (step + 1), step=step)
                tf.summary.scalar("epoch_acc", scale * step / 13, step=step)
        writer.close()
    return root


def test_push_logs_posts_a_logdir_in_chunks(platform: Any, logdir: Path) -> None:
    from picsellia_tf.tfevents import read_logs

    client = platform.client
    exp = new_experiment(client)
    base = ["push-logs", str(logdir), "--training-id", str(exp.training_id)]
    base += ["--network-id", exp.network_id, "--host", platform.host]

    out = _cli(platform, *base, "--runs", "train", "--tags", "epoch_loss", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "tags": 1,
        "points": 13,
        "sent": 13,
        "complete": True,
        "error": None,
    }
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert sorted(got) == ["train/epoch_loss"]

    out = _cli(platform, *base, "--chunk", "5")
    assert out.returncode == 0, out.stderr
    assert "52 of 52 points in 4 tags sent" in out.stdout
    got = server_points(client.experiments.get_logs(exp.training_id, exp.network_id))
    assert got == server_points(read_logs(logdir))


def test_push_logs_that_would_send_nothing_fails_naming_the_runs(
    platform: Any, logdir: Path, tmp_path: Path
) -> None:
    exp = new_experiment(platform.client)
    ids = ["--training-id", str(exp.training_id), "--network-id", exp.network_id]
    host = ["--host", platform.host]
    out = _cli(platform, "push-logs", str(logdir), *ids, *host, "--runs", "trian")
    assert out.returncode == 1 and out.stdout == ""
    assert f"{logdir}: --runs trian select no scalars; runs: train, validation; tags: " in (
        out.stderr
    )
    assert "train/epoch_loss" in out.stderr and "nothing sent" in out.stderr
    out = _cli(platform, "push-logs", str(logdir), *ids, *host, "--tags", "nope")
    assert out.returncode == 1 and "--tags nope select no scalars" in out.stderr

    (tmp_path / "empty").mkdir()
    out = _cli(platform, "push-logs", str(tmp_path / "empty"), *ids, *host)
    assert out.returncode == 1 and "no TensorBoard event files" in out.stderr
    assert platform.client.experiments.get_logs(exp.training_id, exp.network_id) == {}


def test_push_logs_reports_a_refusal(platform: Any, logdir: Path) -> None:
    args = ["push-logs", str(logdir), "--training-id", "99", "--network-id", "nope"]
    out = _cli(platform, *args, "--host", platform.host)
    assert out.returncode == 1
    assert "0 of 52 points" in out.stdout and "404" in out.stdout
    out = _cli(platform, *args[:3], "0", *args[4:], "--host", platform.host)
    assert out.returncode == 1 and "--training-id: expected an int >= 1" in out.stderr
