"""``bench_data.py --scale``: picsellia_tf.data.load at 1,000 / 10,000 / 100,000 images.

The local platform runs in its own process (``python -m picsellia_tf.local``) on a data folder
kept in ``benchmarks/_work/scale`` (gitignored) with one classification project per size
(generated 32x32 JPEGs, uploaded once). Each measure of ``load`` runs in a fresh process:

- cold: an empty cache, ``load()`` (list, download, hash, verify, normalise, build) -> img/s;
  peak RSS growth during it;
- warm: the same cache again: ``load()`` setup seconds, then one epoch (batch 32) img/s; peak
  RSS growth from just before ``load`` to the end of the epoch.

Baseline, in the same run: a plain pool of 8 threads downloading the same signed URLs into
files (``requests``, no checks), timed on the downloads alone.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / "_work" / "scale"
PLATFORM = WORK / "platform"
STATE = WORK / "state.json"
SIDE = 32
BATCH = 32


class Platform:
    """``python -m picsellia_tf.local`` on :data:`PLATFORM`, in its own process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.token = ""

    def __enter__(self) -> Platform:
        PLATFORM.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "picsellia_tf.local", "--data-dir", str(PLATFORM)]
        self.proc = subprocess.Popen(
            [*cmd, "--port", "0"], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while not (self.url and self.token):
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError("the local platform did not start")
            if " at http" in line:
                self.url = line.rsplit(" at ", 1)[1].strip()
            elif line.startswith("token:"):
                self.token = line.split(":", 1)[1].strip()
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def client(self) -> Any:
        from picsellia_tf.client import Client

        return Client(self.token, self.url)


def _state() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def write_images(folder: Path, n: int, seed: int) -> list[tuple[Path, str]]:
    """``n`` 32x32 JPEGs of one coloured square each (its colour is the class), fast."""
    import numpy as np
    from PIL import Image

    from picsellia_tf.data.synthetic import COLOURS

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    out = []
    for i in range(n):
        label = names[i % len(names)]
        pixels = rng.integers(0, 255, size=(SIDE, SIDE, 3), dtype=np.uint8)
        x, y = rng.integers(0, SIDE // 2, size=2)
        pixels[y : y + SIDE // 2, x : x + SIDE // 2] = COLOURS[label]
        path = folder / f"s{seed}_{i:06d}.jpg"
        if not path.exists():
            Image.fromarray(pixels).save(path, quality=85)
        out.append((path, label))
    return out


def ensure_project(client: Any, n: int) -> tuple[str, str]:
    """The project of ``n`` images on the platform (generated and uploaded once)."""
    from picsellia_tf.data.synthetic import COLOURS, create_project
    from picsellia_tf.types import Rectangle, Shape

    state = _state()
    entry = state.get(str(n))
    if entry:
        try:
            client.projects.get(entry["project"])
            return entry["project"], entry["dataset"]
        except Exception:  # noqa: BLE001 -- a stale entry: the data is made again below
            pass
    t = time.monotonic()
    images = write_images(WORK / f"images-{n}", n, seed=n)
    print(f"  {n} images generated in {time.monotonic() - t:.1f} s", flush=True)
    box = Rectangle(left=0, top=0, width=SIDE // 2, height=SIDE // 2)
    shapes = {p.name: [Shape("rectangle", label, rectangle=box)] for p, label in images}
    pid, did = create_project(
        client,
        f"scale-{n}-{int(time.time())}",
        [p for p, _ in images],
        shapes,
        labels=list(COLOURS),
        project_type="classification",
        chunk=2000,
    )
    print(f"  {n} images uploaded in {time.monotonic() - t:.1f} s", flush=True)
    state = _state()
    state[str(n)] = {"project": pid, "dataset": did}
    STATE.write_text(json.dumps(state))
    return pid, did


CHILD = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
from picsellia_tf import data
from picsellia_tf.client import Client

def hwm_kib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

mode, token, url, pid, did, cache = sys.argv[1:7]
client = Client(token, url)
list(tf.data.Dataset.range(64).shuffle(64).map(lambda x: x + 1).batch(32))  # TF's own memory
client.projects.get(pid)
with open("/proc/self/clear_refs", "w") as f:  # VmHWM restarts from the current RSS
    f.write("5")
start = rss_kib()
t = time.perf_counter()
ds, info = data.load(client, pid, did, task="classification", batch_size=BATCH,
                     cache_dir=cache, progress=False)
out = {"load_s": time.perf_counter() - t, "downloaded": info.downloaded, "n": info.num_examples}
if mode == "warm":
    t = time.perf_counter()
    n = sum(int(x.shape[0]) for x, _ in ds)
    out["epoch_s"] = time.perf_counter() - t
    assert n == info.num_examples, (n, info.num_examples)
out["peak_growth_kib"] = hwm_kib() - start
print(json.dumps(out))
""".replace("BATCH", str(BATCH))


def run_child(mode: str, platform: Platform, project: tuple[str, str], cache: Path) -> dict:
    """One measure of ``load`` in a fresh process."""
    cmd = [sys.executable, "-c", CHILD, mode, platform.token, platform.url, *project, str(cache)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=7200, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline(client: Any, dataset_id: str, folder: Path, workers: int = 8) -> float:
    """Seconds for a plain pool of ``workers`` threads to download the dataset's signed URLs
    into files (listed beforehand, not timed)."""
    import requests

    urls = [r.url for r in client.datasets.iter_raw_data(dataset_id, page_size=10_000)]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    local = threading.local()

    def get(job: tuple[int, str]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        i, url = job
        r = session.get(url, timeout=60)
        r.raise_for_status()
        (folder / str(i)).write_bytes(r.content)

    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, enumerate(urls)))
    elapsed = time.perf_counter() - t
    shutil.rmtree(folder, ignore_errors=True)
    return elapsed


def run(sizes: list[int], repeats: int | None = None, warm_only: bool = False) -> int:
    """Measure every size (cold + baseline pairs ``repeats`` times: default 3 up to 10,000
    images, 1 above; none with ``warm_only``, which needs the caches a cold run left); print
    the table; 1 if a floor is missed."""
    rows = []
    with Platform() as platform:
        client = platform.client()
        projects = {n: ensure_project(client, n) for n in sizes}
        for n in sizes:
            cache = WORK / f"cache-{n}"
            colds, bases = [], []
            for _ in range(0 if warm_only else repeats or (3 if n <= 10_000 else 1)):
                shutil.rmtree(cache, ignore_errors=True)
                print(f"{n}: cold ...", flush=True)
                cold = run_child("cold", platform, projects[n], cache)
                assert cold["downloaded"] == n, cold
                colds.append(cold)
                print(f"{n}: baseline ...", flush=True)
                bases.append(baseline(client, projects[n][1], WORK / "baseline"))
            print(f"{n}: warm ...", flush=True)
            warm = run_child("warm", platform, projects[n], cache)
            assert warm["downloaded"] == 0, warm
            row = {
                "n": n,
                "warm_setup": warm["load_s"],
                "epoch_rate": n / warm["epoch_s"],
                "warm_growth": warm["peak_growth_kib"],
            }
            if colds:
                cold_s = statistics.median(c["load_s"] for c in colds)
                row.update({
                    "ratio": statistics.median(
                        b / c["load_s"] for c, b in zip(colds, bases, strict=True)
                    ),
                    "cold_rate": n / cold_s,
                    "base_rate": n / statistics.median(bases),
                    "cold_us": cold_s / n * 1e6,
                    "cold_growth": statistics.median(c["peak_growth_kib"] for c in colds),
                })  # fmt: skip
            rows.append(row)
            print(f"  {rows[-1]}", flush=True)
    return report(rows)


def report(rows: list[dict]) -> int:
    """The table, with the floors checked (the cold ones when cold runs were made)."""
    first, last = rows[0], rows[-1]
    cold = "cold_us" in first
    print()
    if cold:
        print("| images | cold img/s | 8-thread download img/s | cold / download | cold us/img "
              "| warm load() setup s | epoch img/s | peak RSS growth cold / warm MiB |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print("| images | warm load() setup s | epoch img/s | peak RSS growth warm MiB |")
        print("|---:|---:|---:|---:|")
    for r in rows:
        warm = f"| {r['warm_setup']:.2f} | {r['epoch_rate']:.0f} "
        if cold:
            print(
                f"| {r['n']:,} | {r['cold_rate']:.0f} | {r['base_rate']:.0f} "
                f"| {r['ratio']:.2f}x | {r['cold_us']:.0f} {warm}"
                f"| {r['cold_growth'] / 1024:.1f} / {r['warm_growth'] / 1024:.1f} |"
            )
        else:
            print(f"| {r['n']:,} {warm}| {r['warm_growth'] / 1024:.1f} |")
    failed = False

    def floor(name: str, value: float, ok: bool, limit: str) -> None:
        nonlocal failed
        failed |= not ok
        print(f"- {name}: {value:.2f} (floor {limit}) {'ok' if ok else 'MISSED'}")

    print()
    if len(rows) > 1:
        if cold:
            growth = last["cold_us"] / first["cold_us"]
            floor(f"cold time per image, {last['n']:,} vs {first['n']:,}", growth,
                  growth <= 1.3, "<= 1.3x")  # fmt: skip
        extra = last["n"] - first["n"]
        for kind in ("cold", "warm") if cold else ("warm",):
            kib = (last[f"{kind}_growth"] - first[f"{kind}_growth"]) / extra
            floor(f"peak RSS growth per extra image ({kind}), KiB", kib, kib <= 1.0, "<= 1 KiB")
    if cold:
        worst = min(r["ratio"] for r in rows)
        floor("cold throughput / plain download, worst size", worst, worst >= 0.5, ">= 0.5x")
    floor(f"warm load() setup at {last['n']:,} images, s", last["warm_setup"],
          last["warm_setup"] <= 10.0 or last["n"] < 100_000, "<= 10 s at 100,000")  # fmt: skip
    return 1 if failed else 0
