"""picsellia_tf.wire: index-keyed objects, the reference's field names and typos, encoders."""

from __future__ import annotations

import math

import numpy as np
import pytest

from picsellia_tf import wire
from picsellia_tf.errors import ValidationError
from picsellia_tf.types import (
    Account,
    Collaborator,
    ImageAnnotation,
    Label,
    LabelLink,
    QAQuestion,
    Rectangle,
    Shape,
)


def test_from_indexed_orders_by_integer_key_not_text():
    obj = {"10": "j", "9": "i", "1": "a", "2": "b"}
    assert wire.from_indexed(obj) == ["a", "b", "i", "j"]
    assert wire.from_indexed({"0": "x", "1": "y"}) == ["x", "y"]
    assert wire.from_indexed(["p", "q"]) == ["p", "q"]
    assert wire.from_indexed(None) == []


@pytest.mark.parametrize("bad", ["text", 3, {"one": 1}])
def test_from_indexed_rejects_other_shapes_naming_where(bad):
    with pytest.raises(wire.WireError, match="project_list"):
        wire.from_indexed(bad, "project_list")


def test_to_indexed_numbers_from_one_and_round_trips():
    assert wire.to_indexed(["a", "b"]) == {"1": "a", "2": "b"}
    assert wire.to_indexed(["a"], start=0) == {"0": "a"}
    items = [f"item{i}" for i in range(12)]
    assert wire.from_indexed(wire.to_indexed(items)) == items


def test_parse_project_infos_with_reference_example():
    project = wire.parse_project(
        {
            "id": "e403",
            "project_name": "my_first_project",
            "type": "segmentation",
            "dataset": {"dataset_id": "a0c2", "dataset_name": "awesome_planes"},
            "labels": {
                "2": {"label_name": "bird", "tool": "polygon"},
                "1": {"label_name": "plane", "type": "polygon"},
            },
            "collaborators": {"1": {"email": "john.doe@picsellia.com", "role": "admin"}},
            "models": {"1": {"model_id": "3c36", "model_name": "MaskR-CNN"}},
            "metrics": {"nb_annotations": 13200},
        }
    )
    assert project.name == "my_first_project" and project.type == "segmentation"
    assert project.dataset is not None and project.dataset.name == "awesome_planes"
    assert project.labels == [Label("plane", "polygon"), Label("bird", "polygon")]
    assert project.collaborators[0].role == "admin"
    assert project.models[0].id == "3c36"
    assert project.nb_annotations == 13200
    assert project.image_qa == [] and project.private is None


def test_parse_collaborator_reads_date_joigned_typo():
    c = wire.parse_collaborator(
        {"email": "g@x.com", "username": "gina", "role": "reviewer", "date_joigned": "14-06-2020"}
    )
    assert c == Collaborator("g@x.com", "reviewer", "gina", "14-06-2020")


def test_parse_model_reads_predicatble_typo_and_indexed_used_in():
    model = wire.parse_model(
        {
            "model_id": "m1",
            "model_name": "net",
            "model_type": "detection",
            "tags": ["coco"],
            "predicatble": True,
            "trainable": False,
            "used_in": {"0": {"project_id": "p", "project_name": "P", "project_type": "detection"}},
            "experiments": {"1": {"training_id": 2, "project_id": "p"}, "0": {"training_id": 1}},
        }
    )
    assert model.predictable is True and model.trainable is False
    assert model.used_in[0].type == "detection"
    assert [e.training_id for e in model.experiments] == [1, 2] and model.versions_listed
    # The reference's model_infos lists no versions: "not listed", not "none".
    bare = wire.parse_model({"model_id": "m1", "model_name": "net", "used_in": {}})
    assert bare.experiments == [] and not bare.versions_listed


def test_parse_account_takes_the_reference_answer_alone():
    assert wire.parse_account({"project_id": "p1"}) == Account(project_id="p1")
    assert wire.parse_account({}) == Account()
    local = {"username": "ann", "email": "ann@x.org", "organisation": "o", "project_id": None}
    assert wire.parse_account(local) == Account("ann", "ann@x.org", "o")
    with pytest.raises(wire.WireError, match="'username' should be a string"):
        wire.parse_account({"username": ["ann"]})
    with pytest.raises(wire.WireError, match="expected an object"):
        wire.parse_account("Connection established")


def test_parse_presigned_post_nested_and_flat():
    form = {"url": "https://s3.example/bucket", "fields": {"key": "k", "policy": "p"}}
    assert wire.parse_presigned_post({"url": form}) == (form["url"], form["fields"])
    assert wire.parse_presigned_post(form) == (form["url"], form["fields"])
    with pytest.raises(wire.WireError, match="missing field 'url'"):
        wire.parse_presigned_post({"url": {"fields": {}}})
    with pytest.raises(wire.WireError, match="'fields' should be a dict, got nothing"):
        wire.parse_presigned_post({"url": {"url": "https://s3.example/b"}})


