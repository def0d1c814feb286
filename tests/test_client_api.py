"""Every endpoint through the client against the local platform over HTTP, with error paths."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import uuid
from pathlib import Path

import pytest
from PIL import Image

from picsellia_tf.client import Client
from picsellia_tf.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from picsellia_tf.local_platform import LocalPlatform
from picsellia_tf.types import (
    Collaborator,
    DatasetSummary,
    ImageAnnotation,
    Label,
    LabelLink,
    ModelSummary,
    ProjectSummary,
    QAQuestion,
    Rectangle,
    Shape,
)


def make_images(folder: Path, n: int, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{prefix}{i:03d}.png"
        Image.new("RGB", (8 + i, 6), (i * 10 % 256, 0, 0)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def setup(client: Client, tmp_path: Path):
    """A dataset of 3 images and a detection project on it."""
    ds = client.datasets.create("pets-raw", description="raw")
    raws = client.datasets.upload(ds.id, make_images(tmp_path / "imgs", 3))
    project = client.projects.create(
        "pets",
        "detection",
        labels=[("car", "rectangle"), Label("road", "polygon")],
        team=[("ann@x.com", "labeler")],
        dataset_name="pets-raw",
        description="first",
    )
    return ds, raws, project


# --------------------------------------------------------------------------- account


def test_check_connection_and_bad_token(platform: LocalPlatform):
    account = platform.client.check_connection()
    assert account.username and "@" in account.email
    assert platform.client.account.check_connection() == account  # the group it delegates to
    bad = Client("not-a-real-token", platform.host)
    with pytest.raises(AuthenticationError) as info:
        bad.check_connection()
    assert info.value.status == 401 and "not-a-real-token" not in str(info.value)
    other = platform.new_client("eve@other.org")
    assert other.check_connection().email == "eve@other.org"


def test_other_organisation_sees_404(platform: LocalPlatform, setup):
    ds, _, project = setup
    other = platform.new_client("eve@other.org")
    with pytest.raises(NotFoundError):
        other.projects.get(project.id)
    with pytest.raises(NotFoundError):
        other.datasets.get(ds.id)
    assert other.projects.list() == []


# --------------------------------------------------------------------------- datasets


def test_datasets_crud(client: Client):
    ds = client.datasets.create("a", description="first", private=False)
    assert (ds.name, ds.description, ds.size, ds.private) == ("a", "first", 0, False)
    client.datasets.create("b")
    assert [d.name for d in client.datasets.list()] == ["a", "b"]
    client.datasets.update(ds.id, name="a2", description="second")
    got = client.datasets.get(ds.id)
    assert (got.name, got.description) == ("a2", "second")
    with pytest.raises(ConflictError, match="already taken"):
        client.datasets.create("b")
    with pytest.raises(ConflictError):
        client.datasets.update(ds.id, name="b")
    client.datasets.delete(ds.id)
    with pytest.raises(NotFoundError) as info:
        client.datasets.get(ds.id)
    assert info.value.path == f"/api/v1/dataset_info/{ds.id}"


def test_dataset_used_by_project_cannot_be_deleted(client: Client, setup):
    ds, _, project = setup
    with pytest.raises(ConflictError, match="used by project"):
        client.datasets.delete(ds.id)
    assert [p.name for p in client.datasets.get(ds.id).used_in] == ["pets"]
    client.projects.delete(project.id)
    client.datasets.delete(ds.id)


def test_unreadable_file_mid_upload_is_named_and_says_what_was_uploaded(
    client: Client, tmp_path: Path
):
    ds = client.datasets.create("partial")
    paths = make_images(tmp_path / "imgs", 34)
    unreadable = tmp_path / "imgs" / "mem.png"
    unreadable.symlink_to("/proc/self/mem")  # a file whose read fails, even for root
    paths.insert(33, unreadable)
    with pytest.raises(ValidationError, match=r"paths\[33\]: cannot read .*mem\.png.*32 files"):
        client.datasets.upload(ds.id, paths)
    assert client.datasets.get(ds.id).size == 32  # the first chunk stays uploaded


def test_raw_data_upload_in_chunks_pages_and_download(client: Client, tmp_path: Path):
    ds = client.datasets.create("many")
    paths = make_images(tmp_path / "many", 40)  # two requests of 32 + 8
    stored = client.datasets.upload(ds.id, paths)
    assert [r.filename for r in stored] == [p.name for p in paths]
    assert stored[5].shape == (13, 6)
    assert client.datasets.get(ds.id).size == 40
    assert [r.id for r in client.datasets.iter_raw_data(ds.id, page_size=7)] == [
        r.id for r in stored
    ]
    assert [r.filename for r in client.datasets.raw_data(ds.id, 38, 45)] == [
        "img038.png",
        "img039.png",
    ]
    assert client.datasets.raw_data(ds.id, 40, 40) == []
    data = client.storage_get(stored[0].url or "")
    assert data == paths[0].read_bytes()
    assert hashlib.sha256(data).hexdigest() == stored[0].checksum
    dest = tmp_path / "dl" / "x.png"
    assert client.download(stored[1].url or "", dest, sha256=stored[1].checksum) > 0
    assert dest.read_bytes() == paths[1].read_bytes()


def test_raw_data_replace_delete_and_get_row(client: Client, tmp_path: Path):
    ds = client.datasets.create("rows")
    folder = tmp_path / "odd"
    folder.mkdir()
    odd = folder / "my pic #1?.png"
    Image.new("RGB", (5, 4)).save(odd)
    notes = folder / "notes.txt"
    notes.write_text("not an image")
    first = client.datasets.upload(ds.id, [odd, notes])
    assert first[1].shape is None
    row = client.datasets.get_row(ds.id, "my pic #1?.png")  # quoted in the path
    assert (row.id, row.format, row.shape, row.type) == (first[0].id, "png", (5, 4), "image")
    assert client.datasets.get_row(ds.id, first[1].id).type == "file"
    Image.new("RGB", (7, 7)).save(odd)
    again = client.datasets.upload(ds.id, [odd])
    assert again[0].id == first[0].id and again[0].shape == (7, 7)
    client.datasets.delete_raw_data(ds.id, filename="notes.txt")
    client.datasets.delete_raw_data(ds.id, raw_id=first[0].id)
    assert client.datasets.raw_data(ds.id, 0, 10) == []
    with pytest.raises(NotFoundError, match="not found"):
        client.datasets.delete_raw_data(ds.id, filename="notes.txt")
    with pytest.raises(NotFoundError):
        client.datasets.get_row(ds.id, "nope.png")


# --------------------------------------------------------------------------- projects


def test_project_create_get_list_update(client: Client, setup):
    ds, _, project = setup
    assert project.name == "pets" and project.type == "detection"
    assert project.description == "first" and project.private is True
    assert project.dataset is not None and project.dataset.id == ds.id
    assert project.labels == [Label("car", "rectangle"), Label("road", "polygon")]
    assert [c.email for c in project.collaborators] == ["ann@x.com"]
    assert [(p.id, p.name) for p in client.projects.list()] == [(project.id, "pets")]
    client.projects.update(project.id, name="pets2", description="second")
    got = client.projects.get(project.id)
    assert (got.name, got.description) == ("pets2", "second")
    with pytest.raises(ConflictError):
        client.projects.create("pets2", "classification")
    with pytest.raises(NotFoundError, match="dataset 'missing' not found"):
        client.projects.create("x", "classification", dataset_name="missing")


def test_lists_carry_only_what_their_route_answers(client: Client, setup):
    # A project with a type, labels and a model: its list item has no field that would read
    # as "no type, no labels, no models"; the detail has them.
    ds, _, project = setup
    exp = client.experiments.init(project.id, "resnet")
    (summary,) = client.projects.list()
    assert summary == ProjectSummary(project.id, "pets")
    assert [f.name for f in dataclasses.fields(summary)] == ["id", "name"]
    detail = client.projects.get(summary.id)
    assert detail.type == "detection" and len(detail.labels) == 2
    assert [m.id for m in detail.models] == [exp.network_id]

    (model,) = client.models.list()
    assert isinstance(model, ModelSummary) and not hasattr(model, "experiments")
    assert (model.type, [p.id for p in model.used_in]) == ("detection", [project.id])
    assert [e.training_id for e in client.models.get(model.id).experiments] == [1]

    (dataset,) = client.datasets.list()
    assert isinstance(dataset, DatasetSummary) and not hasattr(dataset, "private")
    assert dataset.created_by == client.check_connection().username
    assert (dataset.size, [p.id for p in dataset.used_in]) == (3, [project.id])
    assert client.datasets.get(ds.id).private is True


def test_project_team_labels_qa(client: Client, setup):
    _, _, project = setup
    team = client.projects.collaborators(project.id)
    assert team[0].username == "ann" and team[0].joined and team[0].role == "labeler"
    client.projects.set_collaborators(
        project.id, [Collaborator("ann@x.com", "reviewer"), {"email": "bob@x.com", "role": "admin"}]
    )
    team2 = client.projects.collaborators(project.id)
    assert [(c.email, c.role) for c in team2] == [("ann@x.com", "reviewer"), ("bob@x.com", "admin")]
    assert team2[0].joined == team[0].joined
    client.projects.set_labels(
        project.id, [("plane", "polygon"), {"label_name": "bird", "type": "line"}]
    )
    assert client.projects.get(project.id).labels == [
        Label("plane", "polygon"),
        Label("bird", "line"),
    ]
    client.projects.set_qa(
        project.id,
        image_qa=[QAQuestion("How many?", "range", min=0, max=50)],
        shape_qa=[{"question": "Mood?", "type": "mc", "values": ["sad", "happy"]}],
    )
    client.projects.set_qa(project.id, image_qa=[QAQuestion("Doing?")])
    got = client.projects.get(project.id)
    assert got.image_qa == [QAQuestion("Doing?")]
    assert got.shape_qa == [QAQuestion("Mood?", "mc", values=["sad", "happy"])]


def test_models_attach_detach_automations(client: Client, setup):
    _, _, project = setup
    other = client.projects.create("other", "detection", labels=[("car", "rectangle")])
    exp = client.experiments.init(other.id, "coco-net")
    with pytest.raises(BadRequestError, match="is not attached"):
        client.projects.set_automations(project.id, exp.network_id, [("car", "car")])
    client.projects.attach_model(project.id, exp.network_id)
    client.projects.attach_model(project.id, exp.network_id)  # idempotent
    assert [m.id for m in client.projects.get(project.id).models] == [exp.network_id]
    client.projects.set_automations(
        project.id, exp.network_id, [LabelLink("car", "vehicle"), ("road", "street")]
    )
    with pytest.raises(BadRequestError, match="not a project label"):
        client.projects.set_automations(project.id, exp.network_id, [("boat", "ship")])
    client.projects.detach_model(project.id, exp.network_id)
    assert client.projects.get(project.id).models == []
    with pytest.raises(NotFoundError):
        client.projects.detach_model(project.id, exp.network_id)


def test_project_delete(client: Client, setup):
    _, _, project = setup
    client.projects.delete(project.id)
    with pytest.raises(NotFoundError):
        client.projects.get(project.id)
    with pytest.raises(NotFoundError):
        client.projects.delete(project.id)


# --------------------------------------------------------------------------- annotations, stats


def test_annotations_upload_read_upsert_and_stats(client: Client, setup):
    _, raws, project = setup
    anns = [
        ImageAnnotation(
            raws[0].id,
            [
                Shape("rectangle", "car", Rectangle(1, 2, 3, 4)),
                Shape("polygon", "road", points=[(0, 0), (5, 0), (5, 5)]),
            ],
            time_spent=4.0,
        ),
        {
            "external_picture_url": raws[1].filename,
            "time_spent": 2,
            "annotations": [
                {
                    "type": "rectangle",
                    "label": "car",
                    "rectangle": {"left": 0, "top": 0, "width": 1, "height": 1},
                }
            ],
        },
    ]
    assert client.annotations.upload(project.id, anns) == 2
    got = client.annotations.list(project.id, 0, 10)
    assert [a.image_id for a in got] == [raws[0].id, raws[1].id]
    assert got[0].shapes == anns[0].shapes  # type: ignore[union-attr]
    assert got[1].filename == raws[1].filename and got[1].nb_labels == 1
    assert client.projects.get(project.id).nb_annotations == 3
    stats = client.projects.stats(project.id)
    assert stats.labels == ["car", "road"] and stats.labels_per_class == [2.0, 1.0]
    assert stats.nb_images_annotated == 2 and stats.images_remaining == 1
    assert math.isclose(stats.total_time_spent or 0, 6.0)
    # upsert: the image's new annotation replaces the old one
    client.annotations.upload(project.id, [ImageAnnotation(raws[0].id, [])])
    assert [len(a.shapes) for a in client.annotations.iter(project.id, page_size=1)] == [0, 1]
    assert client.annotations.list(project.id, 1, 2)[0].image_id == raws[1].id


def test_readme_annotation_example_with_the_package_exports(client: Client, tmp_path: Path):
    # As the README writes it: the types come from picsellia_tf; Rectangle is left, top,
    # width, height in pixels; a classification image is one shape labelled with its class.
    from picsellia_tf import ImageAnnotation as Annotation
    from picsellia_tf import Label as Lbl
    from picsellia_tf import Rectangle as Rect
    from picsellia_tf import Shape as Shp
    from picsellia_tf import data

    assert (Annotation, Shp, Rect, Lbl) == (ImageAnnotation, Shape, Rectangle, Label)
    ds = client.datasets.create("pets-raw")
    raws = client.datasets.upload(ds.id, make_images(tmp_path / "pets", 2))
    project = client.projects.create(
        "pets", "classification", labels=[Lbl("cat"), ("dog", "rectangle")], dataset_name="pets-raw"
    )
    box = Rect(4, 8, 20, 10)
    annotations = [
        Annotation(raws[0].id, [Shp("rectangle", "cat", box)]),
        Annotation(raws[1].id, [Shp("rectangle", "dog", Rect(0, 0, 9, 6))]),
    ]
    assert client.annotations.upload(project.id, annotations) == 2
    got = client.annotations.list(project.id, 0, 2)[0].shapes[0].rectangle
    assert (got.left, got.top, got.width, got.height) == (4, 8, 20, 10)
    _, info = data.load(client, project.id, ds.id, task="classification", cache_dir=tmp_path / "c")
    assert info.label_names == ["cat", "dog"] and sum(info.split_counts.values()) == 2


def test_annotation_server_side_validation(client: Client, setup):
    _, raws, project = setup
    bad_label = [ImageAnnotation(raws[0].id, [Shape("rectangle", "boat", Rectangle(1, 1, 1, 1))])]
    with pytest.raises(BadRequestError, match="'boat' is not a label of the project") as info:
        client.annotations.upload(project.id, bad_label)
    # The caller's item 0 (the wire numbers it '1'); its first shape.
    assert "field 'annotations[0].annotations[0].label'" in info.value.message
    assert info.value.host == client.host
    two = [ImageAnnotation(raws[0].id, []), *bad_label]
    with pytest.raises(BadRequestError, match=r"'annotations\[1\]\.annotations\[0\]\.label'"):
        client.annotations.upload(project.id, two)
    with pytest.raises(NotFoundError):
        client.annotations.upload(project.id, [ImageAnnotation("no-such-image", [])])
    with pytest.raises(BadRequestError, match="only 'picsellia'"):
        client.annotations.upload(project.id, [ImageAnnotation(raws[0].id, [])], format="other")
    assert client.annotations.list(project.id, 0, 5) == []  # all or nothing


def test_bad_raw_body_is_a_bad_request_with_message(client: Client, setup):
    project = setup[2]
    with pytest.raises(BadRequestError, match="field 'type'") as info:
        client.request("POST", "/api/v1/create_project", json={"project_name": "x", "type": "cats"})
    assert info.value.status == 400
    with pytest.raises(BadRequestError, match="range"):
        client.request("GET", f"/api/v1/annotations/{project.id}", json={"range": [5, 1]})
    with pytest.raises(NotFoundError):
        client.request("GET", "/api/v1/no_such_route")
    with pytest.raises(BadRequestError) as info:
        client.request("PATCH", "/api/v1/project_list")
    assert info.value.status == 405


# --------------------------------------------------------------------------- models, experiments


def test_models_list_get_update_delete(client: Client, setup):
    _, _, project = setup
    exp = client.experiments.init(project.id, "resnet")
    models = client.models.list()
    assert [(m.id, m.name, m.type) for m in models] == [(exp.network_id, "resnet", "detection")]
    assert models[0].used_in[0].id == project.id
    client.models.update(
        exp.network_id, tags=["coco"], private=False, description="d", github_link="gh"
    )
    model = client.models.get(exp.network_id)
    assert (model.tags, model.private, model.description, model.github_link) == (
        ["coco"],
        False,
        "d",
        "gh",
    )
    assert [e.training_id for e in model.experiments] == [1]
    client.experiments.init(project.id, "other")
    with pytest.raises(ConflictError):
        client.models.update(exp.network_id, model_name="other")
    client.models.delete(exp.network_id)
    with pytest.raises(NotFoundError):
        client.models.get(exp.network_id)


def test_experiments_init_logs_merge_and_delete(client: Client, setup):
    _, _, project = setup
    e1 = client.experiments.init(project.id, "net")
    e2 = client.experiments.init(project.id, "net")
    assert (e1.network_id, e1.training_id + 1) == (e2.network_id, e2.training_id)
    n = client.experiments.post_logs(
        e1.training_id,
        e1.network_id,
        {"loss": {"step": [0, 1], "value": [1.0, 0.5], "wall_time": [10.0, 11.0]}},
    )
    assert n == 2
    client.experiments.post_logs(
        e1.training_id, e1.network_id, {"loss": {"step": [1, 2], "value": [0.4, float("inf")]}}
    )
    logs = client.experiments.get_logs(e1.training_id, e1.network_id)
    assert logs["loss"]["step"] == [0, 1, 2]
    assert logs["loss"]["value"][:2] == [1.0, 0.4] and math.isinf(logs["loss"]["value"][2])
    assert client.experiments.get_logs(e2.training_id, e2.network_id) == {}
    client.experiments.delete(project.id, e1.network_id, e1.training_id)
    with pytest.raises(NotFoundError):
        client.experiments.get_logs(e1.training_id, e1.network_id)
    with pytest.raises(NotFoundError):
        client.experiments.post_logs(99, e1.network_id, {"loss": {"step": [0], "value": [1]}})


def test_init_with_a_uuid_project_id_keeps_it_as_a_string(client: Client, setup):
    _, _, project = setup
    exp = client.experiments.init(uuid.UUID(project.id), "net")
    assert exp.project_id == project.id and isinstance(exp.project_id, str)
    name = client.experiments.upload_preview(exp.training_id, exp.network_id, b"\x89PNG\r\n\x1a\n")
    assert name.startswith(f"{project.id}/{exp.network_id}/{exp.training_id}/results/")


def test_previews_upload_post_and_read_back(client: Client, setup, tmp_path: Path):
    _, _, project = setup
    exp = client.experiments.init(project.id, "net")
    png = tmp_path / "pred.png"
    Image.new("RGB", (6, 6), (0, 255, 0)).save(png)
    buf = io.BytesIO()
    Image.new("RGB", (3, 3)).save(buf, format="JPEG")
    names = [
        client.experiments.upload_preview(exp.training_id, exp.network_id, png),
        client.experiments.upload_preview(
            exp.training_id, exp.network_id, buf.getvalue(), project_id=project.id, name="b.jpg"
        ),
        client.experiments.upload_preview(exp.training_id, exp.network_id, Image.new("L", (4, 4))),
    ]
    prefix = f"{project.id}/{exp.network_id}/{exp.training_id}/results/"
    assert names[0] == prefix + "pred.png" and names[1] == prefix + "b.jpg"
    assert names[2].startswith(prefix) and names[2].endswith(".png")
    client.experiments.post_preview(exp.training_id, exp.network_id, names)
    client.experiments.post_preview(exp.training_id, exp.network_id, names[:1])  # no duplicate
    previews = client.experiments.previews(exp.training_id, exp.network_id)
    assert [p.object_name for p in previews] == names
    assert client.storage_get(previews[0].url or "") == png.read_bytes()
    third = Image.open(io.BytesIO(client.storage_get(previews[2].url or "")))
    assert third.size == (4, 4)
    with pytest.raises(BadRequestError, match="has not been uploaded"):
        client.experiments.post_preview(exp.training_id, exp.network_id, [prefix + "none.png"])
