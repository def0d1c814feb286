"""Screenshots of the dashboard for the README: docs/images/dashboard-*.png.

Run the README's main example and the detector example on one data folder first:

    .venv/bin/python examples/train_classifier.py --data-dir picsellia-data
    .venv/bin/python examples/train_detector.py --data-dir picsellia-data
    .venv/bin/python docs/make_screenshots.py picsellia-data

Needs Debian's chromium and chromium-driver (as the browser tests do).
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# (the tests' helpers, tests.helpers: a headless Chromium, are importable from ROOT)

from picsellia_tf.local import LocalServer  # noqa: E402
from tests.helpers.dashboard import chromium, console_errors, wait_for  # noqa: E402

IMAGES = ROOT / "docs" / "images"


def main() -> None:
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "picsellia-data")
    db = sqlite3.connect(data_dir / "picsellia.db")
    version = db.execute(
        "SELECT e.model_id, e.training_id FROM experiments e JOIN projects p "
        "ON p.id = e.project_id WHERE p.type = 'classification' ORDER BY e.n DESC LIMIT 1"
    ).fetchone()
    project = db.execute(
        "SELECT id FROM projects WHERE type = 'detection' ORDER BY n DESC LIMIT 1"
    ).fetchone()
    db.close()
    IMAGES.mkdir(parents=True, exist_ok=True)
    with LocalServer(data_dir) as server, tempfile.TemporaryDirectory() as tmp:
        with chromium(Path(tmp)) as driver:
            driver.set_window_size(1280, 1100)
            driver.get(f"{server.url}/?token={server.token}")
            driver.get(f"{server.url}/versions/{version[0]}/{version[1]}")
            wait_for(driver, "return document.getElementById('charts').dataset.ready")
            time.sleep(0.5)
            driver.save_screenshot(str(IMAGES / "dashboard-experiment.png"))
            driver.set_window_size(1280, 760)
            driver.get(f"{server.url}/projects/{project[0]}/dataset")
            wait_for(driver, "return document.images.length && document.images[0].complete")
            time.sleep(1.5)  # the rest of the first screen's (lazy) images
            driver.save_screenshot(str(IMAGES / "dashboard-dataset.png"))
            assert console_errors(driver) == []
    print(f"screenshots in {IMAGES}")


if __name__ == "__main__":
    main()
