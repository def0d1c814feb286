"""Benchmark: the test suite's wall time, against the suite as it was at a baseline commit.

The baseline is the tree issue 14 measured ("today's 216 s"), ``2878d48`` unless ``--baseline``
says otherwise: it is checked out in a temporary git worktree and its own test command runs
there (serial then: no pytest-xdist in its configuration), with this venv's interpreter and its
package code on ``PYTHONPATH``. Then the README's test command (``pytest`` with this project's
configuration: two workers on two cores) runs on the working tree. Rows alternate, ``--runs``
times each, so a busy machine slows both alike; the table gives each run's wall and CPU time
(the children's included), the tests passed and the ratio of the medians.

Run it alone on the machine: the suite is timing-sensitive and CPU-bound.

    .venv/bin/python benchmarks/bench_suite.py              # 1 run each (~5 min)
    .venv/bin/python benchmarks/bench_suite.py --runs 2
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "2878d48"


def _run(cwd: Path, args: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds of the run and its children, tests passed, pytest's last line."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed in {cwd} (exit {proc.returncode}): {last}")
    passed = re.search(r"(\d+) passed", last)
    return wall, cpu, int(passed.group(1)) if passed else 0, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each suite (default: 1)")
    parser.add_argument(
        "--baseline", default=BASELINE, help=f"the baseline commit (default: {BASELINE})"
    )
    opts = parser.parse_args()
    rows: dict[str, list[tuple[float, float, int]]] = {"baseline": [], "this tree": []}
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), opts.baseline],
            check=True,
        )
        try:
            for i in range(opts.runs):
                for name, cwd, args in (
                    ("baseline", base, ["-p", "no:cacheprovider"]),
                    ("this tree", ROOT, ["-p", "no:cacheprovider"]),
                ):
                    wall, cpu, passed, last = _run(cwd, args)
                    rows[name].append((wall, cpu, passed))
                    print(f"run {i + 1} {name}: {last}", file=sys.stderr)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )
    base_wall = statistics.median(w for w, _, _ in rows["baseline"])
    print(f"\nsuite wall time, baseline {opts.baseline}, {opts.runs} run(s) each, median")
    print(
        f"{'suite':<12} {'tests':>6} {'wall s':>8} {'CPU s':>8} {'runs (wall s)':<24} {'ratio':>6}"
    )
    for name, runs in rows.items():
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        each = ", ".join(f"{w:.1f}" for w, _, _ in runs)
        print(
            f"{name:<12} {runs[0][2]:>6} {wall:>8.1f} {cpu:>8.1f} {each:<24} "
            f"{wall / base_wall:>5.2f}x"
        )


if __name__ == "__main__":
    main()
