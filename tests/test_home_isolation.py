"""The suite keeps out of the real home: the ``isolated_home`` session fixture (conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import HOME_ENV_POPPED, REAL_HOME, TEST_HOME

CHILD = """
import json, os
from pathlib import Path
import keras
from picsellia_tf.data.cache import default_cache_dir
from picsellia_tf.spool import default_spool_dir
from keras.src.backend import config
print(json.dumps({
    "home": str(Path.home()),
    "spool": str(default_spool_dir()),
    "cache": str(default_cache_dir()),
    "keras": config.keras_home(),
}))
"""


def _under(path: str | Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def test_session_home_is_a_temporary_directory(isolated_home: Path) -> None:
    assert isolated_home == TEST_HOME == Path.home()
    assert not _under(isolated_home, REAL_HOME) and not _under(REAL_HOME, isolated_home)
    assert os.environ["HOME"] == str(isolated_home)
    assert not [name for name in HOME_ENV_POPPED if name in os.environ]


def test_the_watched_home_is_the_real_one_in_every_worker() -> None:
    # pytest-xdist starts its workers with the controller's temporary home as $HOME.
    assert not REAL_HOME.name.startswith("picsellia-tf-tests-home-"), REAL_HOME
    assert REAL_HOME != TEST_HOME


def test_defaults_of_this_process_and_of_children_are_in_the_session_home(
    isolated_home: Path,
) -> None:
    from picsellia_tf.data.cache import default_cache_dir
    from picsellia_tf.spool import default_spool_dir

    assert _under(default_spool_dir(), isolated_home)
    assert _under(default_cache_dir(), isolated_home)

    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["home"] == str(isolated_home)
    for key in ("spool", "cache", "keras"):
        assert _under(child[key], isolated_home), (key, child[key])
    assert (isolated_home / ".keras" / "keras.json").is_file()  # Keras wrote its config here
