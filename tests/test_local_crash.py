"""``picsellia-tf serve`` killed (SIGKILL) in the middle of concurrent uploads and log posts, again
and again: after each restart the database is intact, every acknowledged write is there, every
row's file matches its checksum, and nothing is left over (temporary files, unreferenced bytes).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.helpers.local import Api

KILLS = 20
UPLOADERS = 3
POSTERS = 3
NAMES_PER_UPLOADER = 4
TOKEN = "crash-test-token"


def start_serve(data: Path) -> tuple[subprocess.Popen[str], str]:
    """``picsellia-tf serve`` on a free port; the process and its URL."""
    command = [sys.executable, "-m", "picsellia_tf.cli", "serve", "--data-dir", str(data),
               "--port", "0", "--token", TOKEN]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("Picsellia local platform at "), line
    return process, line.rsplit(" ", 1)[1]


@dataclass
class Ledger:
    """What the clients were told was stored, and what they sent without hearing back."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # filename -> checksums the row may hold: the last acknowledged, plus any sent since
    possible: dict[str, set[str]] = field(default_factory=dict)
    points: dict[tuple[str, int], float] = field(default_factory=dict)  # acknowledged points
    acked_uploads: int = 0
    acked_posts: int = 0

    def wait_for_acks(self, uploads: int, posts: int, timeout: float = 60.0) -> None:
        """Until more than ``uploads`` uploads and ``posts`` posts are acknowledged."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.acked_uploads > uploads and self.acked_posts > posts:
                    return
            time.sleep(0.01)
        raise AssertionError(f"no upload and post acknowledged within {timeout} s")


def uploader(url: str, dataset: str, worker: int, ledger: Ledger, stop: threading.Event) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    rng = random.Random()
    i = 0
    while not stop.is_set():
        names = [f"w{worker}-{(i + k) % NAMES_PER_UPLOADER}.bin" for k in range(2)]
        blobs = [os.urandom(rng.randint(1_000, 300_000)) for _ in names]
        sums = [hashlib.sha256(blob).hexdigest() for blob in blobs]
        with ledger.lock:
            for name, checksum in zip(names, sums, strict=True):
                ledger.possible.setdefault(name, set()).add(checksum)
        files = [("files", (name, blob)) for name, blob in zip(names, blobs, strict=True)]
        try:
            response = session.post(f"{url}/api/v1/raw_data/{dataset}", files=files, timeout=30)
        except requests.RequestException:
            return  # the server is gone: what was sent may or may not be stored
        assert response.status_code == 200, response.text
        with ledger.lock:
            for name, checksum in zip(names, sums, strict=True):
                ledger.possible[name] = {checksum}
            ledger.acked_uploads += 1
        i += 1


def poster(url: str, version: dict, worker: int, ledger: Ledger, stop: threading.Event) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    tag = f"tag{worker}"
    with ledger.lock:
        step = 1 + max((s for (t, s) in ledger.points if t == tag), default=-1)
    while not stop.is_set():
        steps = list(range(step, step + 100))
        values = [s * 0.5 + worker for s in steps]
        body = {**version, "logs": {tag: {"step": steps, "value": values}}}
        try:
            response = session.post(f"{url}/sdk/post_logs", json=body, timeout=30)
        except requests.RequestException:
            return
        assert response.status_code in (200, 201), response.text
        with ledger.lock:
            ledger.points.update(((tag, s), v) for s, v in zip(steps, values, strict=True))
            ledger.acked_posts += 1
        step += 100


def verify(data: Path, ledger: Ledger) -> None:
    """The checks after a restart (the new server has cleaned up at start)."""
    db = sqlite3.connect(f"file:{data / 'picsellia.db'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute("SELECT filename, object_name, checksum, size FROM raw_data").fetchall()
        points = dict(
            ((tag, step), value)
            for tag, step, value in db.execute("SELECT tag, step, value FROM logs")
        )
        trash = db.execute("SELECT COUNT(*) FROM trash").fetchone()[0]
    finally:
        db.close()
    objects = data / "objects"
    stored = {}
    for filename, object_name, checksum, size in rows:
        content = (objects / object_name).read_bytes()
        assert len(content) == size and hashlib.sha256(content).hexdigest() == checksum, filename
        stored[filename] = checksum
    with ledger.lock:
        for filename, possible in ledger.possible.items():
            if filename in stored:
                assert stored[filename] in possible, filename
                ledger.possible[filename] = {stored[filename]}  # now known
            else:  # never stored: only if no upload of it was ever acknowledged
                assert len(possible) >= 1
        for key, value in ledger.points.items():
            assert points.get(key) == value, key
    on_disk = {
        str(path.relative_to(objects))
        for path in (objects / "datasets").rglob("*")
        if path.is_file()
    }
    assert on_disk == {object_name for _, object_name, _, _ in rows}  # no bytes left over
    assert list((data / "tmp").iterdir()) == []
    assert trash == 0


@pytest.mark.timeout(600)
def test_sigkill_mid_uploads_and_log_posts_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process, url = start_serve(data)
    api = Api(url, TOKEN)
    dataset = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": "crash"})["dataset_id"]
    project = api.ok(
        "POST",
        "/api/v1/create_project",
        {"project_name": "crash", "type": "classification", "dataset_name": "crash"},
    )["project_id"]
    version = api.ok("POST", "/sdk/init_model", {"project_id": project, "model_name": "m"})
    version = {"training_id": version["training_id"], "network_id": version["network_id"]}
    ledger = Ledger()
    rng = random.Random(9)
    try:
        for _ in range(KILLS):
            stop = threading.Event()
            workers = [
                threading.Thread(target=uploader, args=(url, dataset, w, ledger, stop))
                for w in range(UPLOADERS)
            ] + [
                threading.Thread(target=poster, args=(url, version, w, ledger, stop))
                for w in range(POSTERS)
            ]
            with ledger.lock:
                before = (ledger.acked_uploads, ledger.acked_posts)
            for worker in workers:
                worker.start()
            # the kill lands at a random moment once the restarted server is taking work
            ledger.wait_for_acks(*before)
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            for worker in workers:
                worker.join(timeout=60)
            stop.set()
            process, url = start_serve(data)
            verify(data, ledger)
        assert Api(url, TOKEN).ok("GET", "/sdk/get_logs", version)["logs"]  # still serving
    finally:
        process.kill()
        process.wait(timeout=30)
    # the kills landed while work was going on, and much of it was acknowledged
    assert ledger.acked_uploads >= KILLS and ledger.acked_posts >= KILLS
