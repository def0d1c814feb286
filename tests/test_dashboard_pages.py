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

from picsellia_tf.local import LocalServer
from tests.dashboard_helpers import fill, session
from tests.test_local_helpers import Api


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
            lines = [process.stdout.readline().strip() for _ in range(3)]
            assert lines[2].startswith("dashboard: http://127.0.0.1:"), lines
            url = lines[2].split(" ", 1)[1]
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
