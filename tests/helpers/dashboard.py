"""Helpers for the dashboard's tests (no tests here): a signed-in session, a filled platform,
and a headless Chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers.local import Api, png

DETECTION_LABELS = ("car", "road", "person")


def session(url: str, token: str) -> requests.Session:
    """A ``requests`` session signed in to the dashboard through ``/?token=``."""
    s = requests.Session()
    answer = s.get(f"{url}/?token={token}", allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.status_code
    return s


def fill(api: Api, name: str = "demo") -> dict[str, Any]:
    """A detection project on a 3-image dataset with annotations, and a version with logs."""
    dataset_id = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": f"{name}-data"})[
        "dataset_id"
    ]
    files = [("files", (f"img{i}.png", png(64 + 16 * i, 48))) for i in range(3)]
    raw = api.ok("POST", f"/api/v1/raw_data/{dataset_id}", files=files)
    labels = {
        str(i + 1): {"label_name": n, "tool": "rectangle"} for i, n in enumerate(DETECTION_LABELS)
    }
    project_id = api.ok(
        "POST",
        "/api/v1/create_project",
        {
            "project_name": name,
            "type": "detection",
            "dataset_name": f"{name}-data",
            "labels": labels,
        },
    )["project_id"]
    boxes = {
        "0": [("car", 4, 6, 20, 10), ("road", 30, 20, 16, 12)],
        "1": [("person", 10, 10, 8, 20)],
    }
    annotations = {
        key: {
            "internal_picture_id": raw[key]["id"],
            "annotations": {
                str(j): {
                    "type": "rectangle",
                    "label": label,
                    "rectangle": {"left": x, "top": y, "width": w, "height": h},
                }
                for j, (label, x, y, w, h) in enumerate(shapes)
            },
        }
        for key, shapes in boxes.items()
    }
    api.ok(
        "POST",
        "/sdk/upload_annotations",
        {"project_id": project_id, "format": "picsellia", "annotations": annotations},
    )
    version = api.ok("POST", "/sdk/init_model", {"project_id": project_id, "model_name": "net"})
    logs = {
        "loss": {"step": [0, 1, 2], "value": [1.0, 0.6, 0.4], "wall_time": [1.0, 2.0, 3.0]},
        "val_loss": {"step": [0, 1, 2], "value": [1.1, 0.8, 0.7], "wall_time": [1.0, 2.0, 3.0]},
        "learning_rate": {"step": [0, 1, 2], "value": [0.1, 0.1, 0.01]},
        "batch/loss": {"step": list(range(30)), "value": [1 / (i + 1) for i in range(30)]},
    }
    api.ok("POST", "/sdk/post_logs", {**version, "logs": logs})
    return {
        "dataset_id": dataset_id,
        "project_id": project_id,
        "raw": raw,
        "boxes": boxes,
        **version,
    }


# --- the browser ---------------------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def chromium_paths() -> tuple[str, str] | None:
    """``(browser, driver)`` of Debian's chromium and chromium-driver, if installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def require_chromium() -> tuple[str, str]:
    """The browser and driver; under ``CI=true`` their absence fails, elsewhere it skips."""
    found = chromium_paths()
    try:
        import selenium  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        message = (
            "Chromium is missing: the dashboard's browser tests need Debian's chromium and "
            "chromium-driver (apt-get install -y chromium chromium-driver) and selenium"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def chromium(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium (fresh profile under ``tmp_path``) with its console log kept."""
    browser, driver_path = require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver_path, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The browser console's error messages since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(driver: Any, script: str, timeout: float = 15.0) -> Any:
    """Wait until ``script`` (JavaScript returning a value) returns something truthy."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(script)
    )