def test_parse_stats_renames_fields_and_empty_total_time():
    stats = wire.parse_project_stats(
        {
            "labels": ["car"],
            "labels_per_classe": [3.0],
            "label_variance": 0,
            "time_per_image": [3, 4],
            "assets_per_image": [1.0, 2.0],
            "nb_images_annotated": 2,
            "images_remaining": 0,
            "total_time_spent": "",
            "total_labels_submitted": 3,
            "average_time_by_image": 3.5,
            "mean_assets_per_images": 1.5,
            "predicted_time": 0,
            "percentage_advancement": 100,
        }
    )
    assert stats.labels_per_class == [3.0] and stats.mean_assets_per_image == 1.5
    assert stats.total_time_spent is None and stats.percentage_advancement == 100.0


def test_parse_annotation_left_is_x_top_is_y():
    ann = wire.parse_image_annotation(
        {
            "internal_picture_id": "r1",
            "external_picture_url": "a.png",
            "nb_labels": 2,
            "time_spent": 12.5,
            "QandA": {},
            "annotations": [
                {
                    "type": "rectangle",
                    "label": "car",
                    "rectangle": {"left": 10, "top": 20, "width": 30, "height": 40},
                    "polygon": {"geometry": []},
                },
                {
                    "type": "polygon",
                    "label": "road",
                    "rectangle": {},
                    "polygon": {"geometry": [{"x": 1, "y": 2}, {"x": 5, "y": 2}, {"x": 5, "y": 9}]},
                },
            ],
        }
    )
    assert ann.image_id == "r1" and ann.filename == "a.png" and ann.time_spent == 12.5
    assert ann.shapes[0].rectangle == Rectangle(10, 20, 30, 40)
    assert ann.shapes[1].rectangle is None
    assert ann.shapes[1].points == [(1, 2), (5, 2), (5, 9)]


def test_parse_raw_data_and_data_row():
    raw = wire.parse_raw_data(
        {"id": "r", "external_url": "a.png", "shape": [64, 32], "url": "u", "size": 10}
    )
    assert raw.filename == "a.png" and raw.shape == (64, 32) and raw.size == 10
    row = wire.parse_data_row(
        {
            "id": "r",
            "external_url": "a.png",
            "size": 3.4,
            "import_date": "05-28-2020",
            "shape": None,
        }
    )
    assert row.size_mb == 3.4 and row.shape is None and row.import_date == "05-28-2020"
    assert raw.url == "u" and row.url is None  # a file name is no download URL


def test_an_external_url_that_is_a_url_is_the_download_url():
    url = "https://cdn.example/datasets/d1/My%20cat.jpg?X-Amz-Signature=abc"
    raw = wire.parse_raw_data({"id": "r", "external_url": url, "shape": [4, 3]})
    assert (raw.filename, raw.url, raw.checksum) == ("My cat.jpg", url, None)
    signed = wire.parse_raw_data({"id": "r", "external_url": url, "url": "https://local/x"})
    assert signed.url == "https://local/x"
    row = wire.parse_data_row({"id": "r", "external_url": url, "object_name": "o"})
    assert (row.filename, row.url) == ("My cat.jpg", url)


def test_parse_reports_missing_field_and_where():
    with pytest.raises(wire.WireError, match=r"dataset: missing field 'dataset_name'"):
        wire.parse_dataset({"dataset_id": "x"})
    with pytest.raises(wire.WireError, match=r"annotations\[0\].rectangle: missing field .width."):
        wire.parse_image_annotation(
            {
                "annotations": [
                    {"type": "rectangle", "label": "c", "rectangle": {"left": 1, "top": 1}}
                ]
            }
        )


def test_encode_labels_accepts_every_form_and_sends_tool():
    body = wire.encode_labels(
        [Label("a", "polygon"), ("b", "line"), {"label_name": "c", "type": "point"}, "d"]
    )
    assert body == {
        "1": {"label_name": "a", "tool": "polygon"},
        "2": {"label_name": "b", "tool": "line"},
        "3": {"label_name": "c", "tool": "point"},
        "4": {"label_name": "d", "tool": "rectangle"},
    }


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            [("a", "circle")],
            r"labels\[0\]\.tool: expected one of rectangle, polygon, line, point, got 'circle'",
        ),
        ([("", "polygon")], r"labels\[0\]\.name: expected a non-empty string"),
        ([("a", "polygon"), ("a", "line")], r"labels\[1\]: label 'a' appears twice"),
        ("a", "labels: expected a list"),
        ([42], r"labels\[0\]: expected a Label"),
    ],
)
def test_encode_labels_rejects_bad_input(labels, message):
    with pytest.raises(ValidationError, match=message):
        wire.encode_labels(labels)


