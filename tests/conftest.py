"""Shared fixtures: a local platform per test (``platform``, ``client``) or per session
(``shared_platform``, for read-mostly tests that create their own uniquely named objects)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from picsellia_tf.client import Client  # noqa: E402
from picsellia_tf.local_platform import LocalPlatform  # noqa: E402


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalPlatform]:
    """A fresh local platform with its data in ``tmp_path / "platform"``."""
    with LocalPlatform(tmp_path / "platform") as local:
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
