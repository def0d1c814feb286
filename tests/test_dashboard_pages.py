"""The dashboard's pages, server side: sign-in, sessions, organisations, escaping, headers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from picsellia_tf._colors import hex_color, label_color
from picsellia_tf.local import LocalServer
from tests.helpers.dashboard import fill, session
from tests.helpers.local import Api, png


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def demo(server: LocalServer) -> dict:
    return fill(Api(server.url, server.token))


def pages(demo: dict) -> list[str]:
    version = f"/versions/{demo['network_id']}/{demo['training_id']}"
    return [
        "/",
        f"/projects/{demo['project_id']}",
        f"/projects/{demo['project_id']}/dataset",
        version,
        f"{version}/previews",
        f"/compare?v={demo['network_id']}:{demo['training_id']}",
    ]


def test_every_page_answers_with_a_session_and_asks_for_sign_in_without(server, demo):
    signed_in = session(server.url, server.token)
    for page in pages(demo):
        anonymous = requests.get(server.url + page, timeout=10)
        assert anonymous.status_code == 401, page
        assert 'action="/signin"' in anonymous.text and "demo" not in anonymous.text, page
        answer = signed_in.get(server.url + page, timeout=10)
        assert answer.status_code == 200, (page, answer.text[:300])
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "Sign out" in answer.text, page


def test_token_in_the_url_becomes_an_httponly_strict_cookie_and_leaves_the_url(server, demo):
    page = f"/projects/{demo['project_id']}?x=1"
    answer = requests.get(
        f"{server.url}{page}&token={server.token}", allow_redirects=False, timeout=10
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == page
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert server.token not in cookie
    followed = requests.Session()
    final = followed.get(f"{server.url}{page}&token={server.token}", timeout=10)
    assert final.status_code == 200 and final.url == server.url + page
    assert server.token not in final.text


def test_a_wrong_token_shows_the_form_and_never_echoes_it(server):
    answer = requests.get(f"{server.url}/?token=not-the-token-42", timeout=10)
    assert answer.status_code == 401
    assert "not valid" in answer.text and "not-the-token-42" not in answer.text
    assert "Set-Cookie" not in answer.headers


def test_the_sign_in_form_posts_the_token_and_redirects_to_next(server, demo):
    s = requests.Session()
    page = f"/projects/{demo['project_id']}"
    form = s.get(server.url + page, timeout=10)
    assert f'name="next" value="{page}"' in form.text
    answer = s.post(
        server.url + "/signin",
        data={"token": server.token, "next": page},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303 and answer.headers["Location"] == page
    assert s.get(server.url + page, timeout=10).status_code == 200
    wrong = requests.post(server.url + "/signin", data={"token": "nope", "next": "/"}, timeout=10)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    away = requests.post(
        server.url + "/signin",
        allow_redirects=False,
        timeout=10,
        data={"token": server.token, "next": "//evil.example/x"},
    )
    assert away.headers["Location"] == "/"
    cross = requests.post(
        server.url + "/signin",
        data={"token": server.token},
        timeout=10,
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403 and "Set-Cookie" not in cross.headers


def test_sign_in_behind_a_proxy_accepts_the_public_origin(tmp_path: Path) -> None:
    # The browser's Origin is the proxy's public URL; the Host the server sees is its own.
    with LocalServer(tmp_path / "d", public_url="https://dash.example:8443/") as proxied:
        for origin, status in [
            ("https://dash.example:8443", 303),
            (proxied.url, 303),
            ("https://dash.example:9999", 403),
            ("https://evil.example", 403),
        ]:
            answer = requests.post(
                proxied.url + "/signin",
                data={"token": proxied.token, "next": "/"},
                headers={"Origin": origin},
                allow_redirects=False,
                timeout=10,
            )
            assert answer.status_code == status, (origin, answer.text)
            assert ("Set-Cookie" in answer.headers) == (status == 303), origin


def test_sign_out_forgets_the_session(server):
    s = session(server.url, server.token)
    assert s.post(server.url + "/signout", allow_redirects=False, timeout=10).status_code == 303
    assert s.get(server.url + "/", timeout=10).status_code == 401


def test_a_forged_or_stale_cookie_is_no_session(server, tmp_path):
    s = session(server.url, server.token)
    value = s.cookies["picsellia_session"]
    user_id, expires, signature = value.split(".")
    for forged in (
        f"{user_id}.{int(expires) + 1}.{signature}",
        f"{user_id}.1.{signature}",
        "x",
        f"{user_id}.{expires}.{'0' * len(signature)}",
    ):
        answer = requests.get(server.url + "/", cookies={"picsellia_session": forged}, timeout=10)
        assert answer.status_code == 401, forged


def test_sessions_survive_a_restart_and_end_when_the_token_changes(tmp_path: Path):
    with LocalServer(tmp_path / "p") as first:
        s = session(first.url, first.token)
        port = first.port
    with LocalServer(tmp_path / "p", port=port) as again:
        assert s.get(again.url + "/", timeout=10).status_code == 200
    with LocalServer(tmp_path / "p", port=port, token="a-new-token") as changed:
        assert s.get(changed.url + "/", timeout=10).status_code == 401


def test_another_organisations_ids_are_404(server, demo):
    other = server.create_token("eve@elsewhere.org")
    s = session(server.url, other)
    home = s.get(server.url + "/", timeout=10)
    assert home.status_code == 200 and demo["project_id"] not in home.text
    for page in pages(demo)[1:]:
        answer = s.get(server.url + page, timeout=10)
        assert answer.status_code == 404, page
        assert "not found" in answer.text
    series = s.get(
        f"{server.url}/ui/series?v={demo['network_id']}:{demo['training_id']}", timeout=10
    )
    assert series.status_code == 404


def test_user_strings_render_as_text(server):
    api = Api(server.url, server.token)
    name = "<script>alert(1)</script>"
    data = fill(api, name)
    s = session(server.url, server.token)
    for page in (
        "/",
        f"/projects/{data['project_id']}",
        f"/projects/{data['project_id']}/dataset",
        f"/versions/{data['network_id']}/{data['training_id']}",
    ):
        text = s.get(server.url + page, timeout=10).text
        assert "<script>alert" not in text, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, page
        # the only scripts are our own files
        assert re.findall(r"<script[^>]*>", text) == re.findall(
            r'<script src="/static/[a-z]+\.js" defer>', text
        ), page


def test_security_headers_on_pages_and_static_files(server, demo):
    s = session(server.url, server.token)
    for url in [server.url + p for p in pages(demo)] + [
        server.url + "/static/charts.js",
        server.url + "/static/dashboard.css",
    ]:
        answer = s.get(url, timeout=10)
        assert answer.status_code == 200, url
        csp = answer.headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'self'") and "unsafe" not in csp, url
        assert answer.headers["X-Content-Type-Options"] == "nosniff", url
    assert (
        s.get(server.url + "/static/charts.js", timeout=10)
        .headers["Content-Type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert s.get(server.url + "/static/..%2Fweb.py", timeout=10).status_code == 404
    assert s.get(server.url + "/static/nothing.js", timeout=10).status_code == 404


def test_get_changes_nothing(server, demo):
    db = Path(server.data_dir) / "picsellia.db"
    s = session(server.url, server.token)
    before = db.read_bytes(), sorted(p.name for p in Path(server.data_dir).rglob("*"))
    for page in pages(demo):
        s.get(server.url + page, timeout=10)
    s.get(f"{server.url}/ui/series?v={demo['network_id']}:{demo['training_id']}", timeout=10)
    after = db.read_bytes(), sorted(p.name for p in Path(server.data_dir).rglob("*"))
    assert before[1] == after[1]
    api = Api(server.url, server.token)
    logs = api.ok(
        "GET",
        "/sdk/get_logs",
        {"network_id": demo["network_id"], "training_id": demo["training_id"]},
    )
    assert sorted(logs["logs"]) == ["batch/loss", "learning_rate", "loss", "val_loss"]


def test_the_projects_page_lists_type_labels_dataset_models_and_progress(server, demo):
    text = session(server.url, server.token).get(server.url + "/", timeout=10).text
    assert "detection" in text and "demo-data" in text and "net" in text
    for label in ("car", "road", "person"):
        assert label in text
    assert 'value="67"' in text  # 2 of 3 images annotated


def test_the_project_page_lists_versions_with_points_and_last_values(server, demo):
    text = (
        session(server.url, server.token)
        .get(f"{server.url}/projects/{demo['project_id']}", timeout=10)
        .text
    )
    assert f'href="/versions/{demo["network_id"]}/{demo["training_id"]}"' in text
    assert "<td>39</td>" in text  # 3 + 3 + 3 + 30 points
    assert "<td>0.4</td>" in text and "<td>0.7</td>" in text and "<td>0.01</td>" in text
    assert 'action="/compare"' in text


def test_serve_prints_a_dashboard_url_that_signs_in(tmp_path: Path):
    command = [sys.executable, "-m", "picsellia_tf.cli", "serve", "--data-dir",
               str(tmp_path / "d"), "--port", "0", "--token", "cli-token"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline().strip() for _ in range(4)]
            assert lines[3].startswith("dashboard: http://127.0.0.1:"), lines
            url = lines[3].split(" ", 1)[1]
            assert url.endswith("/?token=cli-token")
            s = requests.Session()
            page = s.get(url, timeout=10)
            assert page.status_code == 200 and "Projects of local" in page.text
            assert page.url == url.split("?")[0] and "cli-token" not in page.text
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
            assert process.stderr is not None and "cli-token" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_the_dataset_page_filters_by_label_pages_and_draws_polygons(server):
    api = Api(server.url, server.token)
    dataset_id = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": "many"})["dataset_id"]
    files = [("files", (f"im{i:02d}.png", png(20, 10))) for i in range(50)]
    raw = api.ok("POST", f"/api/v1/raw_data/{dataset_id}", files=files)
    labels = {
        "1": {"label_name": "lake", "tool": "polygon"},
        "2": {"label_name": "tree", "tool": "rectangle"},
    }
    project_id = api.ok(
        "POST",
        "/api/v1/create_project",
        {
            "project_name": "many",
            "type": "segmentation",
            "dataset_name": "many",
            "labels": labels,
        },
    )["project_id"]
    lake = {
        "type": "polygon",
        "label": "lake",
        "polygon": {"geometry": [{"x": 1, "y": 1}, {"x": 9, "y": 2}, {"x": 5, "y": 8}]},
    }
    tree = {
        "type": "rectangle",
        "label": "tree",
        "rectangle": {"left": 2, "top": 3, "width": 4, "height": 5},
    }
    annotations = {
        str(i): {
            "internal_picture_id": raw[str(i)]["id"],
            "annotations": {"0": lake} if i % 10 == 0 else {"0": tree},
        }
        for i in range(0, 50, 5)
    }
    api.ok(
        "POST",
        "/sdk/upload_annotations",
        {"project_id": project_id, "format": "picsellia", "annotations": annotations},
    )
    s = session(server.url, server.token)
    base = f"{server.url}/projects/{project_id}/dataset"
    first = s.get(base, timeout=10).text
    assert first.count('<figure class="sample"') == 48 and "page 1 of 2 · 50 images" in first
    assert 'rel="next"' in first and "?page=2" in first
    second = s.get(base + "?page=2", timeout=10).text
    assert second.count('<figure class="sample"') == 2 and 'rel="prev"' in second
    assert s.get(base + "?page=3", timeout=10).status_code == 404
    assert s.get(base + "?page=zero", timeout=10).status_code == 400
    lakes = s.get(base + "?label=lake", timeout=10).text
    assert lakes.count('<figure class="sample"') == 5 and "5 &#x27;lake&#x27; images" in lakes
    polygon = re.search(r'<polygon points="([^"]+)"[^>]*data-label="lake"[^>]*>', lakes)
    assert polygon and polygon.group(1) == "1,1 9,2 5,8"
    assert f'stroke="{hex_color(label_color(0))}"' in polygon.group(0)
    assert "<rect" not in lakes.split('class="grid"')[1].replace("<rect width", "")
    trees = s.get(base + "?label=tree", timeout=10).text
    assert trees.count('data-label="tree"') == 5
    assert f'stroke="{hex_color(label_color(1))}"' in trees
    counts = re.findall(r"<td>(\d+)</td><td>(\d+)</td>", first)
    assert counts == [("5", "5"), ("5", "5")]
    assert s.get(base + "?label=nope", timeout=10).status_code == 404


def test_compare_overlays_versions_labelled_by_version(server, demo):
    api = Api(server.url, server.token)
    other = api.ok(
        "POST", "/sdk/init_model", {"project_id": demo["project_id"], "model_name": "net2"}
    )
    api.ok("POST", "/sdk/post_logs", {**other, "logs": {"loss": {"step": [0], "value": [2.0]}}})
    refs = [
        f"{demo['network_id']}:{demo['training_id']}",
        f"{other['network_id']}:{other['training_id']}",
    ]
    s = session(server.url, server.token)
    page = s.get(f"{server.url}/compare?v={refs[0]}&v={refs[1]}", timeout=10).text
    checked = re.findall(r'name="v" value="([^"]+)" checked>', page)
    assert checked == refs and "net2 v1" in page  # listed by project, model, version
    body = s.get(f"{server.url}/ui/series?v={refs[0]}&v={refs[1]}", timeout=10).json()
    loss = next(c for c in body["charts"] if c["key"] == "epoch:loss")
    assert [(x["version"], x["tag"], x["label"]) for x in loss["series"]] == [
        (refs[0], "loss", "net v1 · loss"),
        (refs[0], "val_loss", "net v1 · val_loss"),
        (refs[1], "loss", "net2 v1 · loss"),
    ]
    assert s.get(f"{server.url}/compare", timeout=10).status_code == 200
    assert s.get(f"{server.url}/compare?v=bad", timeout=10).status_code == 400
