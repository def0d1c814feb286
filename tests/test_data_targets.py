"""data.load: every box, label and mask out of the pipeline equals the expected one.

A project on the local platform with generated 64x48 PNG images and known rectangles and
polygons; expectations are computed here independently (numpy and Keras' convert_format).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from picsellia_tf import data
from picsellia_tf._tasks import KERAS_BBOX_FORMATS
from picsellia_tf.data.synthetic import create_project
from picsellia_tf.local_platform import LocalPlatform
from picsellia_tf.types import Rectangle, Shape

W, H = 64, 48
LABELS = [("cat", "rectangle"), ("dog", "polygon")]


def rect(label: str, x: float, y: float, w: float, h: float) -> Shape:
    return Shape("rectangle", label, rectangle=Rectangle(left=x, top=y, width=w, height=h))


def poly(label: str, *pts: tuple[float, float]) -> Shape:
    return Shape("polygon", label, points=list(pts))


# Image "a": two boxes inside, one clipped at the border, a polygon (its enclosing box), one
# rectangle entirely outside (dropped) and a collinear polygon (dropped).
SHAPES_A = [
    rect("cat", 10, 8, 20, 12),  # xyxy (10, 8, 30, 20)
    rect("dog", 40, 30, 30, 30),  # clipped to (40, 30, 64, 48)
    poly("dog", (4, 40), (20, 40), (4, 46)),  # box (4, 40, 20, 46)
    rect("cat", 70, 10, 5, 5),  # outside the 64x48 image
    poly("dog", (0, 0), (5, 5), (10, 10)),  # zero area
]
BOXES_A = np.array([[10, 8, 30, 20], [40, 30, 64, 48], [4, 40, 20, 46]], np.float32)
LABELS_A = np.array([0, 1, 1], np.int32)

# Image "b": shapes for the mask (painted in this order).
SHAPES_B = [
    rect("cat", 8, 8, 16, 8),
    poly("dog", (30, 10), (50, 10), (50, 30), (30, 30)),
    poly("dog", (2, 30), (12, 30), (2, 40)),
    poly("cat", (10.5, 20.4), (20.49, 20.4), (20.49, 24.5), (10.5, 24.5)),
]


def expected_mask_b() -> np.ndarray:
    """The class map of SHAPES_B, from the documented rules, without PIL."""
    m = np.zeros((H, W), np.uint8)
    m[8:16, 8:24] = 1  # rectangle: half-open block, columns 8..23, rows 8..15
    m[10:31, 30:51] = 2  # polygon: on or inside, vertices included
    rows, cols = np.mgrid[0:H, 0:W]
    m[(cols >= 2) & (rows >= 30) & ((cols - 2) + (rows - 30) <= 10)] = 2
    m[20:26, 11:21] = 1  # vertices rounded half up: (11, 20) .. (20, 25), inclusive
    return m


def _colour_image(path: Path) -> np.ndarray:
    """A 64x48 image with distinct colours per 16-pixel column band (exact in PNG)."""
    pixels = np.zeros((H, W, 3), np.uint8)
    for band in range(4):
        pixels[:, band * 16 : (band + 1) * 16] = (60 * band + 30, 200 - 40 * band, 90)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("targets")
    files = [tmp / "a.png", tmp / "b.png"]
    pixels = _colour_image(files[0])
    _colour_image(files[1])
    with LocalPlatform(tmp / "platform") as local:
        pid, did = create_project(
            local.client,
            f"targets-{uuid.uuid4().hex[:8]}",
            files,
            {"a.png": SHAPES_A, "b.png": SHAPES_B},
            labels=LABELS,
        )
        yield local.client, pid, did, tmp / "cache", pixels


def _load(project, **kw):
    client, pid, did, cache, _ = project
    kw.setdefault("shuffle", False)
    kw.setdefault("progress", False)
    kw.setdefault("on_error", "ignore")
    return data.load(client, pid, did, cache_dir=cache, **kw)


def transform(boxes: np.ndarray, size: tuple[int, int] | None, mode: str) -> np.ndarray:
    """xyxy boxes of the 64x48 image, in pixels of the output image."""
    if size is None:
        return boxes
    th, tw = size
    if mode == "stretch":
        sx, sy, ox, oy = tw / W, th / H, 0.0, 0.0
    else:
        f = min(tw / W, th / H)
        sw, sh = round(W * f), round(H * f)
        sx, sy, ox, oy = sw / W, sh / H, (tw - sw) // 2, (th - sh) // 2
    return boxes * np.array([sx, sy, sx, sy], np.float32) + np.array([ox, oy, ox, oy], np.float32)


CASES = [(None, "pad"), ((32, 32), "pad"), ((64, 64), "pad"), ((100, 100), "pad")]
CASES += [((96, 128), "stretch"), ((30, 50), "stretch")]


@pytest.mark.parametrize("size,mode", CASES)
def test_detection_boxes_every_format(project, size, mode):
    out_h, out_w = size if size else (H, W)
    for fmt in KERAS_BBOX_FORMATS:
        ds, info = _load(project, task="detection", image_size=size, resize=mode, bbox_format=fmt)
        assert info.label_names == ["cat", "dog"]
        (img_a, target_a), _ = list(ds)  # dataset order: a.png, b.png
        assert img_a.shape == (out_h, out_w, 3) and img_a.dtype == np.uint8
        want = keras.utils.bounding_boxes.convert_format(
            transform(BOXES_A, size, mode), "xyxy", fmt, height=out_h, width=out_w
        )
        np.testing.assert_allclose(target_a["boxes"].numpy(), np.asarray(want), atol=1e-4)
        np.testing.assert_array_equal(target_a["labels"].numpy(), LABELS_A)


def test_detection_reports_dropped_shapes_and_counts(project):
    ds, info = _load(project, task="detection")
    reasons = {(s.filename, s.shape_index): s.reason for s in info.skipped}
    assert "outside the 64x48 image" in reasons[("a.png", 3)]
    assert "zero area" in reasons[("a.png", 4)]
    assert info.num_examples == 2 and info.unannotated == 0
    # a: cat, dog, dog; b: cat, dog, dog, cat -> every shape of the loaded splits counted once
    total = {name: sum(c[name] for c in info.label_counts.values()) for name in ("cat", "dog")}
    assert total == {"cat": 3, "dog": 4}
    assert sum(info.split_counts.values()) == 2


def test_detection_pad_content_and_black_padding(project):
    pixels = project[4]
    ds, _ = _load(project, task="detection", image_size=(64, 64), resize="pad")
    img = next(iter(ds))[0].numpy()
    assert (img[:8] == 0).all() and (img[56:] == 0).all()  # 48 rows centred in 64
    np.testing.assert_array_equal(img[8:56], pixels)  # scale 1: the image itself


def test_detection_max_boxes_dense_and_ragged(project):
    ds, info = _load(project, task="detection", image_size=32, max_boxes=4, batch_size=2)
    images, target = next(iter(ds))
    assert images.shape == (2, 32, 32, 3)
    assert target["boxes"].shape == (2, 4, 4) and target["labels"].shape == (2, 4)
    np.testing.assert_array_equal(target["labels"][0].numpy(), [0, 1, 1, -1])
    np.testing.assert_array_equal(target["boxes"][0, 3].numpy(), [0, 0, 0, 0])

    ds, info = _load(project, task="detection", image_size=32, max_boxes=2)
    boxes = next(iter(ds))[1]["boxes"]
    assert boxes.shape == (2, 4)
    assert [(s.filename, s.shape_index) for s in info.skipped if "max_boxes" in s.reason] == [
        ("a.png", 2),
        ("b.png", 2),
        ("b.png", 3),
    ]

    ds, _ = _load(project, task="detection", image_size=32, batch_size=2)
    _, target = next(iter(ds))
    assert target["boxes"].row_lengths().numpy().tolist() == [3, 4]
    assert target["labels"].to_list() == [[0, 1, 1], [0, 1, 1, 0]]


@pytest.mark.parametrize(
    "size,mode,expect",
    [
        (None, "pad", lambda m: m),
        ((96, 128), "stretch", lambda m: np.repeat(np.repeat(m, 2, 0), 2, 1)),
        ((64, 64), "pad", lambda m: np.pad(m, ((8, 8), (0, 0)))),
        (
            (128, 128),
            "pad",
            lambda m: np.pad(np.repeat(np.repeat(m, 2, 0), 2, 1), ((16, 16), (0, 0))),
        ),
    ],
)
def test_segmentation_masks(project, size, mode, expect):
    ds, info = _load(project, task="segmentation", image_size=size, resize=mode)
    (img_a, mask_a), (img_b, mask_b) = list(ds)
    assert mask_b.dtype == np.uint8 and mask_b.shape[-1] == 1
    assert img_b.shape[:2] == mask_b.shape[:2]
    np.testing.assert_array_equal(mask_b.numpy()[..., 0], expect(expected_mask_b()))
    # a: the polygon (dog = 2) and the clipped rectangle; the outside shapes paint nothing
    a = mask_a.numpy()[..., 0]
    assert set(np.unique(a)) == {0, 1, 2}


def test_segmentation_second_load_reuses_masks(project):
    _, info1 = _load(project, task="segmentation")
    masks_dir = Path(info1.cache_dir) / "masks"
    before = {p: p.stat().st_mtime_ns for p in masks_dir.rglob("*.png")}
    _, info2 = _load(project, task="segmentation")
    after = {p: p.stat().st_mtime_ns for p in masks_dir.rglob("*.png")}
    assert len(before) == 2 and before == after
