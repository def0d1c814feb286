"""Benchmark: reading a large TF2 scalar log with picsellia_tf.tfevents vs tbparse and
TensorBoard's EventAccumulator.

    .venv/bin/python benchmarks/bench_tfevents.py              # 1,000,000 events (5 tags)
    .venv/bin/python benchmarks/bench_tfevents.py --events 100000 --readers ours,ea
    .venv/bin/python benchmarks/bench_tfevents.py --verify     # generator == tf.summary.scalar

Each reader runs in its own subprocess, which reports the time of the read itself (imports
excluded) and its peak RSS (``ru_maxrss``), plus the RSS before reading. Ratios are vs ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

READERS = {
    "ours": "picsellia_tf.tfevents.read_logs -> LOGS dict",
    "ours-stream": "picsellia_tf.tfevents.iter_scalars, counted",
    "tbparse": "tbparse SummaryReader(pivot=False).tensors",
    "ea": "tensorboard EventAccumulator(size_guidance 0).Reload()",
    "rustboard": "TensorBoard's Rust data server, --checksum, its own load-cycle time",
}
FLOORS = {"tbparse": 8.0, "ea": 4.0}  # ours must be this many times faster
MEMORY_FLOOR = 10.0  # and use this many times less peak memory


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    ``VmHWM`` is per address space, so unlike ``ru_maxrss`` it does not carry the parent's
    peak over ``fork``/``exec``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(reader: str, logdir: str) -> None:
    """Run one reader in this process and print a JSON line with its figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if reader in ("ours", "ours-stream"):
        from picsellia_tf.tfevents import CRC32C_BACKEND, iter_scalars, read_logs

        note = f"crc32c: {CRC32C_BACKEND}"
        base = _rss_mb()
        t0 = time.perf_counter()
        if reader == "ours":
            logs = read_logs(logdir)
            n = sum(len(s["step"]) for s in logs.values())
        else:
            n = sum(1 for _ in iter_scalars(logdir))
    elif reader == "tbparse":
        from tbparse import SummaryReader

        note = ""
        base = _rss_mb()
        t0 = time.perf_counter()
        frame = SummaryReader(logdir, pivot=False).tensors
        n = len(frame)
    elif reader == "ea":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        note = ""
        base = _rss_mb()
        t0 = time.perf_counter()
        acc = EventAccumulator(logdir, size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        tags = acc.Tags()
        n = sum(len(acc.Scalars(t)) for t in tags["scalars"])
        n += sum(len(acc.Tensors(t)) for t in tags["tensors"])
    elif reader == "rustboard":
        n, seconds, peak = _rustboard(logdir)
        print(
            json.dumps(
                {
                    "events": n,
                    "seconds": seconds,
                    "rss_base_mb": 0.0,
                    "rss_peak_mb": peak,
                    "note": "server process",
                }
            )
        )
        return
    else:
        raise SystemExit(f"unknown reader {reader!r}")
    seconds = time.perf_counter() - t0
    tf_loaded = "tensorflow" in sys.modules
    print(
        json.dumps(
            {
                "events": n,
                "seconds": seconds,
                "rss_base_mb": base,
                "rss_peak_mb": _rss_mb(),
                "note": (note + (" (imported TensorFlow)" if tf_loaded else "")).strip(),
            }
        )
    )


def _rustboard(logdir: str) -> tuple[int, float, float]:
    """Load ``logdir`` once in TensorBoard's Rust data server; count the points it serves."""
    import re

    import grpc
    import tensorboard_data_server
    from tensorboard.data.proto import data_provider_pb2 as pb
    from tensorboard.data.proto import data_provider_pb2_grpc as pb_grpc

    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        args = [tensorboard_data_server.server_binary(), "--logdir", logdir, "--port", "0"]
        args += ["--port-file", str(port_file), "--reload", "once", "--checksum", "-v"]
        args += ["--samples-per-plugin", "scalars=all", "--die-after-stdin"]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            seconds = float("nan")
            for line in proc.stderr:
                found = re.search(r"Finished load cycle \(([\d.]+)(ms|s)\)", line)
                if found:
                    seconds = float(found[1]) / (1000 if found[2] == "ms" else 1)
                    break
            port = int(port_file.read_text())
            channel = grpc.insecure_channel(
                f"localhost:{port}", options=[("grpc.max_receive_message_length", -1)]
            )
            stub = pb_grpc.TensorBoardDataProviderStub(channel)
            request = pb.ReadScalarsRequest(
                plugin_filter=pb.PluginFilter(plugin_name="scalars"),
                downsample=pb.Downsample(num_points=10**9),
            )
            response = stub.ReadScalars(request)
            n = sum(len(t.data.step) for run in response.runs for t in run.tags)
            with open(f"/proc/{proc.pid}/status") as f:
                peak = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:")) / 1024
            channel.close()
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)
    return n, seconds, peak


