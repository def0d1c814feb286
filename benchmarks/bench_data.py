"""Benchmark picsellia_tf.data.load against baselines measured in the same run.

1. Warm cache: images/s of ``load(...)`` + one epoch over N generated 640x480 JPEGs resized
   (pad) to 224x224, batch 32, vs a hand-written tf.data pipeline over the same files with the
   same decode + resize (``tf.image.resize_with_pad``) + batch + prefetch, built + one epoch.
   Also the epochs alone. Runs alternate; the table gives medians of img/s and the median of
   the ratios of neighbouring runs (the machine is shared: pairing cancels slow drifts).
2. Cold cache: images/s of ``load(...)`` (download, verify, normalise) with the default
   ``download_workers`` vs ``download_workers=1``, same local server, with
   ``server.faults.latency`` added to every storage request to model a real network.
3. Memory: peak RSS growth while loading + iterating a warm dataset of M vs N images, each in
   fresh subprocesses (growth measured from just before ``load``), as KiB per extra image.

Images are generated once into ``benchmarks/_work`` (gitignored), with a local platform there.

    .venv/bin/python benchmarks/bench_data.py            # full: 2000 / 500 images
    .venv/bin/python benchmarks/bench_data.py --quick    # smoke: 300 / 100 images

``--scale`` measures instead how the cost grows with the dataset, from 1,000 to 100,000 small
images on a platform in its own process (see ``benchmarks/_scale.py``):

    .venv/bin/python benchmarks/bench_data.py --scale                 # 1,000 / 10,000 / 100,000
    .venv/bin/python benchmarks/bench_data.py --scale --sizes 1000,10000
    .venv/bin/python benchmarks/bench_data.py --scale --warm-only    # caches of a cold run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WORK = Path(__file__).resolve().parent / "_work"
SIZE = 224
BATCH = 32
MEMORY_FLOOR_KIB = 32
"""Growth allowed per extra image: metadata, not pixels (one decoded 224x224 output image is
147 KiB, one decoded 640x480 source 900 KiB; Python metadata is ~2 KiB, the rest allocator
noise on a shared machine)."""


def rss_mib() -> float:
    """This process's resident set size, MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_project(n: int, tag: str) -> tuple[str, str, list[Path]]:
    """N 640x480 JPEGs on the local platform in _work (generated and uploaded once)."""
    from picsellia_tf.data.synthetic import make_images, upload_project
    from picsellia_tf.local_platform import LocalPlatform

    state_file = WORK / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    key = f"{tag}-{n}"
    folder = WORK / f"images-{n}"
    with LocalPlatform(WORK / "platform") as local:
        entry = state.get(key)
        if entry:
            try:
                local.client.projects.get(entry["project"])
                return entry["project"], entry["dataset"], sorted(folder.glob("*.jpg"))
            except Exception:  # noqa: BLE001 -- a stale entry: the data is made again
                pass
        shutil.rmtree(folder, ignore_errors=True)
        t = time.monotonic()
        images = make_images(folder, n, width=640, height=480, seed=n)
        pid, did = upload_project(local.client, images, f"bench-{key}-{int(time.time())}")
        print(f"  generated and uploaded {n} images in {time.monotonic() - t:.1f} s", flush=True)
    state[key] = {"project": pid, "dataset": did}
    state_file.write_text(json.dumps(state))
    return pid, did, sorted(folder.glob("*.jpg"))


def baseline_dataset(paths: list[Path]):
    """The hand-written pipeline: same files, decode + resize_with_pad + uint8, batch, prefetch."""
    import tensorflow as tf

    labels = [i % 3 for i in range(len(paths))]

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize_with_pad(image, SIZE, SIZE)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

    ds = tf.data.Dataset.from_tensor_slices(([str(p) for p in paths], labels))
    ds = ds.shuffle(len(paths), seed=0).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(BATCH).prefetch(tf.data.AUTOTUNE)


