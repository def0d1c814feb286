"""Benchmark: how long ``picsellia-tf`` takes to answer ``--help``, against a bare interpreter.

Each row runs a fresh ``python`` process ``--runs`` times (interleaved, so a busy machine slows
every row alike) and prints the median wall time and its ratio to the baseline, ``python -c
pass`` with the same interpreter and ``PYTHONPATH``:

- ``--help``, a command group's ``--help`` and a command's ``--help``: what the user waits for;
- every command registered (the parser as it was built before commands were imported lazily);
- ``import picsellia_tf.client`` (requests) and ``import picsellia_tf.local`` (werkzeug,
  PIL, the server): what ``--help`` no longer imports.

    .venv/bin/python benchmarks/bench_cli.py            # 15 runs per row (~30 s)
    .venv/bin/python benchmarks/bench_cli.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROWS: list[tuple[str, list[str]]] = [
    ("baseline: python -c pass", ["-c", "pass"]),
    ("picsellia-tf --help", ["-m", "picsellia_tf.cli", "--help"]),
    ("picsellia-tf experiments --help", ["-m", "picsellia_tf.cli", "experiments", "--help"]),
    ("picsellia-tf sync --help", ["-m", "picsellia_tf.cli", "sync", "--help"]),
    (
        "every command registered (eager)",
        ["-c", "from picsellia_tf.cli import build_parser; build_parser()"],
    ),
    ("import picsellia_tf.client", ["-c", "import picsellia_tf.client"]),
    ("import picsellia_tf.local", ["-c", "import picsellia_tf.local"]),
]


def _once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=dict(os.environ)
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="runs per row (default 15)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name, _ in ROWS}
    for _, argv in ROWS:  # warm the OS file cache once
        _once(argv)
    for _ in range(args.runs):
        for name, argv in ROWS:
            times[name].append(_once(argv))
    base = statistics.median(times[ROWS[0][0]])
    print(f"{args.runs} runs per row, median wall time of a fresh process")
    print("| what | median s | min s | x baseline |")
    print("| --- | ---: | ---: | ---: |")
    for name, _ in ROWS:
        median = statistics.median(times[name])
        print(f"| {name} | {median:.3f} | {min(times[name]):.3f} | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
