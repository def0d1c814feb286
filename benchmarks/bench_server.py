"""Benchmark the local platform as a server under a training-farm load, waitress vs werkzeug.

The server runs in its own process (``python benchmarks/bench_server.py --serve ...``, on a
fresh data folder). Clients run in other processes: 16 "training runs" each post_logs 100
points per request into their own experiment version, and 4 "data clients" each upload a file
(cycling over 8 names, so most uploads replace a file) and download it again through the signed
URL it got back, checking its checksum. Every request is timed from the client. After
``--seconds`` the clients stop and every acknowledged point is checked to be stored once with
its value.

The baseline, in the same run: the same app under werkzeug's threaded development server (what
served the local platform before). Table: requests/s, p50/p99 latency (all requests, and per
kind), 5xx answers, client errors, points lost; then the ratio waitress / werkzeug.

    .venv/bin/python benchmarks/bench_server.py                 # 20 s per server
    .venv/bin/python benchmarks/bench_server.py --seconds 5     # smoke
    .venv/bin/python benchmarks/bench_server.py --profile       # + where the server's time goes

Floors (issue 9): >= 300 req/s, p99 <= 200 ms, 0 errors, nothing lost.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import multiprocessing
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TOKEN = "bench-token"
LOG_CLIENTS = 16
DATA_CLIENTS = 4
POINTS = 100
FILE_SIZE = 64 * 1024
NAMES = 8
PROCESSES = 4
FLOORS = {"req/s": 300.0, "p99 ms": 200.0}


# -- the server process --------------------------------------------------------------------


class _Profiled:
    """A WSGI app profiled per worker thread (cProfile follows one thread)."""

    def __init__(self, app: Any):
        self.app = app
        self.local = threading.local()
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        profile = getattr(self.local, "profile", None)
        if profile is None:
            profile = self.local.profile = cProfile.Profile()
            with self.lock:
                self.profiles.append(profile)
        profile.enable()
        try:
            return self.app(environ, start_response)
        finally:
            profile.disable()


def serve(args: argparse.Namespace) -> None:
    """Serve ``args.data`` with ``args.serve`` until SIGTERM; print the URL first."""
    from picsellia_tf.local import LocalServer
    from picsellia_tf.local import http_server as waitress_server

    local = LocalServer(args.data, token=TOKEN)
    profiled = _Profiled(local.app) if args.profile else None
    loop_profile = cProfile.Profile() if args.profile else None
    if profiled is not None:
        local.app = profiled  # type: ignore[assignment]
        original_loop = waitress_server.HttpServer._loop

        def loop(self: Any) -> None:
            assert loop_profile is not None
            loop_profile.runcall(original_loop, self)

        waitress_server.HttpServer._loop = loop  # type: ignore[method-assign]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.serve == "waitress":
        local.start()
        url = local.url
    else:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *a: Any) -> None:
                pass

        server = make_server("127.0.0.1", 0, local.app, threaded=True, request_handler=Quiet)
        url = f"http://127.0.0.1:{server.server_port}"
        local._app.public_url = url
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(url, flush=True)
    stop.wait()
    if args.serve == "waitress":
        local.stop()
    if profiled is not None and loop_profile is not None:
        app_stats = pstats.Stats(*profiled.profiles) if profiled.profiles else None
        out = io.StringIO()
        if app_stats is not None:
            app_stats.stream = out  # type: ignore[attr-defined]
            print("== app (worker threads), by own time", file=out)
            app_stats.sort_stats("tottime").print_stats(18)
            print("== app, cumulative", file=out)
            app_stats.sort_stats("cumulative").print_stats(22)
        if args.serve == "waitress":
            loop_stats = pstats.Stats(loop_profile, stream=out)
            print("== waitress I/O loop thread, by own time", file=out)
            loop_stats.sort_stats("tottime").print_stats(12)
        Path(args.profile).write_text(out.getvalue())


# -- the clients ---------------------------------------------------------------------------

Record = tuple[str, float, int, str, int]  # kind, latency (s), status (-1 error), tag, step


def value_of(tag: str, step: int) -> float:
    """The value a client sends for (tag, step): any deterministic function will do."""
    return (step * 7919 + sum(map(ord, tag)) * 31) % 100_003 / 7.0


def log_client(url: str, version: dict, tag: str, deadline: float, out: list[Record]) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    step = 0
    while time.time() < deadline:
        steps = list(range(step, step + POINTS))
        body = {**version, "logs": {tag: {"step": steps, "value": [value_of(tag, s) for s in steps],
                                          "wall_time": [time.time()] * POINTS}}}  # fmt: skip
        started = time.perf_counter()
        try:
            status = session.post(f"{url}/sdk/post_logs", json=body, timeout=60).status_code
        except requests.RequestException:
            status = -1
        out.append(("post_logs", time.perf_counter() - started, status, tag, step))
        step += POINTS


def data_client(url: str, dataset: str, worker: int, deadline: float, out: list[Record]) -> None:
    import requests

    session = requests.Session()
    i = 0
    while time.time() < deadline:
        files = [("files", (f"c{worker}-{i % NAMES}.bin", os.urandom(FILE_SIZE)))]
        started = time.perf_counter()
        try:
            response = session.post(
                f"{url}/api/v1/raw_data/{dataset}", files=files, timeout=60,
                headers={"Authorization": f"Bearer {TOKEN}"},
            )  # fmt: skip
            status = response.status_code
        except requests.RequestException:
            status = -1
        out.append(("upload", time.perf_counter() - started, status, "", 0))
        if status == 200:
            item = response.json()["0"]
            started = time.perf_counter()
            try:
                got = session.get(item["url"], timeout=60)
                status = got.status_code
                if status == 200 and hashlib.sha256(got.content).hexdigest() != item["checksum"]:
                    status = -2  # wrong bytes: counted as an error
            except requests.RequestException:
                status = -1
            out.append(("download", time.perf_counter() - started, status, "", 0))
        i += 1


def client_process(job: dict) -> list[Record]:
    """This process's share of the clients, run until the deadline: their timed requests."""
    out: list[Record] = []
    threads = [
        threading.Thread(target=log_client, args=(job["url"], v, t, job["deadline"], out))
        for v, t in job["logs"]
    ] + [
        threading.Thread(target=data_client, args=(job["url"], job["dataset"], w,
                                                   job["deadline"], out))
        for w in job["data"]
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def run_one(server: str, seconds: float, profile: str | None) -> dict[str, Any]:
    """One server under the load, in its own process on a fresh data folder: its figures."""
    import requests

    data = Path(tempfile.mkdtemp(prefix=f"bench-server-{server}-"))
    command = [sys.executable, __file__, "--serve", server, "--data", str(data)]
    if profile:
        command += ["--profile", profile]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        headers = {"Authorization": f"Bearer {TOKEN}"}

        def call(method: str, path: str, body: Any) -> Any:
            response = requests.request(method, url + path, json=body, headers=headers, timeout=60)
            assert response.ok, response.text
            return response.json()

        dataset = call("POST", "/api/v1/create_dataset", {"dataset_name": "bench"})["dataset_id"]
        project = call("POST", "/api/v1/create_project",
                       {"project_name": "bench", "type": "classification",
                        "dataset_name": "bench"})["project_id"]  # fmt: skip
        versions = []
        for i in range(LOG_CLIENTS):
            v = call("POST", "/sdk/init_model", {"project_id": project, "model_name": f"run{i}"})
            versions.append(({"training_id": v["training_id"], "network_id": v["network_id"]},
                             f"loss/{i}"))  # fmt: skip
        start = time.time() + 1.0  # the client processes' start-up is not measured
        jobs = [{"url": url, "dataset": dataset, "deadline": start + seconds,
                 "logs": versions[p::PROCESSES], "data": list(range(DATA_CLIENTS))[p::PROCESSES]}
                for p in range(PROCESSES)]  # fmt: skip
        with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
            records = [r for result in pool.map(client_process, jobs) for r in result]
        elapsed = time.time() - start
        # every acknowledged post's points stored once, with their values
        lost = duplicates = acked_points = 0
        for version, tag in versions:
            series = call("GET", "/sdk/get_logs", version)["logs"].get(tag, {})
            steps = series.get("step", [])
            duplicates += len(steps) - len(set(steps))
            stored = dict(zip(steps, series.get("value", []), strict=True))
            for kind, _, status, record_tag, first in records:
                if kind == "post_logs" and record_tag == tag and 200 <= status < 300:
                    for step in range(first, first + POINTS):
                        acked_points += 1
                        if stored.get(step) != value_of(tag, step):
                            lost += 1
        return summarise(server, records, elapsed, lost + duplicates, acked_points)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def summarise(
    server: str, records: list[Record], elapsed: float, lost: int, acked_points: int
) -> dict[str, Any]:
    """The table row of one run."""

    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    latencies = [r[1] for r in records]
    row: dict[str, Any] = {
        "server": server,
        "requests": len(records),
        "req/s": len(records) / elapsed,
        "p50 ms": pct(latencies, 0.50),
        "p99 ms": pct(latencies, 0.99),
        "5xx": sum(1 for r in records if r[2] >= 500),
        "errors": sum(1 for r in records if r[2] < 0 or 400 <= r[2] < 500),
        "points": acked_points,
        "lost": lost,
    }
    for kind in ("post_logs", "upload", "download"):
        mine = [r[1] for r in records if r[0] == kind]
        row[f"{kind} n"] = len(mine)
        row[f"{kind} p50/p99"] = f"{pct(mine, 0.5):.0f}/{pct(mine, 0.99):.0f}"
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--servers", default="waitress,werkzeug")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="bench_server.profile.txt",
        default=None,
        help="profile the waitress server; write the profile to this file",
    )
    parser.add_argument("--serve", choices=("waitress", "werkzeug"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return 0
    print(f"load: {LOG_CLIENTS} clients posting {POINTS}-point post_logs + {DATA_CLIENTS} "
          f"uploading/downloading {FILE_SIZE // 1024} KiB files, {args.seconds:g} s; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    rows = []
    for server in args.servers.split(","):
        profile = args.profile if server == "waitress" else None
        rows.append(run_one(server, args.seconds, profile))
    columns = ["server", "requests", "req/s", "p50 ms", "p99 ms", "5xx", "errors", "points",
               "lost", "post_logs p50/p99", "upload p50/p99", "download p50/p99"]  # fmt: skip
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c])
                         for c in columns))  # fmt: skip
    if len(rows) == 2:
        a, b = rows
        print(
            f"ratio {a['server']}/{b['server']}: req/s x{a['req/s'] / b['req/s']:.2f}, "
            f"p50 x{a['p50 ms'] / b['p50 ms']:.2f}, p99 x{a['p99 ms'] / b['p99 ms']:.2f}"
        )
    first = rows[0]
    met = (first["req/s"] >= FLOORS["req/s"] and first["p99 ms"] <= FLOORS["p99 ms"]
           and first["5xx"] == 0 and first["errors"] == 0 and first["lost"] == 0)  # fmt: skip
    print(
        f"floors (>= 300 req/s, p99 <= 200 ms, 0 errors, nothing lost) for {first['server']}: "
        f"{'met' if met else 'NOT met'}; load average at end {os.getloadavg()[0]:.1f}"
    )
    if args.profile:
        print(f"profile: {args.profile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