def test_encode_collaborators_and_links():
    team = wire.encode_collaborators(
        [("a@x.com", "labeler"), {"email": "b@x.com", "role": "admin"}]
    )
    assert team["2"] == {"email": "b@x.com", "role": "admin"}
    with pytest.raises(ValidationError, match=r"team\[0\]\.role: expected one of .*, got 'boss'"):
        wire.encode_collaborators([("a@x.com", "boss")], "team")
    with pytest.raises(ValidationError, match="not an email"):
        wire.encode_collaborators([("ax.com", "admin")])
    links = wire.encode_label_links([LabelLink("car", "vehicle"), ("dog", "animal")])
    assert links == {
        "1": {"label_name": "car", "link_with": "vehicle"},
        "2": {"label_name": "dog", "link_with": "animal"},
    }


def test_encode_qa_checks_each_type():
    body = wire.encode_qa(
        [
            QAQuestion("Doing?"),
            {"question": "How many?", "type": "range", "min": 0, "max": 50},
            QAQuestion("Bright?", "choice", values=[0, 1, 2]),
        ]
    )
    assert body["2"] == {"question": "How many?", "type": "range", "min": 0, "max": 50}
    assert body["3"]["values"] == [0, 1, 2]
    with pytest.raises(ValidationError, match="min .* less than max"):
        wire.encode_qa([QAQuestion("q", "range", min=5, max=5)])
    with pytest.raises(ValidationError, match="non-empty list of values"):
        wire.encode_qa([QAQuestion("q", "mc", values=[])])
    with pytest.raises(
        ValidationError, match="type: expected one of text, range, choice, mc, got 'yesno'"
    ):
        wire.encode_qa([QAQuestion("q", "yesno")])


def test_encode_annotations_round_trip_through_parse():
    ann = ImageAnnotation(
        "r1",
        [
            Shape("rectangle", "car", Rectangle(1, 2, 3, 4)),
            Shape("polygon", "road", points=[(0, 0), (4, 0), (4, 4)]),
        ],
        time_spent=2.0,
    )
    body = wire.encode_image_annotations([ann])
    item = body["1"]
    assert item["internal_picture_id"] == "r1" and item["nb_labels"] == 2
    assert item["annotations"][0]["rectangle"] == {"left": 1, "top": 2, "width": 3, "height": 4}
    back = wire.parse_image_annotation(item)
    assert back.shapes == ann.shapes
    # a wire-shaped dict is accepted as it is
    assert wire.encode_image_annotations([item])["1"]["annotations"] == item["annotations"]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (Shape("rectangle", "car", Rectangle(1, 2, 0, 4)), "width and height must be > 0"),
        (Shape("rectangle", "car", Rectangle(-1, 2, 3, 4)), r"rectangle.left.*>= 0"),
        (Shape("rectangle", "car"), "needs a rectangle"),
        (Shape("polygon", "road", points=[(0, 0), (1, 1), (0, 0)]), "at least 3 distinct"),
        (Shape("circle", "road"), "type: expected one of .*, got 'circle'"),
        (Shape("polygon", "", points=[(0, 0), (1, 1), (2, 0)]), "label"),
    ],
)
def test_encode_annotations_names_the_bad_shape(shape, message):
    with pytest.raises(ValidationError, match=r"annotations\[1\].shapes\[0\]") as info:
        wire.encode_image_annotations([ImageAnnotation("ok", []), ImageAnnotation("r", [shape])])
    assert info.match(message)


def test_encode_annotation_needs_an_image():
    with pytest.raises(ValidationError, match=r"annotations\[0\]: needs an image_id"):
        wire.encode_image_annotations([ImageAnnotation(None, [])])


def test_encode_logs_normalises_numpy_and_keeps_nan():
    logs = {
        "loss": {
            "step": np.array([0, 1], dtype=np.int64),
            "value": [np.float32(0.5), float("nan")],
            "wall_time": (1.0, 2.0),
        }
    }
    out = wire.encode_logs(logs)
    assert out["loss"]["step"] == [0, 1] and type(out["loss"]["step"][0]) is int
    assert type(out["loss"]["value"][0]) is float and math.isnan(out["loss"]["value"][1])
    assert out["loss"]["wall_time"] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("logs", "message"),
    [
        ([1, 2], "logs: expected"),
        ({"": {"step": [0], "value": [1.0]}}, "non-empty string"),
        ({"loss": {"step": [0, 1], "value": [1.0]}}, "2 steps but 1 values"),
        ({"loss": {"step": [0.5], "value": [1.0]}}, r"\['step'\]\[0\]: a step must be an int"),
        ({"loss": {"step": [-1], "value": [1.0]}}, "a step must be an int >= 0"),
        ({"loss": {"step": [0], "value": ["x"]}}, r"\['value'\]\[0\]: expected a number"),
        ({"loss": {"step": [0]}}, "needs both 'step' and 'value'"),
        ({"loss": {"step": [0], "value": [1.0], "wall_time": [1, 2]}}, "2 wall times"),
        ({"loss": {"step": [0], "value": [1.0], "extra": []}}, "unknown keys"),
    ],
)
def test_encode_logs_rejects_bad_shapes(logs, message):
    with pytest.raises(ValidationError, match=message):
        wire.encode_logs(logs)