def epoch(ds) -> int:
    n = 0
    for images, _ in ds:
        n += int(images.shape[0])
    return n


def bench_warm(client, pid: str, did: str, paths: list[Path], cache: Path, repeats: int):
    from picsellia_tf import data

    def ours():
        t = time.perf_counter()
        ds, info = data.load(
            client, pid, did, task="classification", image_size=SIZE, batch_size=BATCH,
            cache_dir=cache, progress=False,
        )  # fmt: skip
        t_load = time.perf_counter() - t
        assert info.downloaded == 0, "cache not warm"
        t2 = time.perf_counter()
        n = epoch(ds)
        return n, time.perf_counter() - t, time.perf_counter() - t2, t_load

    def base():
        t = time.perf_counter()
        ds = baseline_dataset(paths)
        t2 = time.perf_counter()
        n = epoch(ds)
        return n, time.perf_counter() - t, time.perf_counter() - t2

    ours()  # warm-up: TF runtime, page cache
    base()
    runs: dict[str, list[float]] = {"ours": [], "ours_epoch": [], "base": [], "base_epoch": []}
    ratios: dict[str, list[float]] = {"total": [], "epoch": []}
    loads = []
    for _ in range(repeats):  # alternate; pair each run with its neighbour in time
        n, total, pipe, t_load = ours()
        runs["ours"].append(n / total)
        runs["ours_epoch"].append(n / pipe)
        loads.append(t_load)
        n, total, pipe = base()
        runs["base"].append(n / total)
        runs["base_epoch"].append(n / pipe)
        ratios["total"].append(runs["ours"][-1] / runs["base"][-1])
        ratios["epoch"].append(runs["ours_epoch"][-1] / runs["base_epoch"][-1])
    med = {k: statistics.median(v) for k, v in runs.items()}
    return med, {k: statistics.median(v) for k, v in ratios.items()}, statistics.median(loads)


