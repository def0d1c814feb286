"""Shared fixtures: a local platform per test (``platform``, ``client``) or per session
(``shared_platform``, for read-mostly tests that create their own uniquely named objects), and
``isolated_home``, which keeps the whole session (and the processes it starts) out of the real
home directory."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# What the suite must never write to: the spool, image cache and config of the real home.
# Under pytest-xdist the workers start with the controller's temporary home: the real one is
# handed down to them in this variable.
REAL_HOME = Path(os.environ.setdefault("PICSELLIA_TF_TESTS_REAL_HOME", str(Path.home())))
WATCHED_REAL_PATHS = (
    REAL_HOME / ".cache" / "picsellia_tf",
    REAL_HOME / ".config" / "picsellia_tf",
    REAL_HOME / ".keras",
)
# Variables that would point the suite at the user's own spool, cache, config or platform.
HOME_ENV_POPPED = (
    "PICSELLIA_TOKEN",
    "PICSELLIA_HOST",
    "PICSELLIA_MODE",
    "PICSELLIA_SPOOL_DIR",
    "PICSELLIA_CACHE_DIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "KERAS_HOME",
)


def _snapshot(paths: tuple[Path, ...]) -> dict[str, float | None]:
    return {str(p): (p.stat().st_mtime if p.exists() else None) for p in paths}


def _isolate_home() -> Path:
    # Done when this file is imported, before test modules import Keras or TensorFlow (Keras
    # writes its config under the home as it is imported); the session fixture below owns it.
    home = Path(tempfile.mkdtemp(prefix="picsellia-tf-tests-home-"))
    for name in HOME_ENV_POPPED:
        os.environ.pop(name, None)
    os.environ["HOME"] = str(home)
    return home


REAL_HOME_BEFORE = _snapshot(WATCHED_REAL_PATHS)
TEST_HOME = _isolate_home()

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from picsellia_tf.client import Client  # noqa: E402
from picsellia_tf.local import LocalServer  # noqa: E402
from picsellia_tf.local_platform import LocalPlatform  # noqa: E402
from tests.helpers.full_disk import SmallDisk, mount_small_disk  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_home() -> Iterator[Path]:
    """The session's home directory (``$HOME``), a temporary one: the default spool, image
    cache and Keras config of every test and child process land there."""
    assert Path.home() == TEST_HOME
    yield TEST_HOME
    shutil.rmtree(TEST_HOME, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """At the end of the run (in the xdist controller, once every worker is done) the real
    home's spool, cache and Keras config must be as they were: a failed run under CI (alone
    on its machine), a warning elsewhere, where other processes share the home."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    shutil.rmtree(TEST_HOME, ignore_errors=True)
    after = _snapshot(WATCHED_REAL_PATHS)
    changed = sorted(path for path, before in REAL_HOME_BEFORE.items() if after[path] != before)
    if not changed:
        return
    message = f"something wrote under the real home during the test session: {changed}"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line(("ERROR: " if os.environ.get("CI") else "WARNING: ") + message)
    if os.environ.get("CI"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        warnings.warn(message, stacklevel=1)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalPlatform]:
    """A fresh local platform with its data in ``tmp_path / "platform"``."""
    with LocalPlatform(tmp_path / "platform") as local:
        yield local


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    """A fresh local server (no client) with its data in ``tmp_path / "data"``."""
    with LocalServer(tmp_path / "data") as local:
        yield local


@pytest.fixture
def client(platform: LocalPlatform) -> Client:
    """The default user's client on the ``platform`` fixture."""
    return platform.client


@pytest.fixture(scope="session")
def shared_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """One local platform for the whole session; tests must not depend on its other contents."""
    with LocalPlatform(tmp_path_factory.mktemp("shared-platform")) as local:
        yield local


@pytest.fixture
def unused_host() -> str:
    """An http URL on loopback where nothing listens: a port the OS just handed out."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A real 2 MiB filesystem (tmpfs) to fill up; skipped, saying why, where none can be
    mounted (not root, no mount permission in the container)."""
    disk = mount_small_disk(tmp_path / "small-disk")
    if isinstance(disk, str):
        pytest.skip(disk)
    try:
        yield disk
    finally:
        disk.close()
