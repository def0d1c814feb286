"""The local platform as a server: auth, isolation, signed storage, restarts, faults, CLI.

Driven with plain ``requests`` over loopback HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from picsellia_tf.local import LocalServer
from picsellia_tf.local.storage import Storage
from tests.helpers.local import Api, png, setup_project


@pytest.fixture
def api(server: LocalServer) -> Api:
    return Api(server.url, server.token)


# -- authentication and organisations ------------------------------------------------------


def test_every_api_route_needs_a_valid_bearer_token(server: LocalServer) -> None:
    anonymous = Api(server.url, None)
    assert "missing Authorization" in anonymous.error(401, "GET", "/sdk/check_connection")
    malformed = {"Authorization": f"Token {server.token}"}
    message = anonymous.error(401, "GET", "/api/v1/project_list", headers=malformed)
    assert "malformed" in message and server.token not in message
    assert (
        Api(server.url, "not-a-token").error(401, "POST", "/sdk/post_logs", {}) == "invalid token"
    )
    me = Api(server.url, server.token).ok("GET", "/sdk/check_connection")
    assert me["message"] == "Connection established"
    assert me["username"] == me["email"].split("@")[0]


def test_an_organisation_never_sees_another_ones_data(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    other = Api(server.url, server.create_token("eve@other.org"))
    assert other.ok("GET", "/sdk/check_connection")["organisation"] != "local"
    assert other.ok("GET", "/api/v1/project_list") == {}
    assert other.ok("GET", "/api/v1/dataset_list") == {}
    other.error(404, "GET", f"/api/v1/project_infos/{ids['project_id']}")
    other.error(404, "GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 5]})
    other.error(404, "DELETE", f"/api/v1/delete_model/{ids['network_id']}")
    logs = {"training_id": ids["training_id"], "network_id": ids["network_id"], "logs": {}}
    other.error(404, "POST", "/sdk/post_logs", logs)
    # the other organisation may reuse names freely
    other.ok("POST", "/api/v1/create_dataset", {"dataset_name": "p-data"})
    # a colleague in the same organisation sees everything
    colleague = Api(server.url, server.create_token("bob@local", organisation="local"))
    assert colleague.ok("GET", "/api/v1/project_list")["1"]["id"] == ids["project_id"]


# -- signed storage URLs -------------------------------------------------------------------


def test_raw_data_bytes_round_trip_through_signed_urls(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    page = api.ok("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 10]})
    assert [page[k]["external_url"] for k in ("0", "1", "2")] == ["a.png", "b.png", "notes.txt"]
    assert page["0"]["shape"] == [8, 6] and page["2"]["shape"] is None
    for item, expected in zip(page.values(), (png(8, 6), png(4, 4), b"not an image"), strict=True):
        response = requests.get(item["url"], timeout=10)
        assert response.status_code == 200 and response.content == expected
        assert item["size"] == len(expected)
    assert requests.get(page["0"]["url"], timeout=10).headers["Content-Type"] == "image/png"
    assert "Authorization" not in requests.get(page["0"]["url"], timeout=10).request.headers


def test_forged_or_expired_storage_urls_are_refused(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    url = api.ok("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 1]})["0"]["url"]
    head, signature = url.rsplit("signature=", 1)
    forged = head + "signature=" + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert requests.get(forged, timeout=10).status_code == 403
    other_object = url.replace("/a.png?", "/b.png?")
    assert requests.get(other_object, timeout=10).status_code == 403
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    object_name = url.split("/storage/", 1)[1].split("?")[0]
    expired = Storage(server.data_dir).get_url(server.url, object_name, ttl=-5)
    response = requests.get(expired, timeout=10)
    assert response.status_code == 403 and "expired" in response.json()["error"]
    assert requests.get(url, timeout=10).status_code == 200


def test_preview_upload_flow(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    name = f"{ids['project_id']}/{ids['network_id']}/{ids['training_id']}/results/epoch_1.png"
    missing = name.replace("epoch_1", "epoch_2")
    message = api.error(400, "POST", "/sdk/post_preview", {**version, "urls": [missing]})
    assert "urls[0]" in message and "not been uploaded" in message
    answer = api.ok("GET", "/sdk/get_post_url_preview", {"object_name": name})
    assert set(answer) == {"url"}  # nested, as the released SDK reads it
    form = answer["url"]
    forged = {**form["fields"], "key": missing}
    files = {"file": ("epoch_1.png", png(5, 5))}
    assert requests.post(form["url"], data=forged, files=files, timeout=10).status_code == 403
    response = requests.post(form["url"], data=form["fields"], files=files, timeout=10)
    assert response.status_code == 204
    api.ok("POST", "/sdk/post_preview", {**version, "urls": [name]})
    api.ok("POST", "/sdk/post_preview", {**version, "urls": {"1": name}})
    previews = api.ok("GET", "/sdk/get_previews", version)["previews"]
    assert list(previews) == ["0"] and previews["0"]["object_name"] == name
    assert requests.get(previews["0"]["url"], timeout=10).content == png(5, 5)
    bad = api.error(400, "GET", "/sdk/get_post_url_preview", {"object_name": "x/y.png"})
    assert "object_name" in bad
    unknown_version = name.replace(f"/{ids['training_id']}/", "/99/")
    api.error(404, "GET", "/sdk/get_post_url_preview", {"object_name": unknown_version})


def test_malformed_preview_names_are_400_not_500(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    head = f"{ids['project_id']}/{ids['network_id']}"
    # a non-ASCII digit, a padded id (another folder than the version's), a NUL in the file
    for name in (f"{head}/\u00b2/results/a.png", f"{head}/01/results/a.png",
                 f"{head}/1/results/a\u0000.png"):  # fmt: skip
        message = api.error(400, "GET", "/sdk/get_post_url_preview", {"object_name": name})
        assert "object_name" in message and "is not of the form" in message
        message = api.error(400, "POST", "/sdk/post_preview", {**version, "urls": [name]})
        assert "urls[0]" in message and "is not of the form" in message


# -- lifecycle -----------------------------------------------------------------------------


def test_restart_on_the_same_data_keeps_everything(tmp_path: Path) -> None:
    with LocalServer(tmp_path / "d") as first:
        api = Api(first.url, first.token)
        ids = setup_project(api)
        url = api.ok("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 1]})["0"]["url"]
        token = first.token
    with LocalServer(tmp_path / "d") as second:
        assert second.token == token
        api = Api(second.url, token)
        assert api.ok("GET", "/api/v1/project_list")["1"]["id"] == ids["project_id"]
        again = api.ok(
            "POST", "/sdk/init_model", {"project_id": ids["project_id"], "model_name": "p-m"}
        )
        assert again["training_id"] == ids["training_id"] + 1
        port = url.split(":")[2].split("/")[0]
        moved = url.replace(f":{port}/", f":{second.url.rsplit(':', 1)[1]}/")
        assert requests.get(moved, timeout=10).content == png(8, 6)


def test_stop_then_start_serves_again_on_the_same_port(server: LocalServer, api: Api) -> None:
    dataset = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": "kept"})
    url = server.url
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/sdk/check_connection", timeout=2)
    assert server.start() is server
    assert server.url == url
    info = api.ok("GET", f"/api/v1/dataset_info/{dataset['dataset_id']}")
    assert info["dataset_name"] == "kept"


def test_token_option_sets_the_default_users_token(tmp_path: Path) -> None:
    with LocalServer(tmp_path / "d", token="my-fixed-token") as local:
        assert local.token == "my-fixed-token"
        assert Api(local.url, "my-fixed-token").ok("GET", "/sdk/check_connection")


def test_bad_port_or_token_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="port must be between 0 and 65535, got 70000"):
        LocalServer(tmp_path / "d", port=70000)  # would bind port 4464 (70000 mod 65536)
    with pytest.raises(ValueError, match="non-empty"):
        LocalServer(tmp_path / "d", token="")  # not silently a random token
    with pytest.raises(ValueError, match="non-empty"):
        LocalServer(tmp_path / "d", token="two words")


def test_a_damaged_storage_key_is_named(tmp_path: Path) -> None:
    with LocalServer(tmp_path / "d"):
        pass
    key = tmp_path / "d" / "storage.key"
    assert len(bytes.fromhex(key.read_text())) == 32
    assert [p.name for p in key.parent.iterdir() if p.name.endswith(".tmp")] == []
    for damaged in ("", "not hex at all"):
        key.write_text(damaged)
        with pytest.raises(ValueError, match=r"storage\.key: not a storage key"):
            LocalServer(tmp_path / "d")


def test_many_threads_at_once(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    errors: list[object] = []

    def send(worker: int) -> None:
        for batch in range(5):
            steps = list(range(batch * 10, batch * 10 + 10))
            body = {**version, "logs": {f"w{worker}": {"step": steps, "value": [1.0] * 10}}}
            response = api.call("POST", "/sdk/post_logs", body)
            if response.status_code != 201:
                errors.append(response.text)
            page = api.call("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 3]})
            if page.status_code != 200 or len(page.json()) != 3:
                errors.append(page.text)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    logs = api.ok("GET", "/sdk/get_logs", version)["logs"]
    assert sorted(logs) == [f"w{i}" for i in range(8)]
    assert all(series["step"] == list(range(50)) for series in logs.values())


# -- faults --------------------------------------------------------------------------------


def test_fail_next_answers_the_given_status_then_recovers(server: LocalServer, api: Api) -> None:
    server.faults.fail_next(2, status=429, retry_after=1.5)
    first = api.call("GET", "/api/v1/project_list")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1.5"
    assert first.json() == {"error": "injected fault"}
    assert api.call("GET", "/api/v1/project_list").status_code == 429
    assert api.call("GET", "/api/v1/project_list").status_code == 200
    server.faults.fail_next(1)
    big = {
        "training_id": 1,
        "network_id": "x",
        "logs": {"a": {"step": [0] * 20000, "value": [0.0] * 20000}},
    }
    assert api.call("POST", "/sdk/post_logs", big).status_code == 503


def test_error_rate_is_reproducible_with_a_seed(server: LocalServer, api: Api) -> None:
    def pattern() -> list[int]:
        server.faults.seed(7)
        return [api.call("GET", "/api/v1/dataset_list").status_code for _ in range(20)]

    server.faults.error_rate = 0.5
    server.faults.error_status = 502
    first = pattern()
    assert first == pattern()
    assert set(first) == {200, 502}
    server.faults.reset()
    assert {api.call("GET", "/api/v1/dataset_list").status_code for _ in range(5)} == {200}


def test_faults_apply_only_to_the_given_paths(server: LocalServer, api: Api) -> None:
    server.faults.paths = ("/sdk/post_logs",)
    server.faults.error_rate = 1.0
    assert api.call("GET", "/sdk/check_connection").status_code == 200
    assert api.call("POST", "/sdk/post_logs", {}).status_code == 503
    server.faults.reset()
    server.faults.latency = 0.3
    server.faults.paths = ("/api/",)
    started = time.monotonic()
    api.ok("GET", "/api/v1/project_list")
    assert time.monotonic() - started >= 0.3  # a lower bound: sleep never returns early
    server.faults.latency = 600.0  # a request it applied to would outlive the 10 s timeout
    api.ok("GET", "/sdk/check_connection")
    # reset() ends the faults of requests already waiting out the latency too
    answers: list[int] = []
    waiting = threading.Thread(
        target=lambda: answers.append(api.call("GET", "/api/v1/project_list").status_code)
    )
    waiting.start()
    time.sleep(0.3)
    assert answers == []  # still waiting
    server.faults.reset()
    waiting.join(5)
    assert answers == [200]


# -- command line --------------------------------------------------------------------------


def test_python_m_serves_until_interrupted(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "picsellia_tf.local", "--data-dir", str(tmp_path / "d"),
               "--port", "0", "--token", "cli-token"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline().strip()
            prefix = "Picsellia local platform at http://127.0.0.1:"
            assert first.startswith(prefix) and int(first[len(prefix) :]) > 0
            url = first.rsplit(" ", 1)[1]
            assert process.stdout.readline().strip() == f"public URL: {url}"
            assert process.stdout.readline().strip() == "token: cli-token"
            assert process.stdout.readline().strip() == f"dashboard: {url}/?token=cli-token"
            me = Api(url, "cli-token").ok("GET", "/sdk/check_connection")
            assert me["organisation"] == "local"
            process.send_signal(signal.SIGINT)  # even before it announced everything
            assert process.wait(timeout=10) == 0
            assert process.stdout.read().strip().endswith("stopped")
            assert process.stderr is not None and "cli-token" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_python_m_names_a_bad_port_without_a_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "picsellia_tf.local", "--data-dir", str(tmp_path / "d"),
               "--port", "70000"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        "picsellia-tf serve: error: port must be between 0 and 65535, got 70000"
    )


def test_only_loopback_addresses_count_as_local() -> None:
    from picsellia_tf.local.command import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "::", "example.org"))


def test_downloads_support_byte_ranges(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    url = api.ok("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [2, 3]})["2"]["url"]
    response = requests.get(url, headers={"Range": "bytes=4-5"}, timeout=10)
    assert response.status_code == 206 and response.content == b"an"


# -- the HTTP server under concurrent requests ---------------------------------------------


def test_the_io_loop_waits_while_requests_run(server: LocalServer, api: Api) -> None:
    """waitress's loop spun (hundreds of passes per request, taking the GIL from the workers)
    while a worker held a connection's output: it now waits, a few passes per request."""
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    clients, posts, failures = 8, 30, []

    def post_logs(tag: str) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {server.token}"
            for i in range(posts):
                steps = list(range(i * 100, i * 100 + 100))
                body = {**version, "logs": {tag: {"step": steps, "value": [0.5] * 100}}}
                response = session.post(f"{server.url}/sdk/post_logs", json=body, timeout=30)
                if response.status_code != 201:
                    failures.append(response.text)

    http = server._server
    assert http is not None
    before = http.passes
    threads = [threading.Thread(target=post_logs, args=(f"t{i}",)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    passes = http.passes - before
    assert not failures, failures[:3]
    logs = api.ok("GET", "/sdk/get_logs", version)["logs"]
    assert all(len(logs[f"t{i}"]["step"]) == posts * 100 for i in range(clients))
    assert passes < 10 * clients * posts, f"{passes} loop passes for {clients * posts} requests"