def bench_cold(local, pid: str, did: str, n: int, latency: float):
    from picsellia_tf import data

    rates = {}
    local.server.faults.paths = ("/storage",)
    local.server.faults.latency = latency
    try:
        for workers in (8, 1):
            cache = WORK / f"cold-cache-{workers}"
            shutil.rmtree(cache, ignore_errors=True)
            t = time.perf_counter()
            _, info = data.load(
                local.client, pid, did, task="classification", image_size=SIZE,
                batch_size=BATCH, cache_dir=cache, download_workers=workers, progress=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - t
            assert info.downloaded == n, info.downloaded
            rates[workers] = n / elapsed
            shutil.rmtree(cache, ignore_errors=True)
    finally:
        local.server.faults.reset()
    return rates[8], rates[1]


MEMORY_CHILD = r"""
import os, sys, threading, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {bench_dir!r})
import bench_data as b
import tensorflow as tf
from picsellia_tf import data
from picsellia_tf.local_platform import LocalPlatform
with LocalPlatform({platform!r}) as local:
    warm = {warm!r}
    ds, _ = data.load(local.client, warm[0], warm[1], task="classification", image_size=224,
                      batch_size=32, cache_dir={cache!r}, progress=False)
    b.epoch(ds)  # the TF runtime's own memory, before measuring
    del ds
    start = b.rss_mib()
    peak = [start]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], b.rss_mib())
            time.sleep(0.01)
    threading.Thread(target=sample, daemon=True).start()
    ds, info = data.load(local.client, {pid!r}, {did!r}, task="classification", image_size=224,
                         batch_size=32, cache_dir={cache!r}, progress=False)
    assert info.downloaded == 0
    b.epoch(ds)
    done.set()
    print(peak[0] - start)
"""


def bench_memory(project: tuple[str, str], warm: tuple[str, str], cache: Path) -> float:
    code = MEMORY_CHILD.format(
        bench_dir=str(Path(__file__).resolve().parent),
        platform=str(WORK / "platform"),
        warm=warm,
        pid=project[0],
        did=project[1],
        cache=str(cache),
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--small", type=int, default=500, help="the smaller dataset")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per storage GET")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="300 / 100 images, 1 repeat")
    parser.add_argument("--scale", action="store_true", help="cost per image, 1k to 100k images")
    parser.add_argument("--sizes", default="1000,10000,100000", help="with --scale")
    parser.add_argument(
        "--warm-only",
        action="store_true",
        help="with --scale: only the warm measures, on the caches a cold run left",
    )
    args = parser.parse_args()
    if args.scale:
        import _scale

        sizes = [300, 1000] if args.quick else [int(x) for x in args.sizes.split(",")]
        return _scale.run(sorted(sizes), warm_only=args.warm_only)
    if args.quick:
        args.images, args.small, args.repeats = 300, 100, 1
    WORK.mkdir(parents=True, exist_ok=True)

    from picsellia_tf import data
    from picsellia_tf.local_platform import LocalPlatform

    print(f"preparing {args.images} + {args.small} images in {WORK} ...", flush=True)
    big = ensure_project(args.images, "big")
    small = ensure_project(args.small, "small")
    cache = WORK / "cache"
    rows = []
    with LocalPlatform(WORK / "platform") as local:
        client = local.client
        t = time.perf_counter()
        _, info = data.load(
            client, big[0], big[1], task="classification", cache_dir=cache, progress=False
        )
        print(f"  warm cache filled ({info.downloaded} downloads) in "
              f"{time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
        data.load(client, small[0], small[1], task="classification", cache_dir=cache,
                  progress=False)  # fmt: skip

        print("warm cache ...", flush=True)
        med, ratio, load_s = bench_warm(client, big[0], big[1], big[2], cache, args.repeats)
        label = f"warm: {args.images} 640x480 JPEG -> {SIZE} pad, batch {BATCH}"
        rows.append((
            f"{label}, load()+epoch vs build+epoch (img/s)",
            med["ours"], med["base"], ratio["total"], 0.9,
        ))  # fmt: skip
        rows.append((
            f"{label}, epoch only (img/s)", med["ours_epoch"], med["base_epoch"], ratio["epoch"], 0.9
        ))  # fmt: skip

        print("cold cache ...", flush=True)
        par, seq = bench_cold(local, small[0], small[1], args.small, args.latency)
        rows.append((
            f"cold: {args.small} images, +{args.latency * 1000:.0f} ms/storage GET, "
            "8 workers vs 1 (img/s)", par, seq, par / seq, 4.0,
        ))  # fmt: skip

    print("memory ...", flush=True)
    # two fresh processes per size, the smaller growth of each (allocator noise is one-sided)
    grow_big = min(bench_memory(big[:2], small[:2], cache) for _ in range(2))
    grow_small = min(bench_memory(small[:2], big[:2], cache) for _ in range(2))
    per_image_kib = (grow_big - grow_small) * 1024 / (args.images - args.small)

    print()
    print(f"load() setup on a warm cache ({args.images} images): {load_s * 1000:.0f} ms")
    print("| measure | picsellia_tf | baseline | ratio | floor |")
    print("|---|---:|---:|---:|---|")
    failed = False
    for name, a, b, ratio, floor in rows:
        verdict = f">= {floor}x" + (" ok" if ratio >= floor else " MISSED")
        failed |= ratio < floor
        print(f"| {name} | {a:.1f} | {b:.1f} | {ratio:.2f}x | {verdict} |")
    ok = per_image_kib < MEMORY_FLOOR_KIB
    failed |= not ok
    print(
        f"| memory: peak RSS growth (MiB), {args.images} images vs {args.small} | "
        f"{grow_big:.1f} | {grow_small:.1f} | {per_image_kib:.1f} KiB per extra image | "
        f"< {MEMORY_FLOOR_KIB} KiB/image {'ok' if ok else 'MISSED'} |"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
