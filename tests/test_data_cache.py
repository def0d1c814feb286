"""The image cache behind data.load: warm loads download nothing, changed images are fetched."""

from __future__ import annotations

import gc
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from picsellia_tf import data
from picsellia_tf.data import cache, manifest
from picsellia_tf.data.gcpause import GcPause
from picsellia_tf.data.progress import Progress
from picsellia_tf.data.synthetic import SyntheticImage, make_images, upload_project
from picsellia_tf.types import ImageAnnotation, RawData


def copy(url, dest, item):
    """A cache download that copies a local file (``url`` is its path)."""
    shutil.copyfile(url, dest)


@pytest.fixture
def small_project(platform, tmp_path):
    images = make_images(tmp_path / "imgs", 6, width=32, height=24, fmt="png", seed=3)
    pid, did = upload_project(platform.client, images, "cache-test")
    return platform, pid, did, images


def _load(platform, pid, did, cache, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("shuffle", False)
    return data.load(platform.client, pid, did, task="detection", cache_dir=cache, **kw)


def test_warm_load_downloads_nothing(small_project, tmp_path):
    platform, pid, did, images = small_project
    cache = tmp_path / "cache"
    ds, info = _load(platform, pid, did, cache)
    assert info.downloaded == 6 and info.num_examples == 6
    first = [e[0].numpy() for e in ds]

    # Every storage request now fails: a warm load must not need one.
    platform.server.faults.paths = ("/storage",)
    platform.server.faults.error_status = 404
    platform.server.faults.error_rate = 1.0
    ds, info = _load(platform, pid, did, cache)
    assert info.downloaded == 0 and info.num_examples == 6 and not info.skipped
    for a, b in zip(first, (e[0].numpy() for e in ds), strict=True):
        np.testing.assert_array_equal(a, b)

    # A cold cache under the same faults: every image is reported, none loads.
    ds, info = _load(platform, pid, did, tmp_path / "cold", on_error="ignore")
    assert info.num_examples == 0
    assert len(info.skipped) == 6 and all("download failed" in s.reason for s in info.skipped)
    with pytest.raises(data.DataError, match="download failed"):
        _load(platform, pid, did, tmp_path / "cold2", on_error="raise")


def test_changed_image_is_fetched_again(small_project, tmp_path):
    platform, pid, did, images = small_project
    cache = tmp_path / "cache"
    _, info = _load(platform, pid, did, cache)
    assert info.downloaded == 6

    # Re-upload one file under the same name with other pixels: same id, new checksum.
    changed = images[2].path
    Image.fromarray(np.full((24, 32, 3), 7, np.uint8)).save(changed)
    platform.client.datasets.upload(did, [changed])
    ds, info = _load(platform, pid, did, cache)
    assert info.downloaded == 1
    third = list(ds)[2][0].numpy()
    assert (third == 7).all()


def test_cache_layout_is_content_addressed(small_project, tmp_path):
    platform, pid, did, images = small_project
    cache = tmp_path / "cache"
    _load(platform, pid, did, cache)
    raw = platform.client.datasets.iter_raw_data(did)
    keys = {f"sha256-{r.checksum}" for r in raw}
    stored = {p.name for p in (cache / "raw").rglob("*") if p.is_file()}
    assert stored == keys
    assert not list(cache.rglob("*.tmp"))


def test_default_cache_dir_from_environment(small_project, tmp_path, monkeypatch):
    platform, pid, did, _ = small_project
    monkeypatch.setenv("PICSELLIA_CACHE_DIR", str(tmp_path / "envcache"))
    _, info = data.load(platform.client, pid, did, task="detection", progress=False)
    assert info.cache_dir == str(tmp_path / "envcache")
    assert len(list((tmp_path / "envcache" / "raw").rglob("sha256-*"))) == 6


def test_no_progress_when_stderr_is_not_a_terminal(small_project, tmp_path, capsys):
    platform, pid, did, _ = small_project
    _, info = _load(platform, pid, did, tmp_path / "cache", progress=True)
    assert info.downloaded == 6
    assert capsys.readouterr().err == ""


def _screen(text: str) -> list[tuple[str, int]]:
    """Each line a terminal shows at the end (its last frame) and how often it was drawn."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        frames = [f.replace("\x1b[K", "") for f in line.split("\r") if f]
        if frames:
            lines.append((frames[-1], len(frames)))
    return lines


def _read_terminal(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_progress_bar_on_a_terminal_counts_rates_and_ends_its_line(tmp_path):
    master, slave = os.openpty()
    with open(slave, "w") as terminal:
        bar = Progress("job", 50, "images", counts=("downloaded",), stream=terminal)
        for i in range(50):
            bar.advance(downloaded=i % 2)
            time.sleep(0.01)
        bar.close()
    text = _read_terminal(master)
    os.close(master)
    [(final, drawn)] = _screen(text)
    assert 3 <= drawn < 50  # redrawn while running, not once per item
    assert re.fullmatch(r"job: 50/50 images, [\d,]+/s, \d+s \(25 downloaded\)", final)
    second = text.split("\r")[2].replace("\x1b[K", "")
    assert re.fullmatch(r"job: \d+/50 images, [\d,]+/s, ETA \d+s \(\d+ downloaded\)", second)
    assert text.endswith("\n")


TERMINAL_CHILD = r"""
import sys
from picsellia_tf import data
from picsellia_tf.client import Client
client = Client(sys.argv[1], sys.argv[2])
data.load(client, sys.argv[3], sys.argv[4], task="detection", cache_dir=sys.argv[5])
"""


def test_load_draws_listing_and_download_bars_on_a_terminal(platform, tmp_path):
    images = make_images(tmp_path / "imgs", 2, width=16, height=16, fmt="png", seed=5)
    twin = images[0].path.with_name("twin.png")
    twin.write_bytes(images[0].path.read_bytes())
    images.append(SyntheticImage(twin, images[0].objects))
    pid, did = upload_project(platform.client, images, "twins")
    master, slave = os.openpty()
    args = [platform.token, platform.host, pid, did, str(tmp_path / "cache")]
    child = subprocess.Popen([sys.executable, "-c", TERMINAL_CHILD, *args], stderr=slave)
    os.close(slave)
    text = _read_terminal(master)
    os.close(master)
    assert child.wait(timeout=120) == 0, text
    lines = [line for line, _ in _screen(text) if line.startswith("picsellia_tf.data: ")]
    # the images are fetched as they are listed: one bar for both
    assert len(lines) == 2, text
    assert re.fullmatch(r"picsellia_tf.data: listing: 3/3 annotations, [\d,]+/s, \d+s", lines[0])
    # identical images are one file
    tail = r"2/2 ready, [\d,]+/s, \d+s \(2 downloaded, 0 unusable\)"
    assert re.fullmatch(r"picsellia_tf.data: images: " + tail, lines[1])


def test_runs_sharing_a_cache_at_the_same_time_all_succeed(tmp_path):
    """Several runs normalising the same files into one cache (RGBA: each converts the file
    and removes the raw download) never fail or cache a false error."""
    items = []
    for i in range(40):
        path = tmp_path / f"s{i}.png"
        rgba = np.zeros((6, 5, 4), np.uint8)
        rgba[..., 0], rgba[..., 3] = i, 200
        Image.fromarray(rgba, "RGBA").save(path)
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        items.append(
            cache.Item(cache.cache_key(str(path), checksum), str(path), checksum, path.name)
        )
    results: list[list[cache.Outcome]] = []
    failures: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        start.wait()
        try:
            store = cache.ImageCache(tmp_path / "cache")
            results.append(list(store.fetch(items, copy, workers=4)))
        except BaseException as exc:  # noqa: BLE001 -- asserted on by the test
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(results) == 3
    for outcomes in results:
        assert len(outcomes) == 40
        assert [o.error for o in outcomes if o.error] == []
        assert all((o.width, o.height) == (5, 6) and os.path.isfile(o.path) for o in outcomes)
    warm = list(cache.ImageCache(tmp_path / "cache").fetch(items, copy))
    assert all(o.error is None and not o.downloaded for o in warm)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


UNREADABLE = [
    '{"v": 1, "path": "../a.png", "width": 4}',  # the file exists, the height is missing
    '{"v": 1, "path": "../a.png", "width": "four", "height": 3}',
    '{"v": 1, "path": null, "width": 4, "height": 3}',
    "[1, 2]",
    '{"v": 1, "width": ',
]


@pytest.mark.parametrize("meta", UNREADABLE)
def test_an_unreadable_cache_record_is_a_miss(tmp_path, meta):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(path)
    item = cache.Item(cache.cache_key(str(path), None), str(path), None, path.name)
    store = cache.ImageCache(tmp_path / "cache")
    record = tmp_path / "cache" / "meta" / item.key[-2:] / f"{item.key}.json"
    record.parent.mkdir(parents=True)
    record.write_text(meta)
    assert store.lookup(item) is None
    outcome = store.ensure(item, copy)
    assert outcome.error is None and (outcome.width, outcome.height) == (4, 3)
    assert store.lookup(item) == cache.Outcome(item, outcome.path, 4, 3)


def test_a_checksum_that_is_no_sha256_is_reported_never_made_a_path():
    good = "ab" * 32
    rows = [
        RawData("r1", "a.png", url="http://x/a.png", checksum="/../../../tmp/evil"),
        RawData("r2", "b.png", url="http://x/b.png", checksum=good.upper()),
    ]
    joined = manifest.join([ImageAnnotation(r.id, []) for r in rows], rows, ["x"], task="detection")
    assert [c.image_id for c in joined.candidates] == ["r2"]
    [skipped] = joined.skipped
    assert skipped.filename == "a.png" and "is not a sha256 hex digest" in skipped.reason
    assert cache.cache_key("http://x/b.png", good.upper()) == "sha256-" + good
    with pytest.raises(ValueError, match="checksum: expected a sha256 hex digest"):
        cache.cache_key("http://x/a.png", "/../../../tmp/evil")


def _age_folders(root, seconds=60.0):
    """Date the cache's folders ``seconds`` back (as if the cold load ran a while ago)."""
    old = time.time() - seconds
    for folder in (root / "raw").glob("*"), (root / "img").glob("*"):
        for path in folder:
            os.utime(path, (old, old))


def test_a_warm_load_reads_the_index_not_a_record_per_image(small_project, tmp_path):
    platform, pid, did, _ = small_project
    cache = tmp_path / "cache"
    ds, info = _load(platform, pid, did, cache)
    first = [e[0].numpy() for e in ds]
    _age_folders(cache)
    _load(platform, pid, did, cache)  # the folders are stamped now
    [index] = (cache / "index").glob("*.idx")
    shutil.rmtree(cache / "meta")
    ds, info = _load(platform, pid, did, cache)
    assert info.downloaded == 0 and info.num_examples == 6 and not info.skipped
    assert not (cache / "meta").exists()  # nothing was looked up or normalised again
    assert gc.isenabled()  # held off while the index answered, released since
    for a, b in zip(first, (e[0].numpy() for e in ds), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in (cache / "index").glob("*.idx")] == [index.name]


def test_a_file_removed_from_the_cache_is_fetched_again_despite_the_index(small_project, tmp_path):
    platform, pid, did, _ = small_project
    cache = tmp_path / "cache"
    _load(platform, pid, did, cache)
    _age_folders(cache)
    _load(platform, pid, did, cache)
    [gone] = list((cache / "raw").rglob("sha256-*"))[:1]
    gone.unlink()  # its folder's time changes: the index no longer vouches for it
    ds, info = _load(platform, pid, did, cache)
    assert info.downloaded == 1 and info.num_examples == 6 and gone.is_file()
    assert len([e for e in ds]) == 6


@pytest.mark.parametrize("damage", ["truncate", "garbage", "version"])
def test_a_damaged_index_is_ignored_and_written_again(small_project, tmp_path, damage):
    platform, pid, did, _ = small_project
    cache = tmp_path / "cache"
    _load(platform, pid, did, cache)
    _age_folders(cache)
    _load(platform, pid, did, cache)
    [index] = (cache / "index").glob("*.idx")
    data = bytearray(index.read_bytes())
    if damage == "truncate":
        data = data[:-7]
    elif damage == "garbage":
        data[-5000:] = os.urandom(5000)[: len(data[-5000:])]
    else:
        data[8] += 1  # another META_VERSION
    index.write_bytes(bytes(data))
    shutil.rmtree(cache / "meta")
    ds, info = _load(platform, pid, did, cache)
    assert info.num_examples == 6 and not info.skipped and info.downloaded == 0
    assert len([e for e in ds]) == 6
    if damage != "garbage":  # garbage in the entries' digests only: those keys are missed
        assert (cache / "meta").exists()  # looked up image by image
    assert index.read_bytes() != bytes(data)


def test_cache_index_trusts_an_entry_only_while_its_folder_is_unchanged(tmp_path):
    from picsellia_tf.data.cache_index import CacheIndex

    store = cache.ImageCache(tmp_path / "cache")
    items = []
    for i in range(3):
        path = tmp_path / f"s{i}.png"
        Image.fromarray(np.full((4, 5, 3), i, np.uint8)).save(path)
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        items.append(cache.Item(cache.cache_key(str(path), checksum), str(path), checksum, ""))
    outcomes = [store.ensure(item, copy) for item in items]

    def save() -> CacheIndex:
        index = CacheIndex(store, "t")
        for o in outcomes:
            index.record(o.item.key, store.pack(o))
        index.save()
        return CacheIndex(store, "t")

    # just written: a change in the same clock tick would not show, so nothing is vouched for
    assert [save().get(o.item.key) for o in outcomes] == [None] * 3
    _age_folders(store_root := tmp_path / "cache")
    index = save()
    assert [index.get(o.item.key) for o in outcomes] == [store.pack(o) for o in outcomes]
    assert [store.unpack(o.item.key, store.pack(o)) for o in outcomes] == [
        (o.path, o.width, o.height) for o in outcomes
    ]  # what an entry answers is where the outcome is
    assert index.get(cache.cache_key("http://x/other.png", None)) is None
    # out of order too
    index = CacheIndex(store, "t")
    assert [index.get(o.item.key) for o in reversed(outcomes)] == [
        store.pack(o) for o in reversed(outcomes)
    ]
    # a file added beside the first one: its folder changed, the others did not
    first = outcomes[0].path
    assert first is not None
    with open(os.path.join(os.path.dirname(first), "other"), "w"):
        pass
    index = CacheIndex(store, "t")
    got = [index.get(o.item.key) for o in outcomes]
    assert got[0] is None
    shared = [os.path.dirname(o.path or "") == os.path.dirname(first) for o in outcomes]
    assert got == [
        None if same else store.pack(o) for o, same in zip(outcomes, shared, strict=True)
    ]
    assert store_root.is_dir()


def test_a_gc_pause_only_ever_enables_the_collector_it_disabled():
    assert gc.isenabled()
    with GcPause() as pause:
        assert not gc.isenabled()
        pause.release()
        assert gc.isenabled()
        pause.hold()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), GcPause():
        raise KeyError("x")
    assert gc.isenabled()
    gc.disable()  # the caller's choice stands
    try:
        with GcPause() as pause:
            pause.release()
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
