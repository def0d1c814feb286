"""The local platform's routes: validation, merges, annotations, stats, resource lifecycles.

Driven with plain ``requests`` over loopback HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from picsellia_tf.local import LocalServer
from tests.helpers.local import Api, png, setup_project


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with LocalServer(tmp_path / "data") as local:
        yield Api(local.url, local.token)


def version_of(ids: dict) -> dict:
    return {"training_id": ids["training_id"], "network_id": ids["network_id"]}


# -- validation ----------------------------------------------------------------------------


def test_bad_bodies_get_400_naming_the_field(api: Api) -> None:
    ids = setup_project(api)
    raw = requests.post(
        api.url + "/api/v1/create_dataset",
        data="{not json",
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=10,
    )
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["error"]
    assert "'type'" in api.error(400, "POST", "/api/v1/create_project", {"project_name": "x"})
    labels = {
        "1": {"label_name": "a", "tool": "rectangle"},
        "2": {"label_name": "b", "tool": "box"},
    }
    message = api.error(
        400,
        "POST",
        "/api/v1/create_project",
        {"project_name": "x", "type": "detection", "labels": labels},
    )
    assert "labels[2].tool" in message and "box" in message
    dupes = {"1": {"label_name": "a", "type": "point"}, "2": {"label_name": "a", "tool": "point"}}
    assert "duplicate label" in api.error(
        400, "PUT", f"/api/v1/project_labels/{ids['project_id']}", {"labels": dupes}
    )
    assert "'dataset_name'" in api.error(400, "POST", "/api/v1/create_dataset", {"dataset_name": 3})
    for bad in ([5, 2], [0], [-1, 3], [0, 20001], ["0", "1"]):
        message = api.error(400, "GET", f"/api/v1/raw_data/{ids['dataset_id']}", {"range": bad})
        assert "field 'range'" in message
    assert "'model_name'" in api.error(
        400, "POST", "/sdk/init_model", {"project_id": ids["project_id"]}
    )
    assert "unknown field(s): 'colour'" in api.error(
        400, "PUT", f"/api/v1/model_infos/{ids['network_id']}", {"colour": "red"}
    )
    assert api.error(404, "GET", "/api/v1/project_infos/nope") == "project 'nope' not found"
    assert "unknown route" in api.error(404, "GET", "/api/v1/nothing")
    assert "not allowed" in api.error(405, "DELETE", "/sdk/check_connection")


def test_empty_page_and_pages_past_the_end(api: Api) -> None:
    ids = setup_project(api)
    path = f"/api/v1/raw_data/{ids['dataset_id']}"
    assert api.ok("GET", path, {"range": [3, 3]}) == {}
    assert list(api.ok("GET", path, {"range": [1, 15]})) == ["1", "2"]
    assert api.ok("GET", path, {"range": [10, 20]}) == {}


# -- training logs -------------------------------------------------------------------------


def test_post_logs_merges_by_tag_and_step(api: Api) -> None:
    ids = setup_project(api)
    version = version_of(ids)
    first = {"loss": {"step": [0, 1, 2], "value": [3.0, 2.0, 1.0], "wall_time": [10.0, 11.0, 12.0]}}
    assert api.ok("POST", "/sdk/post_logs", {**version, "logs": first})["points"] == 3
    again = {"loss": {"step": [1, 3], "value": [1.5, 0.5]}, "acc": {"step": [0], "value": [0.25]}}
    api.ok("POST", "/sdk/post_logs", {**version, "logs": again})
    logs = api.ok("GET", "/sdk/get_logs", version)["logs"]
    assert logs["loss"] == {
        "step": [0, 1, 2, 3],
        "value": [3.0, 1.5, 1.0, 0.5],
        "wall_time": [10.0, None, 12.0, None],
    }
    assert logs["acc"]["value"] == [0.25]


def test_post_logs_keeps_nan_and_infinity(api: Api) -> None:
    ids = setup_project(api)
    version = version_of(ids)
    body = json.dumps(
        {**version, "logs": {"loss": {"step": [0, 1, 2], "value": [math.nan, math.inf, -math.inf]}}}
    )
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    assert requests.post(api.url + "/sdk/post_logs", data=body, headers=headers, timeout=10).ok
    raw = api.call("GET", "/sdk/get_logs", version).text
    assert "NaN" in raw and "-Infinity" in raw
    values = json.loads(raw)["logs"]["loss"]["value"]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]


def test_post_logs_is_all_or_nothing(api: Api) -> None:
    ids = setup_project(api)
    version = version_of(ids)
    body = {"good": {"step": [0, 1], "value": [1.0, 2.0]}, "bad": {"step": [0, 1], "value": [1.0]}}
    message = api.error(400, "POST", "/sdk/post_logs", {**version, "logs": body})
    assert "'bad'" in message and "length" in message
    body = {"good": {"step": [0], "value": [1.0]}, "neg": {"step": [-1], "value": [1.0]}}
    assert "step[0]" in api.error(400, "POST", "/sdk/post_logs", {**version, "logs": body})
    body = {"good": {"step": [0], "value": ["x"]}}
    assert "value[0]" in api.error(400, "POST", "/sdk/post_logs", {**version, "logs": body})
    assert api.ok("GET", "/sdk/get_logs", version)["logs"] == {}
    message = api.error(400, "POST", "/sdk/post_logs", {**version, "training_id": "1", "logs": {}})
    assert "'training_id'" in message


def test_post_logs_takes_ten_thousand_points_in_one_request(api: Api) -> None:
    ids = setup_project(api)
    version = version_of(ids)
    steps = list(range(10000))
    body = {**version, "logs": {"batch/loss": {"step": steps, "value": [s / 7 for s in steps]}}}
    assert api.ok("POST", "/sdk/post_logs", body)["points"] == 10000
    series = api.ok("GET", "/sdk/get_logs", version)["logs"]["batch/loss"]
    assert series["step"] == steps and series["value"][7000] == 1000.0


def test_init_model_answers_get_and_post_by_project_id_or_token(api: Api) -> None:
    project = setup_project(api)["project_id"]
    by_token = {"model_name": "p-m", "project_token": project}  # as the released SDK sends it
    assert api.ok("GET", "/sdk/init_model", by_token)["training_id"] == 2
    both = {**by_token, "project_id": project}
    assert api.ok("POST", "/sdk/init_model", both)["training_id"] == 3
    other = api.ok("POST", "/api/v1/create_project", {"project_name": "q", "type": "detection"})
    message = api.error(
        400, "GET", "/sdk/init_model", {**by_token, "project_id": other["project_id"]}
    )
    assert "name different projects" in message
    assert "'project_token'" in api.error(400, "GET", "/sdk/init_model", {"model_name": "p-m"})
    api.error(404, "GET", "/sdk/init_model", {"model_name": "p-m", "project_token": "nope"})


def test_sdk_routes_answer_the_statuses_and_take_the_fields_the_released_sdk_sends(
    api: Api,
) -> None:
    ids = setup_project(api)
    extra = {"project_token": ids["project_id"]}
    logs = {"loss": {"step": [0], "value": [1.0]}}
    response = api.call("POST", "/sdk/post_logs", {**version_of(ids), **extra, "logs": logs})
    assert response.status_code == 201 and response.json()["message"] == "Metrics saved"
    name = f"{ids['project_id']}/{ids['network_id']}/{ids['training_id']}/results/a.png"
    answer = api.call(
        "GET", "/sdk/get_post_url_preview", {"object_name": name, "bucket_model": False}
    )
    assert answer.status_code == 200
    form = answer.json()["url"]
    upload = requests.post(
        form["url"], data=form["fields"], files={"file": (name, png(3, 3))}, timeout=10
    )
    assert upload.status_code == 204
    response = api.call("POST", "/sdk/post_preview", {**version_of(ids), **extra, "urls": [name]})
    assert response.status_code == 201 and response.json()["message"] == "Preview saved"


def test_training_ids_are_never_reused(api: Api) -> None:
    ids = setup_project(api)
    project, model = ids["project_id"], ids["network_id"]
    second = api.ok("POST", "/sdk/init_model", {"project_id": project, "model_name": "p-m"})
    assert second == {"network_id": model, "training_id": 2}
    api.ok("DELETE", f"/api/v1/delete_experiments/{project}/{model}/2")
    api.error(404, "DELETE", f"/api/v1/delete_experiments/{project}/{model}/2")
    api.error(404, "POST", "/sdk/post_logs", {"training_id": 2, "network_id": model, "logs": {}})
    third = api.ok("POST", "/sdk/init_model", {"project_id": project, "model_name": "p-m"})
    assert third["training_id"] == 3
    infos = api.ok("GET", f"/api/v1/model_infos/{model}")
    assert [e["training_id"] for e in infos["experiments"].values()] == [1, 3]


# -- annotations and stats -----------------------------------------------------------------


def rectangle(label: str) -> dict:
    return {
        "type": "rectangle",
        "label": label,
        "rectangle": {"left": 1, "top": 2, "width": 3, "height": 4},
    }


def test_annotations_upsert_list_and_stats(api: Api) -> None:
    ids = setup_project(api)
    project = ids["project_id"]
    road = {
        "type": "polygon",
        "label": "road",
        "polygon": {"geometry": [{"x": 0, "y": 0}, {"x": 5, "y": 0}, {"x": 5, "y": 5}]},
    }
    items = {
        "1": {
            "external_picture_url": "a.png",
            "time_spent": 10,
            "annotations": [rectangle("car"), road],
        },
        "2": {
            "internal_picture_id": ids["raw"]["1"]["id"],
            "time_spent": 4,
            "annotations": {"1": rectangle("car")},
        },
    }
    body = {"project_id": project, "format": "picsellia", "annotations": items}
    assert api.ok("POST", "/sdk/upload_annotations", body)["count"] == 2
    again = {
        "1": {"external_picture_url": "a.png", "time_spent": 6, "annotations": [rectangle("car")]}
    }
    api.ok("POST", "/sdk/upload_annotations", {**body, "annotations": again})
    page = api.ok("GET", f"/api/v1/annotations/{project}", {"range": [0, 10]})
    assert [page[k]["external_picture_url"] for k in ("0", "1")] == ["a.png", "b.png"]
    assert page["0"]["nb_labels"] == 1 and page["0"]["time_spent"] == 6
    assert page["0"]["annotations"] == [{**rectangle("car"), "polygon": {"geometry": []}}]
    stats = api.ok("GET", f"/api/v1/project_stats/{project}")
    assert stats["labels"] == ["car", "road"]
    assert stats["labels_per_classe"] == [2.0, 0.0] and stats["label_variance"] == 1.0
    assert stats["nb_images_annotated"] == 2 and stats["images_remaining"] == 1
    assert stats["total_time_spent"] == 10.0 and stats["average_time_by_image"] == 5.0
    assert stats["predicted_time"] == 5.0 and stats["percentage_advancement"] == 67
    assert api.ok("GET", f"/api/v1/project_infos/{project}")["metrics"]["nb_annotations"] == 2


def test_invalid_annotations_name_item_and_store_nothing(api: Api) -> None:
    ids = setup_project(api)
    project = ids["project_id"]

    def upload(shape: dict) -> str:
        items = {"1": {"external_picture_url": "a.png", "annotations": [rectangle("car")]},
                 "2": {"external_picture_url": "b.png", "annotations": [shape]}}  # fmt: skip
        body = {"project_id": project, "format": "picsellia", "annotations": items}
        return api.error(400, "POST", "/sdk/upload_annotations", body)

    assert "annotations[2].annotations[0].label" in upload(rectangle("bike"))
    flat = {**rectangle("car"), "rectangle": {"left": 1, "top": 2, "width": 0, "height": 4}}
    assert "rectangle.width" in upload(flat)
    line = {"type": "polygon", "label": "road", "polygon": {"geometry": [{"x": 1, "y": 1}] * 3}}
    assert "distinct points" in upload(line)
    assert "annotations[2].annotations[0].type" in upload({**rectangle("car"), "type": "circle"})
    assert api.ok("GET", f"/api/v1/annotations/{project}", {"range": [0, 10]}) == {}
    body = {"project_id": project, "format": "other", "annotations": {}}
    assert "'format'" in api.error(400, "POST", "/sdk/upload_annotations", body)
    missing = {"1": {"external_picture_url": "zzz.png", "annotations": []}}
    body = {"project_id": project, "format": "picsellia", "annotations": missing}
    assert "annotations[1].external_picture_url" in api.error(
        404, "POST", "/sdk/upload_annotations", body
    )


# -- resources -----------------------------------------------------------------------------


def test_project_lifecycle_and_settings(api: Api) -> None:
    ids = setup_project(api)
    project, model = ids["project_id"], ids["network_id"]
    path = f"/api/v1/project_collaborators/{project}"
    team = {"1": {"email": "ann@x.io", "role": "labeler"}}
    api.ok("PUT", path, {"collaborators": team})
    joined = api.ok("GET", path)["1"]["date_joigned"]
    team["2"] = {"email": "bo@x.io", "role": "admin"}
    api.ok("PUT", path, {"collaborators": team})
    members = api.ok("GET", path)
    assert members["1"] == {
        "email": "ann@x.io",
        "username": "ann",
        "role": "labeler",
        "date_joigned": joined,
    }
    assert "collaborators[0].email" in api.error(
        400, "PUT", path, {"collaborators": [{"email": "x", "role": "admin"}]}
    )
    api.ok("PUT", f"/api/v1/project_infos/{project}", {"description": "d2"})
    api.ok("POST", "/api/v1/create_project", {"project_name": "q", "type": "classification"})
    api.error(409, "PUT", f"/api/v1/project_infos/{project}", {"project_name": "q"})
    api.error(409, "POST", "/api/v1/create_project", {"project_name": "q", "type": "detection"})
    api.error(
        404,
        "POST",
        "/api/v1/create_project",
        {"project_name": "r", "type": "detection", "dataset_name": "none"},
    )
    links = {"model_id": model, "labels": {"1": {"label_name": "car", "link_with": "vehicle"}}}
    api.ok("PUT", f"/api/v1/project_auto/{project}", links)
    bad = {"model_id": model, "labels": {"1": {"label_name": "tree", "link_with": "x"}}}
    assert "labels[1].label_name" in api.error(400, "PUT", f"/api/v1/project_auto/{project}", bad)
    qa = {"image_qa": {"1": {"question": "Blurry?", "type": "choice", "values": ["yes", "no"]}}}
    api.ok("PUT", f"/api/v1/project_qa/{project}", qa)
    wrong = {"shape_qa": {"1": {"question": "Size?", "type": "range", "min": 3, "max": 1}}}
    assert "shape_qa[1]" in api.error(400, "PUT", f"/api/v1/project_qa/{project}", wrong)
    infos = api.ok("GET", f"/api/v1/project_infos/{project}")
    assert infos["description"] == "d2" and infos["image_qa"]["1"]["values"] == ["yes", "no"]
    assert infos["shape_qa"] == {} and infos["models"]["1"]["model_id"] == model
    api.ok("PUT", f"/api/v1/delete_project/{project}/{model}")
    api.error(404, "PUT", f"/api/v1/delete_project/{project}/{model}")
    assert "not attached" in api.error(400, "PUT", f"/api/v1/project_auto/{project}", links)
    api.ok("POST", f"/api/v1/attach_model/{project}/{model}")
    api.ok("POST", f"/api/v1/attach_model/{project}/{model}")
    assert len(api.ok("GET", f"/api/v1/project_infos/{project}")["models"]) == 1
    api.error(409, "DELETE", f"/api/v1/dataset/{ids['dataset_id']}")
    api.ok("DELETE", f"/api/v1/delete_project/{project}")
    api.error(404, "GET", f"/api/v1/project_stats/{project}")
    # The project's experiment versions went with it; the model stays.
    assert api.ok("GET", f"/api/v1/model_infos/{model}")["experiments"] == {}
    api.ok("DELETE", f"/api/v1/dataset/{ids['dataset_id']}")
    assert [d["dataset_name"] for d in api.ok("GET", "/api/v1/dataset_list").values()] == []


def test_models_list_update_and_delete(api: Api) -> None:
    ids = setup_project(api)
    model = ids["network_id"]
    api.ok(
        "POST",
        "/sdk/post_logs",
        {**version_of(ids), "logs": {"loss": {"step": [0], "value": [1.0]}}},
    )
    listed = api.ok("GET", "/api/v1/models_list")["0"]
    assert listed["model_name"] == "p-m" and listed["model_type"] == "detection"
    assert listed["used_in"]["0"]["project_type"] == "detection"
    api.ok(
        "PUT",
        f"/api/v1/model_infos/{model}",
        {"model_name": "renamed", "tags": ["a", "b"], "private": False},
    )
    infos = api.ok("GET", f"/api/v1/model_infos/{model}")
    assert (infos["model_name"], infos["tags"], infos["private"]) == ("renamed", ["a", "b"], False)
    assert "tags[1]" in api.error(400, "PUT", f"/api/v1/model_infos/{model}", {"tags": ["a", 2]})
    api.ok("DELETE", f"/api/v1/delete_model/{model}")
    api.error(404, "GET", "/sdk/get_logs", version_of(ids))
    assert api.ok("GET", f"/api/v1/project_infos/{ids['project_id']}")["models"] == {}


def test_raw_data_replace_info_and_delete(api: Api) -> None:
    ids = setup_project(api)
    dataset = ids["dataset_id"]
    a_id = ids["raw"]["0"]["id"]
    replaced = api.ok(
        "POST", f"/api/v1/raw_data/{dataset}", files=[("files", ("dir/a.png", png(3, 9)))]
    )
    assert replaced["0"]["id"] == a_id and replaced["0"]["shape"] == [3, 9]
    assert requests.get(replaced["0"]["url"], timeout=10).content == png(3, 9)
    info = api.ok("GET", f"/api/V1/dataset/{dataset}/a.png")
    assert (info["id"], info["type"], info["format"], info["shape"]) == (
        a_id,
        "image",
        "png",
        [3, 9],
    )
    assert info["size"] == pytest.approx(len(png(3, 9)) / 1e6)
    text = api.ok("GET", f"/api/v1/dataset/{dataset}", {"filename": "notes.txt"})
    assert (text["type"], text["format"], text["shape"]) == ("file", "txt", None)
    assert api.ok("GET", f"/api/v1/dataset/{dataset}/{a_id}")["external_url"] == "a.png"
    api.error(404, "GET", f"/api/v1/dataset/{dataset}/zzz.png")
    body = {"project_id": ids["project_id"], "format": "picsellia",
            "annotations": [{"external_picture_url": "a.png", "annotations": [rectangle("car")]}]}  # fmt: skip
    api.ok("POST", "/sdk/upload_annotations", body)
    api.ok("DELETE", f"/api/v1/raw_data/{dataset}", {"raw_id": a_id})
    assert requests.get(info["url"], timeout=10).status_code == 404
    assert api.ok("GET", f"/api/v1/annotations/{ids['project_id']}", {"range": [0, 5]}) == {}
    assert api.ok("GET", f"/api/v1/dataset_info/{dataset}")["dataset_size"] == 2
    assert "'raw_id'" in api.error(400, "DELETE", f"/api/v1/raw_data/{dataset}", {})
    api.error(404, "DELETE", f"/api/v1/raw_data/{dataset}", {"filename": "a.png"})


def test_raw_upload_limits_name_the_problem(api: Api) -> None:
    dataset = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": "limits"})["dataset_id"]
    path = f"/api/v1/raw_data/{dataset}"
    twice = [("files", ("a.png", b"1")), ("files", ("b.png", b"2")), ("files", ("a.png", b"3"))]
    assert api.error(400, "POST", path, files=twice) == (
        "field 'files[2]': duplicate filename 'a.png'"
    )
    too_many = [("files", (f"{i}.txt", b"x")) for i in range(1001)]
    assert "more than 1000 parts" in api.error(413, "POST", path, files=too_many)
    assert len(api.ok("POST", path, files=too_many[:1000])) == 1000
    assert api.ok("GET", f"/api/v1/dataset_info/{dataset}")["dataset_size"] == 1000


def test_datasets_and_projects_rename_and_describe_alike(api: Api) -> None:
    ids = setup_project(api)
    api.ok("POST", "/api/v1/create_dataset", {"dataset_name": "taken"})
    for path, name_field in (
        (f"/api/v1/dataset_info/{ids['dataset_id']}", "dataset_name"),
        (f"/api/v1/project_infos/{ids['project_id']}", "project_name"),
    ):
        api.ok("PUT", path, {name_field: "fresh", "description": "d"})
        assert f"'{name_field}'" in api.error(400, "PUT", path, {})
        assert "'description'" in api.error(400, "PUT", path, {"description": None})
        assert f"'{name_field}'" in api.error(400, "PUT", path, {name_field: " "})
    api.error(409, "PUT", f"/api/v1/dataset_info/{ids['dataset_id']}", {"dataset_name": "taken"})
    dataset = api.ok("GET", f"/api/v1/dataset_info/{ids['dataset_id']}")
    project = api.ok("GET", f"/api/v1/project_infos/{ids['project_id']}")
    assert (dataset["dataset_name"], dataset["description"]) == ("fresh", "d")
    assert (project["project_name"], project["description"]) == ("fresh", "d")