def run_child(reader: str, logdir: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", reader, str(logdir)],
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def ensure_log(directory: Path, n_events: int) -> Path:
    from _gen_events import write_scalar_log

    logdir = directory / f"scalars_{n_events}"
    marker = logdir / "COMPLETE"
    if not marker.exists():
        t0 = time.perf_counter()
        path = logdir / "events.out.tfevents.1700000000.bench.1.0.v2"
        write_scalar_log(path, n_events)
        marker.write_text("ok")
        size = path.stat().st_size / 1e6
        print(f"generated {n_events:,} events ({size:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return logdir


def verify(directory: Path, n_steps: int = 40) -> bool:
    """Check the generator against TensorFlow: same payload bytes as tf.summary.scalar (but
    for wall_time) with metadata on every event, and the same points read by tbparse."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import struct

    import tensorflow as tf
    from _gen_events import scalar_points, write_scalar_log
    from tbparse import SummaryReader

    n = 5 * n_steps
    tf_dir = directory / "verify_tf"
    writer = tf.summary.create_file_writer(str(tf_dir))
    with writer.as_default():
        for tag, step, value in scalar_points(n):
            tf.summary.scalar(tag, value, step=step)
    writer.close()
    (tf_file,) = [p for p in tf_dir.iterdir() if "tfevents" in p.name]
    ours_every = write_scalar_log(directory / "verify_every" / tf_file.name, n, metadata="every")
    ours_first = write_scalar_log(directory / "verify_first" / tf_file.name, n, metadata="first")

    def payloads(path: Path) -> list[bytes]:
        data, pos, out = path.read_bytes(), 0, []
        while pos < len(data):
            (size,) = struct.unpack_from("<Q", data, pos)
            p = bytearray(data[pos + 12 : pos + 12 + size])
            if p[:1] == b"\x09":
                p[1:9] = bytes(8)  # wall_time differs by nature
            out.append(bytes(p))
            pos += 16 + size
        return out

    same_bytes = payloads(tf_file) == payloads(ours_every)

    def points(d: Path) -> list[tuple[str, int, float]]:
        frame = SummaryReader(str(d), pivot=False).tensors
        columns = (frame["tag"], frame["step"].astype(int), frame["value"].astype(float))
        return sorted(zip(*columns, strict=True))

    reference = points(tf_dir)
    same_points = len(reference) == n and all(
        points(d) == reference for d in (ours_every.parent, ours_first.parent)
    )
    print(f"verify: payloads identical to tf.summary.scalar (wall_time aside): {same_bytes}")
    print(f"verify: tbparse reads the same {n} points from both generator modes: {same_points}")
    return same_bytes and same_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate")
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated")
    parser.add_argument("--dir", type=Path, help="where logs go (kept and reused)")
    parser.add_argument("--verify", action="store_true", help="check the generator with TF")
    parser.add_argument("--child", nargs=2, metavar=("READER", "LOGDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench_tfevents_") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        if args.verify:
            sys.exit(0 if verify(directory) else 1)
        logdir = ensure_log(directory, args.events)
        readers = [r.strip() for r in args.readers.split(",") if r.strip()]
        if "ours" not in readers:
            readers.insert(0, "ours")
        results = {r: run_child(r, logdir) for r in readers}
    report(args.events, results)


def report(n_events: int, results: dict[str, dict[str, object]]) -> None:
    ours = results["ours"]
    print(f"\nReading {n_events:,} TF2 scalar events (5 tags), one subprocess per reader\n")
    header = (
        f"{'reader':<12} {'events':>9} {'seconds':>8} {'events/s':>10} {'ours x faster':>13} "
        f"{'peak RSS MB':>11} {'read RSS MB':>11} {'ours x less':>11}  notes"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<12} error: {r['error']}")
            continue
        secs = float(r["seconds"])  # type: ignore[arg-type]
        rate = int(r["events"]) / secs  # type: ignore[call-overload]
        speed = secs / float(ours["seconds"])  # type: ignore[arg-type]
        peak = float(r["rss_peak_mb"])  # type: ignore[arg-type]
        grown = peak - float(r["rss_base_mb"])  # type: ignore[arg-type]
        mem = peak / float(ours["rss_peak_mb"])  # type: ignore[arg-type]
        ok_count = "" if r["events"] == n_events else f" COUNT MISMATCH ({r['events']})"
        print(
            f"{name:<12} {r['events']:>9,} {secs:>8.2f} {rate:>10,.0f} {speed:>12.1f}x "
            f"{peak:>11.0f} {grown:>11.0f} {mem:>10.1f}x  {r['note']}{ok_count}"
        )
        if name in FLOORS:
            verdicts.append(
                f"vs {name}: {speed:.1f}x faster (floor {FLOORS[name]:.0f}x) "
                f"{'PASS' if speed >= FLOORS[name] else 'FAIL'}; "
                f"{mem:.1f}x less peak memory (floor {MEMORY_FLOOR:.0f}x) "
                f"{'PASS' if mem >= MEMORY_FLOOR else 'FAIL'}"
            )
    print()
    for line in verdicts:
        print(line)
    print("readers: " + "; ".join(f"{k} = {v}" for k, v in READERS.items() if k in results))


if __name__ == "__main__":
    main()
