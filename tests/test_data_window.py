"""Cold loads at size: a bounded window of downloads, Ctrl-C that stops at once and resumes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image

from picsellia_tf import data
from picsellia_tf.data import cache
from picsellia_tf.data.synthetic import make_images, upload_project


def _items(folder, n):
    items = []
    folder.mkdir()
    for i in range(n):
        path = folder / f"f{i}.png"
        Image.fromarray(np.full((3, 4, 3), i % 256, np.uint8)).save(path)
        items.append(cache.Item(cache.cache_key(str(path), None), str(path), None, path.name))
    return items


def test_fetch_reads_items_lazily_and_keeps_a_bounded_window(tmp_path):
    items = _items(tmp_path / "src", 120)
    taken = 0
    running = peak = 0
    lock = threading.Lock()

    def source():
        nonlocal taken
        for item in items:
            taken += 1
            yield item

    def download(url, dest, item):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        shutil.copyfile(url, dest)
        with lock:
            running -= 1

    store = cache.ImageCache(tmp_path / "cache")
    ahead = []
    outcomes = []
    for outcome in store.fetch(source(), download, workers=3, window=7):
        outcomes.append(outcome)
        ahead.append(taken - len(outcomes))
    assert max(ahead) <= 7  # never more than the window taken and not answered
    assert peak <= 3
    assert sorted(o.item.name for o in outcomes) == sorted(i.name for i in items)
    assert all(o.error is None and o.downloaded for o in outcomes)

    # Warm: answered from the cache, one by one as the items come, no thread.
    again = store.fetch(iter(items), download, workers=3, window=7)
    first = next(again)
    assert first.item == items[0] and not first.downloaded
    assert sum(1 for _ in again) == 119


def test_closing_fetch_early_starts_nothing_more(tmp_path):
    items = _items(tmp_path / "src", 50)
    calls = []

    def download(url, dest, item):
        calls.append(url)
        time.sleep(0.01)
        shutil.copyfile(url, dest)

    outcomes = cache.ImageCache(tmp_path / "cache").fetch(items, download, workers=2, window=4)
    next(outcomes)
    outcomes.close()
    time.sleep(0.2)
    # one answered + the window of 4: a worker may start an item it took just before the close
    assert len(calls) <= 5


def test_an_error_of_the_cache_itself_reaches_the_caller(tmp_path):
    items = _items(tmp_path / "src", 5)

    def download(url, dest, item):
        raise SystemExit("boom")  # not a failure of one file: it must not be swallowed

    try:
        list(cache.ImageCache(tmp_path / "cache").fetch(items, download, workers=2))
    except SystemExit as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the worker's exception was lost")


CHILD = r"""
import sys
from picsellia_tf import data
from picsellia_tf.client import Client
client = Client(sys.argv[1], sys.argv[2])
data.load(client, sys.argv[3], sys.argv[4], task="detection", cache_dir=sys.argv[5],
          progress=False, download_workers=4)
print("finished")
"""


def test_ctrl_c_stops_within_two_seconds_and_the_next_load_resumes(platform, tmp_path):
    n = 60
    images = make_images(tmp_path / "imgs", n, width=16, height=16, fmt="png", seed=9)
    pid, did = upload_project(platform.client, images, "interrupt")
    cache_dir = tmp_path / "cache"
    faults = platform.server.faults
    faults.paths = ("/storage",)
    faults.latency = 0.05
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, platform.token, platform.host, pid, did, str(cache_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list((cache_dir / "meta").rglob("*.json"))) < 10:
            assert time.monotonic() < deadline and child.poll() is None, child.communicate()
            time.sleep(0.02)
        faults.latency = 5.0  # every download from now on hangs well past the 2 s
        time.sleep(0.3)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
        faults.reset()  # the server's hanging downloads end now, not in the fixture's stop
    assert stopped < 2.0, err
    assert child.returncode != 0 and "finished" not in out
    line = err.strip().splitlines()[-1]
    assert line.startswith("KeyboardInterrupt: picsellia_tf.data: interrupted: "), err
    # images are fetched as they are listed: the count is of those listed when it stopped
    said = re.search(r"interrupted: (\d+) of (?:(\d+) images|the (\d+) images listed so far) "
                     r"are in the cache (\S+);", line)  # fmt: skip
    assert said, line
    cached, listed = int(said[1]), int(said[2] or said[3])
    assert said[4] == str(cache_dir) and cached <= listed <= n
    assert "load() again resumes" in line
    assert 10 <= cached < n

    faults.reset()
    _, info = data.load(
        platform.client, pid, did, task="detection", cache_dir=cache_dir, progress=False
    )
    assert info.num_examples == n and not info.skipped
    # what was cached is not fetched again (an outcome finished but not yet counted when
    # Ctrl-C came is at most one per worker)
    assert n - cached - 4 <= info.downloaded <= n - cached
    assert not [p for p in cache_dir.rglob("*") if p.name.endswith(".tmp") and os.path.isfile(p)]
