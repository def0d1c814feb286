"""Benchmark: the dashboard's experiment page with up to 1,000,000 stored points.

A local platform runs in another process (``python -m picsellia_tf.local``, as ``serve``
runs it). For each size, one experiment version holds that many points: ``batch/loss`` and
``batch/accuracy`` sharing them, plus 50 epochs of ``loss``/``val_loss``. Measured per size,
on a fresh version:

- ``/ui/series cold``: the server's answer to the charts' request (downsampled to the chart
  width) when none of its buckets is cached yet;
- ``get_logs``: the API's full answer for the same version, what plotting without the
  dashboard starts from (the baseline for the server side);
- ``to chart``: in headless Chromium (Debian's chromium + chromium-driver, through Selenium),
  from the start of navigation to the page until every chart is drawn on screen (a
  ``performance.mark`` the chart script sets once the drawing is painted), the page already
  signed in: the first load (cold: the server reads every stored row) and the median of the
  next ``--repeats`` (warm: the server's bucket cache answers, reading only the last bucket).

The first size (1,000 points) is the baseline for the page: the ratios say how the cold time
to chart grows with the stored points.

    .venv/bin/python benchmarks/bench_dashboard.py             # 1k, 10k, 100k, 1M points
    .venv/bin/python benchmarks/bench_dashboard.py --quick     # 1k, 100k, one repeat
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# (the tests' helpers, tests.helpers: a headless Chromium, are importable from ROOT)

from tests.helpers.dashboard import chromium, console_errors, wait_for  # noqa: E402

CHUNK = 50_000
MARK = "performance.getEntriesByName('charts-drawn')"
EPOCHS = 50


def _start(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    command = [
        sys.executable,
        "-m",
        "picsellia_tf.local",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--token",
        "bench-token",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
    return proc, url, "bench-token"


def _api(url: str, token: str, method: str, path: str, body: Any) -> Any:
    answer = requests.request(
        method,
        url + path,
        data=json.dumps(body),
        timeout=300,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    answer.raise_for_status()
    return answer.json()


def _version(url: str, token: str, project_id: str, points: int) -> dict[str, Any]:
    """A version holding ``points`` points in all."""
    version = _api(
        url,
        token,
        "POST",
        "/sdk/init_model",
        {"project_id": project_id, "model_name": f"bench-{points}"},
    )
    epochs = {
        tag: {
            "step": list(range(EPOCHS)),
            "value": [offset + math.exp(-e / 10) for e in range(EPOCHS)],
            "wall_time": [1e9 + e for e in range(EPOCHS)],
        }
        for tag, offset in (("loss", 0.0), ("val_loss", 0.1))
    }
    _api(url, token, "POST", "/sdk/post_logs", {**version, "logs": epochs})
    per_tag = (points - 2 * EPOCHS) // 2
    for start in range(0, per_tag, CHUNK):
        steps = list(range(start, min(start + CHUNK, per_tag)))
        logs = {
            "batch/loss": {
                "step": steps,
                "value": [math.exp(-s / per_tag * 3) + 0.05 * math.sin(s) for s in steps],
                "wall_time": [1e9 + s / 100 for s in steps],
            },
            "batch/accuracy": {
                "step": steps,
                "value": [1 - math.exp(-s / per_tag * 3) for s in steps],
                "wall_time": [1e9 + s / 100 for s in steps],
            },
        }
        _api(url, token, "POST", "/sdk/post_logs", {**version, "logs": logs})
    return version


def _timed(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1k and 100k points, one repeat")
    args = parser.parse_args()
    sizes = [1000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        proc, url, token = _start(Path(tmp) / "platform")
        try:
            project = _api(
                url,
                token,
                "POST",
                "/api/v1/create_project",
                {"project_name": "bench", "type": "classification"},
            )
            rows = []
            with chromium(Path(tmp)) as driver:
                driver.set_window_size(1400, 1000)
                driver.get(f"{url}/?token={token}")
                for points in sizes:
                    start = time.perf_counter()
                    version = _version(url, token, project["project_id"], points)
                    fill = time.perf_counter() - start
                    ref = f"{version['network_id']}:{version['training_id']}"
                    session = requests.Session()
                    session.get(f"{url}/?token={token}", timeout=10)
                    page = f"{url}/versions/{version['network_id']}/{version['training_id']}"
                    marks = []
                    for _ in range(1 + repeats):  # the first load is cold, then warm ones
                        driver.get(page)
                        wait_for(driver, f"return {MARK}.length > 0", 60)
                        marks.append(driver.execute_script(f"return {MARK}[0].startTime") / 1000)
                    drawn = driver.execute_script(
                        "return [...document.querySelectorAll('g.series')]"
                        ".map(g => Number(g.dataset.points)).reduce((a, b) => a + b, 0)"
                    )
                    assert drawn == points, (drawn, points)
                    assert console_errors(driver) == []
                    # a width no page asked for: its buckets are not cached yet
                    start = time.perf_counter()
                    body = session.get(f"{url}/ui/series?v={ref}&width=777", timeout=60).content
                    series_cold = time.perf_counter() - start
                    logs_s, logs = _timed(
                        lambda version=version: (
                            requests.get(
                                f"{url}/sdk/get_logs",
                                data=json.dumps(version),
                                timeout=300,
                                headers={"Authorization": f"Bearer {token}"},
                            ).content
                        ),
                        repeats,
                    )
                    rows.append(
                        (
                            points,
                            fill,
                            series_cold,
                            len(body),
                            logs_s,
                            len(logs),
                            marks[0],
                            statistics.median(marks[1:]),
                        )
                    )
        finally:
            proc.terminate()
            proc.wait(10)
    base = rows[0][6]
    print(f"experiment page; warm: median of {repeats}; baseline = {sizes[0]:,} points")
    head = (
        "points",
        "fill s",
        "/ui/series cold ms",
        "KB",
        "get_logs ms",
        "KB",
        "to chart cold ms",
        "x baseline",
        "to chart warm ms",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for points, fill, series_s, series_b, logs_s, logs_b, cold, warm in rows:
        cells = (
            f"{points:,}",
            f"{fill:.1f}",
            f"{series_s * 1000:.0f}",
            f"{series_b / 1024:.0f}",
            f"{logs_s * 1000:.0f}",
            f"{logs_b / 1024:,.0f}",
            f"{cold * 1000:.0f}",
            f"{cold / base:.2f}",
            f"{warm * 1000:.0f}",
        )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
