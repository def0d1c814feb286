"""The dashboard in a real browser (headless Debian Chromium through Selenium), after real
``fit`` runs with PicselliaCallback and previews.

Under ``CI=true`` these tests fail if Chromium is missing; elsewhere they skip, saying so.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from picsellia_tf import PicselliaCallback
from picsellia_tf._colors import hex_color, label_color
from picsellia_tf.local_platform import LocalPlatform
from tests.helpers.callback import callback_for, hold_at_epoch_end
from tests.helpers.dashboard import (
    DETECTION_LABELS,
    chromium,
    console_errors,
    fill,
    require_chromium,
    wait_for,
)
from tests.helpers.local import Api

pytestmark = pytest.mark.timeout(180)

SIZE = 12
EPOCHS = 4
CHARTS_READY = "return document.getElementById('charts').dataset.ready === 'true'"
SERIES = (
    "return [...document.querySelectorAll('#charts g.series[data-tag]')]"
    ".map(g => [g.dataset.tag, Number(g.dataset.points)])"
)


def _data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=n).astype("int32")
    x = rng.integers(0, 60, size=(n, SIZE, SIZE, 3)).astype("uint8")
    x[np.arange(n), :, :, y] += 150
    return x, y


def _fit(
    callback: PicselliaCallback, epochs: int, after: list[keras.callbacks.Callback] | None = None
) -> None:
    """A small fit logging through ``callback``; ``after``: callbacks run after it (its epoch's
    logs already handed to it)."""
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = _data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        validation_data=(x[:8], y[:8]),
        verbose=0,
        callbacks=[callback, *(after or [])],
        shuffle=False,
    )


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    require_chromium()
    with LocalPlatform(tmp_path_factory.mktemp("dashboard-browser")) as platform:
        yield platform


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, local: LocalPlatform) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        driver.get(f"{local.server.url}/?token={local.token}")
        console_errors(driver)
        yield driver


@pytest.fixture(scope="module")
def trained(local: LocalPlatform) -> dict[str, Any]:
    client = local.client
    project = client.projects.create(f"browser-{uuid.uuid4().hex[:6]}", "classification")
    x, y = _data()
    callback = PicselliaCallback(
        client,
        project_id=project.id,
        model_name="net",
        log_every_n_batches=1,
        flush_interval=0.2,
        preview_data=(x[:2], y[:2]),
        label_names=["r", "g", "b"],
    )
    _fit(callback, EPOCHS)
    return {
        "project_id": project.id,
        "training_id": callback.training_id,
        "network_id": callback.network_id,
    }


def _version_url(local: LocalPlatform, run: dict[str, Any]) -> str:
    return f"{local.server.url}/versions/{run['network_id']}/{run['training_id']}"


def test_the_experiment_page_plots_every_stored_tag_once(local, browser, trained):
    logs = local.client.experiments.get_logs(trained["training_id"], trained["network_id"])
    browser.get(_version_url(local, trained))
    wait_for(browser, CHARTS_READY)
    drawn = browser.execute_script(SERIES)
    assert sorted(tag for tag, _ in drawn) == sorted(logs), drawn
    assert {tag: n for tag, n in drawn} == {tag: len(s["step"]) for tag, s in logs.items()}
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "batch/loss"} <= set(logs)
    families = browser.execute_script(
        "return [...document.querySelectorAll('figure.chart')].map(f => [f.dataset.family,"
        " [...f.querySelectorAll('g.series')].map(g => g.dataset.tag)])"
    )
    assert ["epoch:loss", ["loss", "val_loss"]] in families
    paths = browser.execute_script(
        "return [...document.querySelectorAll('g.series path')].map(p => p.getTotalLength())"
    )
    assert paths and all(length > 0 for length in paths)
    assert console_errors(browser) == []


def test_the_chart_controls_redraw_without_errors(local, browser, trained):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(_version_url(local, trained))
    wait_for(browser, CHARTS_READY)
    before = sorted(browser.execute_script(SERIES))
    browser.find_element(By.CSS_SELECTOR, "input[name=log]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=x][value=wall]").click()
    browser.execute_script(
        "const s = document.querySelector('input[name=smooth]'); s.value = '0.8';"
        "s.dispatchEvent(new Event('input', {bubbles: true}));"
    )
    assert sorted(browser.execute_script(SERIES)) == before
    svg = browser.find_element(By.CSS_SELECTOR, "figure.chart[data-family='epoch:loss'] > svg")
    ActionChains(browser).move_to_element(svg).perform()
    tip = browser.find_element(By.CSS_SELECTOR, "figure.chart[data-family='epoch:loss'] .tooltip")
    assert tip.is_displayed() and "step" in tip.text and "val_loss" in tip.text
    assert console_errors(browser) == []


def test_the_previews_page_steps_through_every_epoch(local, browser, trained):
    from selenium.webdriver.common.by import By

    browser.get(_version_url(local, trained) + "/previews?epoch=0")
    seen = []
    while True:
        epochs = browser.execute_script(
            "return [...document.querySelectorAll('img[data-epoch]')].map(i => i.dataset.epoch)"
        )
        assert len(epochs) == 2 and len(set(epochs)) == 1, epochs
        wait_for(browser, "return [...document.images].every(i => i.complete && i.naturalWidth)")
        seen.append(int(epochs[0]))
        links = browser.find_elements(By.CSS_SELECTOR, "a[data-rel=next]")
        if not links:
            break
        links[0].click()
    assert seen == list(range(EPOCHS))
    assert console_errors(browser) == []


def test_the_dataset_page_draws_each_box_at_its_pixel_position(local, browser):
    api = Api(local.server.url, local.token)
    data = fill(api, f"boxes-{uuid.uuid4().hex[:6]}")
    browser.get(f"{local.server.url}/projects/{data['project_id']}/dataset")
    wait_for(browser, "return [...document.images].every(i => i.complete && i.naturalWidth)")
    drawn = browser.execute_script(
        """return [...document.querySelectorAll('figure.sample')].map(f => {
             const img = f.querySelector('img').getBoundingClientRect();
             const w = Number(f.dataset.width);
             return [f.dataset.raw, w / img.width,
               [...f.querySelectorAll('rect[data-label]')].map(r => {
                 const b = r.getBoundingClientRect();
                 return [r.dataset.label, r.getAttribute('stroke'), (b.left - img.left),
                         (b.top - img.top), b.width, b.height];
               })];
           })"""
    )
    by_raw = {raw: (scale, rects) for raw, scale, rects in drawn}
    assert len(by_raw) == 3
    for key, shapes in data["boxes"].items():
        scale, rects = by_raw[data["raw"][key]["id"]]
        assert len(rects) == len(shapes)
        for (label, x, y, w, h), (shown, stroke, left, top, width, height) in zip(
            shapes, rects, strict=True
        ):
            assert shown == label
            assert stroke == hex_color(label_color(DETECTION_LABELS.index(label)))
            for got, want in ((left, x), (top, y), (width, w), (height, h)):
                assert abs(got * scale - want) < 0.5, (label, got * scale, want)
    assert by_raw[data["raw"]["2"]["id"]][1] == []
    assert console_errors(browser) == []


def test_a_page_left_open_while_a_fit_runs_gains_points(local, browser):
    client = local.client
    project = client.projects.create(f"live-{uuid.uuid4().hex[:6]}", "classification")
    experiment = client.experiments.init(project.id, "live")
    run = {"network_id": experiment.network_id, "training_id": experiment.training_id}
    browser.get(_version_url(local, run))
    wait_for(browser, CHARTS_READY)
    assert browser.execute_script(SERIES) == []
    callback = callback_for(
        client,
        experiment,
        flush_interval=0.2,
    )
    counts: list[int] = []
    # The fit goes on only once the page has drawn what it logged so far: after epoch 3 until the
    # page shows points, after the last one until it shows more (instead of epochs long enough
    # for the page's polls to see them).
    drawn_more = {2: 1, 5: 2}  # epoch index: how many growing counts the page must have shown
    pace = hold_at_epoch_end(
        keras, lambda epoch: len(counts) >= drawn_more.get(epoch, 0), "the page", timeout=30
    )
    fit = threading.Thread(target=_fit, args=(callback, 6, [pace]), daemon=True)
    fit.start()
    deadline = time.monotonic() + 60
    while fit.is_alive() and time.monotonic() < deadline:
        drawn = dict(browser.execute_script(SERIES))
        if drawn.get("loss") and (not counts or drawn["loss"] != counts[-1]):
            counts.append(drawn["loss"])
        time.sleep(0.1)
    fit.join(30)
    assert len(counts) >= 2 and counts == sorted(counts), counts  # grew while the fit ran
    logs = client.experiments.get_logs(experiment.training_id, experiment.network_id)
    wait_for(browser, f"return {SERIES[7:]}.some(s => s[0] === 'loss' && s[1] === 6)", 20)
    assert len(logs["loss"]["step"]) == 6
    assert console_errors(browser) == []


def test_signing_in_through_the_form(local, tmp_path: Path):
    from selenium.webdriver.common.by import By

    with chromium(tmp_path) as driver:
        driver.get(local.server.url + "/")
        assert "Sign in" in driver.title
        assert [e for e in console_errors(driver) if "401" not in e] == []  # the form is a 401
        driver.find_element(By.NAME, "token").send_keys(local.token)
        driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
        wait_for(driver, "return document.title.startsWith('Projects')")
        assert local.token not in driver.current_url and local.token not in driver.page_source
        assert driver.execute_script("return document.cookie") == ""  # HttpOnly
        assert console_errors(driver) == []


def test_a_large_series_is_drawn_downsampled_and_says_so(local, browser):
    client = local.client
    project = client.projects.create(f"large-{uuid.uuid4().hex[:6]}", "classification")
    experiment = client.experiments.init(project.id, "large")
    n = 40_000
    steps = list(range(n))
    values = [float(np.sin(s / 300)) for s in steps]
    values[12_345] = 9.0  # a spike the downsampling keeps
    client.experiments.post_logs(
        experiment.training_id,
        experiment.network_id,
        {"batch/loss": {"step": steps, "value": values}},
    )
    run = {"network_id": experiment.network_id, "training_id": experiment.training_id}
    browser.get(_version_url(local, run))
    wait_for(browser, CHARTS_READY)
    assert browser.execute_script(SERIES) == [["batch/loss", n]]
    shown = browser.execute_script(
        "return Number(document.querySelector('g.series').dataset.shown)"
    )
    assert 0 < shown < n // 10
    note = browser.execute_script(
        "const f = document.querySelector('figure.chart[data-downsampled=true]');"
        "return f && f.querySelector('.note').textContent"
    )
    assert note and "Downsampled" in note and f"{n:,}" in note
    browser.find_element("css selector", "figure.chart > svg")
    top = browser.execute_script(  # the spike is the highest point drawn
        "const ys = [...document.querySelectorAll('g.series path')].flatMap(p =>"
        " p.getAttribute('d').split(/[ML]/).filter(Boolean).map(c => Number(c.split(',')[1])));"
        "return Math.min(...ys)"
    )
    assert top == pytest.approx(10, abs=1)  # the plot's top margin: the spike sets the y range
    assert console_errors(browser) == []
