"""Test helper: a real small filesystem (a tmpfs this process mounts) that can be filled up
and freed, to test what the spool does on a full disk."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

FILLER = ".filler"


class SmallDisk:
    """A tmpfs of ``size`` mounted at ``path`` (needs root); :meth:`fill` takes every free
    block, :meth:`free` gives them back."""

    def __init__(self, path: Path, size: str = "2m") -> None:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        self.path = path

    def fill(self) -> None:
        """Write a filler file until the filesystem refuses (ENOSPC)."""
        with open(self.path / FILLER, "ab", buffering=0) as fh:
            for size in (1 << 16, 1 << 12, 1):
                try:
                    while True:
                        fh.write(b"\0" * size)
                except OSError:
                    continue

    def free(self) -> None:
        (self.path / FILLER).unlink(missing_ok=True)

    def files(self) -> list[str]:
        """Every file on the disk but the filler, relative paths, sorted."""
        return sorted(
            os.path.relpath(os.path.join(d, f), self.path)
            for d, _, names in os.walk(self.path)
            for f in names
            if not (d == str(self.path) and f == FILLER)
        )

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(self.path)], check=True, capture_output=True)


def mount_small_disk(path: Path) -> SmallDisk | str:
    """A :class:`SmallDisk` at ``path``, or the reason there cannot be one here."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "mounting a tmpfs needs root (CI runs as root)"
    try:
        return SmallDisk(path)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"cannot mount a tmpfs here: {detail.strip()}"
