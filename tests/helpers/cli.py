"""Running ``picsellia-tf``: in this process through ``main(argv)`` (most tests), or as a real
subprocess (``python -m picsellia_tf.cli``, for what only a process shows: exit through the
interpreter, closed or full stdout, the modules a command imports).

Both check the exit code, that the token appears in no output, and that no traceback was
printed, and return a :class:`subprocess.CompletedProcess`."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

CLI = [sys.executable, "-m", "picsellia_tf.cli"]


def cli_env(platform: Any | None, **extra: str) -> dict[str, str]:
    """This process's environment without ``PICSELLIA_*``, with ``platform``'s host and token
    when given, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICSELLIA_")}
    if platform is not None:
        env["PICSELLIA_HOST"] = platform.host
        env["PICSELLIA_TOKEN"] = platform.token
    env.update(extra)
    return env


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is ``env`` inside the block, as it was after it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _check(
    proc: subprocess.CompletedProcess[str], platform: Any | None, code: int | None, args: Any
) -> subprocess.CompletedProcess[str]:
    where = f"picsellia-tf {' '.join(args)}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    if code is not None:
        assert proc.returncode == code, where
    if platform is not None:
        assert platform.token not in proc.stdout + proc.stderr, where
    assert "Traceback" not in proc.stderr, where
    return proc


def run(
    platform: Any | None,
    *args: str,
    input: str | None = "",
    code: int | None = 0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``picsellia-tf ARGS`` in this process: ``main(args)`` with ``env`` as the environment
    (default: :func:`cli_env` of ``platform``), ``input`` as stdin, stdout and stderr
    captured. An exception escaping ``main`` fails the test as it would print a traceback."""
    from picsellia_tf.cli import main

    out, err = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    try:
        with environment(env if env is not None else cli_env(platform)):
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    returncode = main(list(args))
                except SystemExit as exc:  # argparse: usage errors and --help
                    returncode = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = stdin
    proc = subprocess.CompletedProcess(
        ["picsellia-tf", *args], returncode, out.getvalue(), err.getvalue()
    )
    return _check(proc, platform, code, args)


def run_process(
    platform: Any | None,
    *args: str,
    input: str | None = "",
    code: int | None = 0,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``picsellia-tf ARGS`` as a subprocess (see :func:`run`)."""
    proc = subprocess.run(
        [*CLI, *args],
        input=input,
        capture_output=True,
        text=True,
        env=env if env is not None else cli_env(platform),
        timeout=timeout,
    )
    return _check(proc, platform, code, args)
