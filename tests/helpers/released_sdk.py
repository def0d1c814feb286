"""The platform's released Python SDK (``picsellia==4.6``), fetched from the package index for
the compatibility tests (no tests here).

The SDK's own, unmodified code is what runs: :func:`load` downloads its source distribution
with pip into a directory the caller gives (never the user's home or pip's cache) and imports
its ``picsellia`` package from there. :func:`sdk_client` builds a ``picsellia.Client`` without
running its ``__init__``, which pings ``/sdk/ping`` and needs ``/sdk/init_project`` answers,
routes the v1 reference does not have; it sets the attributes the training path reads instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import types
from pathlib import Path
from typing import Any

import pytest
import requests

VERSION = "4.6"
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def index_reachable() -> str | None:
    """None if the package index answers, else why not (a reason to skip; asked only after
    pip failed, so an index pip is configured for elsewhere is used first)."""
    url = f"{INDEX}/picsellia/"
    try:
        requests.get(url, timeout=15).raise_for_status()
    except requests.RequestException as exc:
        return f"the package index {INDEX} cannot be reached ({type(exc).__name__}: {exc})"
    return None


def download(dest: Path) -> Path:
    """The unpacked ``picsellia-4.6`` source tree under ``dest`` (downloaded once per dest)."""
    tree = dest / f"picsellia-{VERSION}"
    if (tree / "picsellia" / "Client.py").is_file():
        return tree
    dest.mkdir(parents=True, exist_ok=True)
    # No cache: nothing is written outside ``dest``. pip reads the sdist's metadata with the
    # venv's setuptools where there is one, else (Python 3.12+ venvs) fetches one to a
    # temporary build environment.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"]
    command += ["--disable-pip-version-check", "-q", "-d", str(dest)]
    if importlib.util.find_spec("setuptools") is not None:
        command.append("--no-build-isolation")
    done = subprocess.run(
        [*command, f"picsellia=={VERSION}"], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        reason = index_reachable()
        if reason is not None:  # the only reason to skip: no index to fetch it from
            pytest.skip(f"released SDK picsellia=={VERSION} not fetched: {reason}")
        raise AssertionError(f"pip download picsellia=={VERSION} failed:\n{done.stderr}")
    (archive,) = dest.glob(f"picsellia-{VERSION}.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    assert (tree / "picsellia" / "Client.py").is_file(), f"no picsellia/Client.py in {archive}"
    return tree


class _Absent(types.ModuleType):
    """Stands in for an import the SDK makes at module level but its training path never
    uses (``cv2``): any use of it fails the test, naming what was used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the released SDK used {self.__name__}.{name}")


def load(dest: Path) -> types.ModuleType:
    """The released SDK's ``picsellia.Client`` module, imported from its downloaded source.

    ``opencv-python`` (``cv2``), which the SDK imports at the top of ``Client.py`` and
    ``Utils.py`` for image helpers, is not installed for the test: a stand-in that fails on
    any use takes its place while the SDK is imported, so the test proves the training path
    does not need it.
    """
    tree = download(dest)
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _sdk_module(name)}
    missing_cv2 = importlib.util.find_spec("cv2") is None
    if missing_cv2:
        sys.modules["cv2"] = _Absent("cv2")
    sys.path.insert(0, str(tree))
    try:
        module = importlib.import_module("picsellia.Client")
    finally:
        sys.path.remove(str(tree))
        if missing_cv2:
            del sys.modules["cv2"]
        for name in [n for n in sys.modules if _sdk_module(n)]:
            del sys.modules[name]  # the SDK's modules stay reachable through ``module`` only
        sys.modules.update(saved)
    assert Path(module.__file__ or "").is_relative_to(tree), module.__file__
    return module


def _sdk_module(name: str) -> bool:
    return name == "picsellia" or name.startswith("picsellia.")


def sdk_client(module: types.ModuleType, host: str, token: str, project_id: str) -> Any:
    """A ``picsellia.Client`` for ``host`` (``http://...``, no ``/sdk/``) and one project.

    Built without ``__init__`` and ``checkout_project`` (their ``/sdk/ping`` and
    ``/sdk/init_project`` are not in the v1 reference): the attributes they would set and the
    training path reads are set here. The local platform's project token is the project id.
    """
    client = object.__new__(module.Client)
    client.auth = {"Authorization": "Bearer " + token}
    client.host = host.rstrip("/") + "/sdk/"
    client.project_token = project_id
    client.project_id = project_id
    client.project_name = "compat"
    client.network_names = []
    return client
