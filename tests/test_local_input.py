"""Hostile input to the local platform: out-of-range, too deep, too long or unencodable values
are 400s naming the field (never 500s); storage answers cannot run as pages of the API's
origin; handed-out URLs never follow the request's Host header.

Driven with plain ``requests`` over loopback HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from picsellia_tf.local import LocalServer
from tests.helpers.local import Api, multipart, png, setup_project


@pytest.fixture
def api(server: LocalServer) -> Api:
    return Api(server.url, server.token)


def raw_json(api: Api, method: str, path: str, text: str) -> requests.Response:
    """A request whose JSON body is ``text`` exactly (lone surrogates, huge numbers...)."""
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    return requests.request(method, api.url + path, data=text.encode(), headers=headers, timeout=30)


def bad(response: requests.Response, *words: str) -> str:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    message: str = response.json()["error"]
    assert all(word in message for word in words), message
    return message


def test_numbers_out_of_range_are_400_naming_the_field(api: Api) -> None:
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}

    def logs(step: object, value: object) -> dict:
        return {**version, "logs": {"loss": {"step": [step], "value": [value]}}}

    bad(api.call("POST", "/sdk/post_logs", logs(10**19, 1.0)), "step[0]", "from 0 to", "got 10000")
    bad(api.call("POST", "/sdk/post_logs", logs(1, 10**400)), "value[0]")
    bad(api.call("POST", "/sdk/post_logs", logs(2**63, 1.0)), "step[0]")
    big_id = {**version, "training_id": 2**63, "logs": {}}
    bad(api.call("POST", "/sdk/post_logs", big_id), "'training_id'", "out of range")
    raw_path = f"/api/v1/raw_data/{ids['dataset_id']}"
    bad(api.call("GET", raw_path, {"range": [0, 2**63]}), "'range'")
    bad(api.call("GET", raw_path, {"range": [2**64, 2**64 + 1]}), "'range'")
    digits = '{"range": [0, ' + "9" * 5000 + "]}"
    bad(raw_json(api, "GET", raw_path, digits), "not valid JSON")
    path = f"/api/v1/delete_experiments/{ids['project_id']}/{ids['network_id']}/{'9' * 20}"
    bad(api.call("DELETE", path), "'training_id'", "out of range")
    box = {"type": "rectangle", "label": "car",
           "rectangle": {"left": 10**400, "top": 0, "width": 1, "height": 1}}  # fmt: skip
    body = {"project_id": ids["project_id"], "format": "picsellia",
            "annotations": [{"external_picture_url": "a.png", "annotations": [box]}]}  # fmt: skip
    bad(api.call("POST", "/sdk/upload_annotations", body), "annotations[0].annotations[0]")
    # and the valid request still works
    assert api.call("POST", "/sdk/post_logs", logs(2**63 - 1, 1e308)).status_code in (200, 201)


def test_deep_long_and_unencodable_bodies_are_400(api: Api) -> None:
    ids = setup_project(api)
    bad(raw_json(api, "POST", "/api/v1/create_dataset", "[" * 100_000), "nested too deep")
    deep = '{"dataset_name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    bad(raw_json(api, "POST", "/api/v1/create_dataset", deep), "nested too deep")
    surrogate = '{"dataset_name": "a\\ud800b"}'
    bad(raw_json(api, "POST", "/api/v1/create_dataset", surrogate), "'dataset_name'", "Unicode")
    paired = '{"dataset_name": "emoji \\ud83d\\ude00"}'
    assert raw_json(api, "POST", "/api/v1/create_dataset", paired).status_code == 200
    tag = (
        f'{{"training_id": {ids["training_id"]}, "network_id": "{ids["network_id"]}", '
        '"logs": {"\\udfff": {"step": [0], "value": [1]}}}'
    )
    bad(raw_json(api, "POST", "/sdk/post_logs", tag), "a key of field 'logs'", "Unicode")
    an_id = '{"project_id": "\\ud800", "model_name": "m"}'
    bad(raw_json(api, "POST", "/sdk/init_model", an_id), "'project_id'")
    long_name = {"dataset_name": "n" * 1001}
    bad(api.call("POST", "/api/v1/create_dataset", long_name), "'dataset_name'", "longer than")
    qa = {"image_qa": {"1": {"question": "q", "type": "choice", "values": [[[[[[[[[1]]]]]]]]]}}}
    project = f"/api/v1/project_qa/{ids['project_id']}"
    assert api.call("PUT", project, qa).status_code == 200  # 9 levels are fine
    deep_qa = {"image_qa": {"1": {"question": "q", "type": "choice", "values": [1]}}}
    nested: list = [1]
    for _ in range(40):
        nested = [nested]
    deep_qa["image_qa"]["1"]["values"] = nested
    bad(api.call("PUT", project, deep_qa), "image_qa[1].values", "nested deeper")
    step = {"training_id": ids["training_id"], "network_id": ids["network_id"],
            "logs": {"loss": {"step": [[[[0]]]], "value": [1]}}}  # fmt: skip
    bad(api.call("POST", "/sdk/post_logs", step), "step[0]", "got a list")


def test_bad_object_and_file_names_are_400_naming_the_field(api: Api) -> None:
    ids = setup_project(api)
    head = f"{ids['project_id']}/{ids['network_id']}/{ids['training_id']}/results"
    long_file = f"{head}/{'x' * 300}.png"
    bad(api.call("GET", "/sdk/get_post_url_preview", {"object_name": long_file}), "object_name")
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    bad(api.call("POST", "/sdk/post_preview", {**version, "urls": [long_file]}), "urls[0]")
    newline = f"{head}/a\nb.png"
    bad(api.call("GET", "/sdk/get_post_url_preview", {"object_name": newline}), "control")
    path = f"/api/v1/raw_data/{ids['dataset_id']}"
    for name in ("a\nb.png", "a\rb.png", "tab\there.png", "del\x7f.png", "c1\x85.png"):
        body, content_type = multipart([("fine.png", png(2, 2)), (name, png(2, 2))])
        response = api.call("POST", path, data=body, headers={"Content-Type": content_type})
        message = bad(response, "files[1]", "control characters")
        assert "\n" not in message
    too_long = [("files", ("é" * 200 + ".png", png(2, 2)))]  # 405 bytes in UTF-8
    bad(api.call("POST", path, files=too_long), "files[0]", "longer than 255 bytes")
    page = api.ok("GET", path, {"range": [0, 100]})
    assert sorted(item["external_url"] for item in page.values()) == ["a.png", "b.png", "notes.txt"]
    # names that are fine on every file system are stored and can be downloaded
    odd = [("files", ("ünï cødé #1 %20?.png", png(3, 3)))]
    item = api.ok("POST", path, files=odd)["0"]
    assert requests.get(item["url"], timeout=10).content == png(3, 3)


def test_storage_answers_never_run_as_pages(api: Api) -> None:
    ids = setup_project(api)
    path = f"/api/v1/raw_data/{ids['dataset_id']}"
    files = [
        ("files", ("page.html", b"<script>alert(1)</script>")),
        ("files", ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='x()'/>")),
        ("files", ("photo.png", png(4, 4))),
    ]
    uploaded = api.ok("POST", path, files=files)
    for item in uploaded.values():
        response = requests.get(item["url"], timeout=10)
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        disposition = response.headers.get("Content-Disposition", "")
        if item["external_url"] == "photo.png":
            assert (
                response.headers["Content-Type"] == "image/png" and "attachment" not in disposition
            )
        else:
            assert disposition.startswith("attachment")
            assert response.headers["Content-Security-Policy"] == "sandbox"
    accented = uploaded["2"]["url"].rsplit("signature=", 1)[0] + "signature=%C3%A9"
    assert requests.get(accented, timeout=10).status_code == 403  # was a TypeError, a 500
    missing = requests.get(api.url + "/storage/nothing?expires=1&signature=x", timeout=10)
    assert missing.status_code == 403 and missing.headers["X-Content-Type-Options"] == "nosniff"
    assert api.call("GET", "/sdk/check_connection").headers["X-Content-Type-Options"] == "nosniff"


def test_handed_out_urls_ignore_the_host_header(server: LocalServer, api: Api) -> None:
    ids = setup_project(api)
    evil = {"Host": "evil.example:666"}
    page = api.ok("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 1]}, headers=evil)
    assert page["0"]["url"].startswith(server.url + "/storage/")
    name = f"{ids['project_id']}/{ids['network_id']}/{ids['training_id']}/results/a.png"
    form = api.ok("GET", "/sdk/get_post_url_preview", {"object_name": name}, headers=evil)
    form = form.get("url", form) if isinstance(form.get("url"), dict) else form
    assert form["url"] == server.url + "/storage/upload"


def test_the_public_url_is_the_base_of_handed_out_urls(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        LocalServer(tmp_path / "d", public_url="files.example")
    public = "https://proxy.example/picsellia"
    with LocalServer(tmp_path / "d", public_url=public + "/") as local:
        assert local.public_url == public
        api = Api(local.url, local.token)
        ids = setup_project(api)
        page = api.ok("GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": [0, 1]})
        url = page["0"]["url"]
        assert url.startswith(public + "/storage/datasets/")
        # what the proxy forwards (the path below the public URL) is what the server signed
        assert requests.get(local.url + url[len(public) :], timeout=10).content == png(8, 6)
