"""The local platform's files: replaced bytes get a new name, deletions leave no orphan file,
upload forms die with their experiment version, a killed server's leftovers go at start-up.

Driven with plain ``requests`` over loopback HTTP; the data folder is inspected directly.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import requests

from picsellia_tf.local import LocalServer
from picsellia_tf.local.server import DataDirBusy
from tests.helpers.local import Api, png, setup_project


@pytest.fixture
def api(server: LocalServer) -> Api:
    return Api(server.url, server.token)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def folders_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


def upload_preview(api: Api, ids: dict, name: str) -> str:
    object_name = f"{ids['project_id']}/{ids['network_id']}/{ids['training_id']}/results/{name}"
    answer = api.ok("GET", "/sdk/get_post_url_preview", {"object_name": object_name})
    form = answer["url"] if isinstance(answer.get("url"), dict) else answer
    response = requests.post(
        form["url"], data=form["fields"], files={"file": (name, png(3, 3))}, timeout=10
    )
    assert response.status_code == 204, response.text
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    assert api.call("POST", "/sdk/post_preview", {**version, "urls": [object_name]}).ok
    return object_name


def test_a_replaced_file_gets_a_new_name_and_the_old_bytes_go(server: LocalServer, api: Api):
    ids = setup_project(api)
    dataset = ids["dataset_id"]
    before = api.ok("GET", f"/api/v1/raw_data/{dataset}", {"range": [0, 1]})["0"]
    after = api.ok("POST", f"/api/v1/raw_data/{dataset}", files=[("files", ("a.png", png(7, 7)))])
    after = after["0"]
    assert after["id"] == before["id"] and after["url"] != before["url"]
    # the old URL never serves the new bytes under the old checksum
    assert requests.get(before["url"], timeout=10).status_code == 404
    content = requests.get(after["url"], timeout=10).content
    assert hashlib.sha256(content).hexdigest() == after["checksum"]
    objects = server.data_dir / "objects" / "datasets" / dataset
    assert len(files_under(objects)) == 3  # a.png (new), b.png, notes.txt
    assert len(folders_under(objects)) == 3  # the replaced one's folder went too


def test_deletions_leave_no_orphan_file(server: LocalServer, api: Api) -> None:
    objects = server.data_dir / "objects"
    ids = setup_project(api)
    upload_preview(api, ids, "epoch_1.png")
    second = api.ok(
        "POST", "/sdk/init_model", {"project_id": ids["project_id"], "model_name": "p-m"}
    )
    upload_preview(api, {**ids, **second}, "epoch_1.png")
    assert len(files_under(objects)) == 5
    # a version: its previews' files
    path = f"/api/v1/delete_experiments/{ids['project_id']}/{ids['network_id']}"
    api.ok("DELETE", f"{path}/{ids['training_id']}")
    assert not any(f"/{ids['training_id']}/" in name for name in files_under(objects))
    # a raw data, a project (its versions' previews), a model, a dataset
    api.ok("DELETE", f"/api/v1/raw_data/{ids['dataset_id']}", {"filename": "notes.txt"})
    assert len(files_under(objects)) == 3
    api.ok("DELETE", f"/api/v1/delete_project/{ids['project_id']}")
    assert len(files_under(objects)) == 2
    api.ok("DELETE", f"/api/v1/delete_model/{ids['network_id']}")
    api.ok("DELETE", f"/api/v1/dataset/{ids['dataset_id']}")
    assert files_under(objects) == [] and folders_under(objects) == []
    assert files_under(server.data_dir / "tmp") == []


def test_deleting_a_version_or_its_model_kills_its_upload_forms(api: Api) -> None:
    ids = setup_project(api)
    name = f"{ids['project_id']}/{ids['network_id']}/{ids['training_id']}/results/late.png"
    answer = api.ok("GET", "/sdk/get_post_url_preview", {"object_name": name})
    form = answer["url"] if isinstance(answer.get("url"), dict) else answer
    path = f"/api/v1/delete_experiments/{ids['project_id']}/{ids['network_id']}"
    api.ok("DELETE", f"{path}/{ids['training_id']}")
    response = requests.post(
        form["url"], data=form["fields"], files={"file": ("late.png", png(2, 2))}, timeout=10
    )
    assert response.status_code == 404
    assert f"experiment version {ids['training_id']}" in response.json()["error"]


def test_a_killed_servers_leftovers_go_at_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalServer(data) as local:
        api = Api(local.url, local.token)
        ids = setup_project(api)
    # what a kill leaves: temporary files, bytes placed but never switched to, a deletion
    # committed but not carried out
    (data / "tmp" / "half-written").write_bytes(b"x" * 100)
    stray = data / "objects" / "datasets" / ids["dataset_id"] / "never-switched" / "a.png"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not the row's bytes")
    db = sqlite3.connect(data / "picsellia.db")
    with db:
        db.execute(
            "INSERT INTO trash (name, tree) VALUES (?, 0)",
            (str(stray.relative_to(data / "objects")),),
        )
        db.execute("INSERT INTO trash (name, tree) VALUES (?, 1)", ("gone-project",))
    db.close()
    (data / "objects" / "gone-project" / "m" / "1" / "results").mkdir(parents=True)
    (data / "objects" / "gone-project" / "m" / "1" / "results" / "p.png").write_bytes(b"p")
    with LocalServer(data) as local:
        assert files_under(data / "tmp") == []
        assert not stray.exists() and not stray.parent.exists()
        assert not (data / "objects" / "gone-project").exists()
        page = Api(local.url, local.token).ok(
            "GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 5]}
        )
        assert len(page) == 3 and all(requests.get(i["url"], timeout=10).ok for i in page.values())


def test_one_server_per_data_directory(tmp_path: Path) -> None:
    with LocalServer(tmp_path / "d"):
        second = LocalServer(tmp_path / "d")
        with pytest.raises(DataDirBusy, match="is being served by another server"):
            second.start()
        second.stop()
    with LocalServer(tmp_path / "d") as again:  # free once the first stopped
        assert Api(again.url, again.token).ok("GET", "/sdk/check_connection")
