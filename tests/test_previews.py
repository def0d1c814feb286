"""Preview rendering: real images made with numpy/PIL, checked pixel by pixel."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from picsellia_tf import previews
from picsellia_tf.errors import ValidationError
from picsellia_tf.previews import PANEL_GAP, label_color, render, render_batch

GREY = (100, 100, 100)
NAMES = ["cat", "dog", "bird", "car", "tree"]


def grey(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), GREY, dtype=np.uint8)


def panel(out: Image.Image, index: int = 0) -> np.ndarray:
    """The image area of panel ``index`` as an (H, W, 3) array."""
    return np.asarray(out.crop(out.info["panels"][index]))


def px(arr: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in arr[y, x])


def background_ratio(region: np.ndarray) -> float:
    return float(np.mean(np.all(region == previews.BACKGROUND, axis=-1)))


# A 96 (W) x 64 (H) image is upscaled 4x to a 384x256 panel (short side >= 256).
# The box x 16..48, y 24..56 lands on panel x 64..192, y 96..224 (right/bottom exclusive).
BOX_FORMS: dict[str, list[float]] = {
    "xyxy": [16, 24, 48, 56],
    "xywh": [16, 24, 32, 32],
    "yxyx": [24, 16, 56, 48],
    "center_xywh": [32, 40, 32, 32],
    "cxcywh": [32, 40, 32, 32],
    "center_yxhw": [40, 32, 32, 32],
    "rel_xyxy": [16 / 96, 24 / 64, 48 / 96, 56 / 64],
    "rel_xywh": [16 / 96, 24 / 64, 32 / 96, 32 / 64],
    "rel_yxyx": [24 / 64, 16 / 96, 56 / 64, 48 / 96],
    "rel_center_xywh": [32 / 96, 40 / 64, 32 / 96, 32 / 64],
    "rel_center_yxhw": [40 / 64, 32 / 96, 32 / 64, 32 / 96],
}


def render_box(fmt: str, box: list[float], label: int = 2, **kw: Any) -> Image.Image:
    pred = {"boxes": np.array([box]), "labels": np.array([label]), "scores": np.array([0.9])}
    return render(
        grey(64, 96), task="detection", label_names=NAMES, prediction=pred, bbox_format=fmt, **kw
    )


def test_box_outline_lands_on_the_expected_pixels() -> None:
    out = render_box("xyxy", BOX_FORMS["xyxy"])
    img = panel(out)
    assert img.shape == (256, 384, 3)
    color = label_color(2)
    # Outline pixels, on each edge (the tag sits above the top edge, left part).
    for x, y in [(64, 160), (66, 160), (191, 160), (189, 160), (128, 223), (128, 221), (180, 96)]:
        assert px(img, x, y) == color, (x, y)
    # Just outside the box, well inside it, far outside: untouched.
    for x, y in [(63, 160), (192, 160), (128, 224), (180, 95), (128, 160), (100, 120), (300, 20)]:
        assert px(img, x, y) == GREY, (x, y)
    # The score tag sits right above the box, in the label colour, holding its text.
    tag = img[96 - 20 : 96, 64:100]
    assert np.any(np.all(tag == color, axis=-1))
    assert np.any(np.all(tag == (0, 0, 0), axis=-1) | np.all(tag == (255, 255, 255), axis=-1))


@pytest.mark.parametrize("fmt", sorted(set(BOX_FORMS) - {"xyxy"}))
def test_every_bbox_format_gives_identical_output(fmt: str) -> None:
    expected = np.asarray(render_box("xyxy", BOX_FORMS["xyxy"]))
    assert np.array_equal(np.asarray(render_box(fmt, BOX_FORMS[fmt])), expected)


def test_bbox_format_name_maps_aliases_and_names_the_argument() -> None:
    assert previews.bbox_format_name("cxcywh") == "center_xywh"
    assert previews.bbox_format_name("rel_cxcywh") == "rel_center_xywh"
    assert previews.bbox_format_name("yxyx") == "yxyx"
    with pytest.raises(ValidationError, match="^box_fmt: expected one of .*got None"):
        previews.bbox_format_name(None, "box_fmt")  # type: ignore[arg-type]


def test_unknown_bbox_format_is_named() -> None:
    with pytest.raises(ValidationError, match="bbox_format.*'xyxz'"):
        render_box("xyxz", [0, 0, 1, 1])


def square_mask(label: int) -> np.ndarray:
    mask = np.zeros((64, 64), dtype=np.int32)
    mask[16:48, 16:48] = label + 1  # 0 is background, label k is k + 1
    return mask


def test_mask_is_blended_inside_opaque_on_its_outline_and_absent_outside() -> None:
    out = render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=square_mask(1))
    img = panel(out)  # 4x upscale: the square covers panel pixels 64..191
    color = np.array(label_color(1), dtype=float)
    blended = tuple(int(v) for v in np.rint(0.55 * np.array(GREY) + 0.45 * color))
    for x, y in [(128, 128), (80, 170), (180, 75)]:
        assert px(img, x, y) == blended
        for channel, value in enumerate(blended):
            lo, hi = sorted((GREY[channel], int(color[channel])))
            assert lo <= value <= hi
    for x, y in [(64, 64), (191, 128), (128, 191), (65, 100)]:
        assert px(img, x, y) == label_color(1), (x, y)
    for x, y in [(63, 128), (192, 128), (128, 63), (5, 5), (250, 250)]:
        assert px(img, x, y) == GREY, (x, y)


def test_adjacent_classes_both_get_an_outline() -> None:
    mask = np.zeros((64, 64), np.int32)
    mask[:, :32] = 1  # label 0, left half
    mask[:, 32:] = 3  # label 2, right half
    img = panel(render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=mask))
    assert px(img, 127, 128) == label_color(0) and px(img, 128, 128) == label_color(2)
    assert px(img, 60, 128) != label_color(0) and px(img, 200, 128) != label_color(2)
    assert px(img, 0, 128) != label_color(0)  # the image border is no class boundary


def test_polygon_mask_drawn_with_pil() -> None:
    canvas = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(canvas).polygon([(8, 56), (32, 8), (56, 56)], fill=3)  # label index 2
    mask = np.asarray(canvas)
    image = np.zeros((64, 64, 3), np.uint8)
    image[..., 2] = 200
    img = panel(render(image, task="segmentation", label_names=NAMES, ground_truth=mask))
    color = label_color(2)
    centroid = px(img, 32 * 4, 40 * 4)
    assert centroid not in (color, (0, 0, 200))
    assert centroid == tuple(
        int(v) for v in np.rint(0.55 * np.array([0, 0, 200]) + 0.45 * np.array(color))
    )
    assert px(img, 4, 4) == (0, 0, 200) and px(img, 250, 40) == (0, 0, 200)
    # Every panel pixel is the image, the blend or the outline colour: nothing else.
    flat = {tuple(v) for v in img.reshape(-1, 3).tolist()}
    assert flat == {(0, 0, 200), centroid, color}


def test_mask_encodings_give_the_same_picture() -> None:
    classes = square_mask(1)
    scores = np.zeros((64, 64, len(NAMES) + 1), np.float32)
    scores[..., 0] = 0.6
    scores[16:48, 16:48, 2] = 0.9
    half = classes[::2, ::2]  # a lower-resolution mask is stretched to the image
    forms = [classes[..., None], classes.astype(np.float32), scores, half.astype(np.uint8)]
    expected = np.asarray(
        render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=classes)
    )
    for form in forms:
        out = render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=form)
        assert np.array_equal(np.asarray(out), expected)


def test_probability_map_is_thresholded() -> None:
    prob = np.zeros((64, 64), np.float32)
    prob[16:48, 16:48] = 0.7
    prob[0:8, 0:8] = 0.3  # under the threshold: background
    out = render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=prob)
    img = panel(out)
    assert px(img, 128, 128) != GREY and px(img, 10, 10) == GREY
    assert np.array_equal(
        np.asarray(out),
        np.asarray(
            render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=square_mask(0))
        ),
    )


def test_segmentation_legend_shows_present_labels_in_their_colours() -> None:
    mask = square_mask(3)
    mask[0:8, 0:8] = 1
    out = render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=mask)
    strip = np.asarray(out)[out.info["panels"][0][3] :]
    assert strip.shape[0] > 10
    for label in (0, 3):
        assert np.any(np.all(strip == label_color(label), axis=-1))
    assert not np.any(np.all(strip == label_color(1), axis=-1))


def test_label_colours_are_stable_and_distinct() -> None:
    palette = [label_color(k) for k in range(20)]
    assert palette == [label_color(k) for k in range(20)]
    assert len(set(palette)) == 20
    for a, b in itertools.combinations(palette, 2):
        assert np.linalg.norm(np.subtract(a, b)) > 60, (a, b)
    # The same label is drawn in the same colour on different images and tasks.
    noisy = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    pred = {"boxes": np.array([BOX_FORMS["xyxy"]]), "labels": np.array([4])}
    img = panel(render(noisy, task="detection", label_names=NAMES, prediction=pred))
    assert px(img, 64, 160) == label_color(4)
    img = panel(render_box("xyxy", BOX_FORMS["xyxy"], label=4))
    assert px(img, 64, 160) == label_color(4)
    img = panel(
        render(grey(64, 64), task="segmentation", label_names=NAMES, prediction=square_mask(4))
    )
    assert px(img, 64, 64) == label_color(4)
    img = panel(render_box("xyxy", BOX_FORMS["xyxy"], label=1))
    assert px(img, 64, 160) == label_color(1) != label_color(4)


def test_boxes_are_clipped_filtered_and_padding_ignored() -> None:
    plain = render(
        grey(64, 96),
        task="detection",
        label_names=NAMES,
        prediction={"boxes": np.zeros((0, 4)), "labels": np.zeros((0,))},
    )
    assert np.array_equal(panel(plain), grey(256, 384))
    pred = {
        "boxes": np.array(
            [
                [-20, -20, 30, 30],  # partly outside: clipped to the image
                [500, 500, 600, 600],  # wholly outside: not drawn
                [10, 10, 60, 60],  # under the threshold
                [20, 20, 50, 50],  # padding label
            ]
        ),
        "labels": np.array([0, 1, 2, -1]),
        "scores": np.array([0.9, 0.9, 0.4, 0.99]),
    }
    out = render(grey(64, 96), task="detection", label_names=NAMES, prediction=pred)
    img = panel(out)
    assert out.size == plain.size
    colors = {tuple(v) for v in img.reshape(-1, 3).tolist()}
    for label in (1, 2, 3):
        assert label_color(label) not in colors
    # The clipped box: its right and bottom edges are at 30*4 and its left/top at the border.
    assert px(img, 0, 60) == label_color(0) and px(img, 119, 60) == label_color(0)
    assert px(img, 60, 119) == label_color(0) and px(img, 120, 60) == GREY
    assert px(img, 60, 60) == GREY
    # Nothing outside the image area changed.
    top = out.info["panels"][0][1]
    assert np.array_equal(np.asarray(out)[:top], np.asarray(plain)[:top])


def test_tags_near_edges_stay_inside_the_image() -> None:
    pred = {"boxes": np.array([[90, 0, 96, 10]]), "labels": np.array([3]), "scores": [0.5]}
    out = render(grey(64, 96), task="detection", label_names=NAMES, prediction=pred)
    img = panel(out)
    # The box is at the top right corner: its tag is moved left and down into the image.
    row = img[2]
    tag_cols = np.flatnonzero(np.all(row == label_color(3), axis=-1))
    assert tag_cols.max() == 383 and tag_cols.min() < 360  # the box starts at x = 360
    tag = img[:20, tag_cols.min() :]
    assert np.any(np.all(tag == (0, 0, 0), axis=-1) | np.all(tag == (255, 255, 255), axis=-1))


def test_side_by_side_layout_and_titles() -> None:
    truth = {"boxes": np.array([[8, 8, 24, 24]]), "labels": np.array([0])}
    pred = {"boxes": np.array([[40, 40, 56, 56]]), "labels": np.array([1]), "scores": [0.8]}
    out = render(
        grey(64, 64), task="detection", label_names=NAMES, ground_truth=truth, prediction=pred
    )
    (l0, t0, r0, b0), (l1, t1, r1, b1) = out.info["panels"]
    assert r0 - l0 == r1 - l1 == 256 and b0 - t0 == 256
    assert out.width == 2 * 256 + PANEL_GAP and l1 == 256 + PANEL_GAP
    arr = np.asarray(out)
    for left, right in ((l0, r0), (l1, r1)):
        assert background_ratio(arr[:t0, left:right]) < 0.99  # a title is written there
    left, right = panel(out, 0), panel(out, 1)
    assert px(left, 32, 60) == label_color(0) and px(left, 160, 200) == GREY
    assert px(right, 160, 200) == label_color(1) and px(right, 32, 60) == GREY


def test_overlay_draws_truth_dashed_and_prediction_solid() -> None:
    truth = {"boxes": np.array([[8, 8, 56, 56]]), "labels": np.array([0])}
    pred = {"boxes": np.array([[16, 16, 48, 48]]), "labels": np.array([1]), "scores": [0.8]}
    out = render(
        grey(64, 64),
        task="detection",
        label_names=NAMES,
        ground_truth=truth,
        prediction=pred,
        layout="overlay",
    )
    assert out.width == 256 and len(out.info["panels"]) == 1
    img = panel(out)
    gt_edge = np.all(img[100:200, 32] == label_color(0), axis=-1)  # left edge of the GT box
    pred_edge = np.all(img[100:180, 64] == label_color(1), axis=-1)
    assert 0.3 < gt_edge.mean() < 0.8  # dashed
    assert pred_edge.all()  # solid
    assert px(img, 34, 150) == GREY  # the GT line is thinner than 3 px


def test_segmentation_overlay_outlines_truth_only() -> None:
    out = render(
        grey(64, 64),
        task="segmentation",
        label_names=NAMES,
        ground_truth=square_mask(0),
        prediction=np.zeros((64, 64), np.int32),
        layout="overlay",
    )
    img = panel(out)
    assert px(img, 128, 128) == GREY  # no fill for the ground truth
    edge = np.all(img[64:192, 64] == label_color(0), axis=-1)
    assert 0.3 < edge.mean() < 0.8


def caption_strip(out: Image.Image) -> np.ndarray:
    return np.asarray(out)[out.info["panels"][0][3] :]


def tag_colours_down(strip: np.ndarray, column: int) -> list[tuple[int, ...]]:
    """Distinct non-background colours met walking down ``column``, in order."""
    seen: list[tuple[int, ...]] = []
    for value in strip[:, column].tolist():
        value = tuple(value)
        if value != previews.BACKGROUND and (not seen or seen[-1] != value):
            seen.append(value)
    return seen


def test_classification_caption_lists_top_k_by_score() -> None:
    scores = np.array([0.05, 0.1, 0.6, 0.2, 0.05])  # order: bird, car, dog
    out = render(
        grey(32, 32), task="classification", label_names=NAMES, ground_truth=3, prediction=scores
    )
    strip = caption_strip(out)
    assert out.width == 256 and strip.shape[0] > 40
    assert background_ratio(strip) < 0.9
    assert tag_colours_down(strip, 4) == [label_color(2), label_color(3), label_color(1)]
    assert np.any(np.all(strip == label_color(3), axis=-1))  # "GT: car" row


def test_classification_logits_and_one_hot_truth() -> None:
    logits = np.array([-1.0, 3.2, 0.5, -4.0, 1.0])
    one_hot = np.eye(5)[4]
    out = render(
        np.zeros((40, 40)),
        task="classification",
        label_names=NAMES,
        ground_truth=one_hot,
        prediction=logits,
        top_k=2,
    )
    strip = caption_strip(out)
    assert tag_colours_down(strip, 4) == [label_color(1), label_color(4)]
    gt_row = strip[: strip.shape[0] // 3]
    assert np.any(np.all(gt_row == label_color(4), axis=-1))


def test_multilabel_greys_scores_under_the_threshold() -> None:
    scores = np.array([0.9, 0.1, 0.7, 0.3, 0.0])
    out = render(
        grey(32, 32),
        task="multilabel",
        label_names=NAMES,
        ground_truth=[1, 0, 1, 0, 0],
        prediction=scores,
    )
    strip = caption_strip(out)
    assert tag_colours_down(strip, 4) == [label_color(0), label_color(2), previews.MUTED_COLOR]


def test_tag_text_contrasts_with_its_colour() -> None:
    def luminance(color: tuple[int, int, int]) -> float:
        lin = [
            (c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
            for c in color
        ]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for label in range(6):
        color = label_color(label)
        lum = luminance(color)
        ink = (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)
        img = panel(render_box("xyxy", BOX_FORMS["xyxy"], label=label))
        tag = img[70:96, 64:120]
        assert np.any(np.all(tag == ink, axis=-1)), label


def test_grayscale_and_float_images() -> None:
    rng = np.random.default_rng(7)
    as_uint8 = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    expected = np.asarray(render(as_uint8, task="classification", label_names=NAMES))

    class Tensorish:  # anything with .numpy(), like a tf.Tensor
        def __init__(self, value: np.ndarray) -> None:
            self.value = value

        def numpy(self) -> np.ndarray:
            return self.value

    forms = [
        as_uint8[..., None],
        np.repeat(as_uint8[..., None], 3, axis=2),
        as_uint8.astype(np.float32) / 255.0,
        as_uint8.astype(np.float64) / 127.5 - 1.0,
        as_uint8.astype(np.float32) + 0.0,
        Image.fromarray(as_uint8, mode="L"),
        Tensorish(as_uint8.astype(np.float32) / 255.0),
    ]
    for form in forms:
        got = np.asarray(render(form, task="classification", label_names=NAMES))
        assert np.array_equal(got, expected), type(form)
    img = panel(render(as_uint8, task="classification", label_names=NAMES))
    assert img.shape == (256, 256, 3)  # 32 px upscaled 8x, pixels kept sharp
    assert px(img, 7, 7) == (int(as_uint8[0, 0]),) * 3
    assert np.array_equal(img[::8, ::8, 0], as_uint8)


def test_sizes_scale_with_the_image() -> None:
    small = render(grey(20, 30), task="detection", label_names=NAMES)
    assert panel(small).shape == (260, 390, 3)  # ceil(256 / 20) = 13x
    big = render(grey(1500, 2000), task="detection", label_names=NAMES)
    assert panel(big).shape == (768, 1024, 3)
    near = render(grey(224, 300), task="detection", label_names=NAMES)
    assert panel(near).shape == (256, 343, 3)  # under 2x: scaled to exactly 256
    mid = render(grey(300, 400), task="detection", label_names=NAMES)
    assert panel(mid).shape == (300, 400, 3)
    # Bigger panels get bigger text: taller title bars.
    assert big.info["panels"][0][1] > small.info["panels"][0][1] >= 12


@pytest.mark.parametrize(
    ("height", "width", "panel_shape"),
    [
        (20, 300, (60, 900)),  # 13x would be 3900 wide: the largest integer factor that fits
        (100, 600, (171, 1024)),  # 3x would be 1800 wide: scaled so the long side is 1024
        (4, 2000, (4, 2000)),  # already past max_size: kept as is
        (3000, 10, (3000, 10)),
    ],
)
def test_long_thin_images_are_not_enlarged_past_max_size(height, width, panel_shape) -> None:
    out = render(grey(height, width), task="detection", label_names=NAMES)
    assert panel(out).shape == (*panel_shape, 3)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"image": np.zeros((2, 3, 4, 5))}, r"image: .*\(2, 3, 4, 5\)"),
        ({"image": np.zeros((8, 8, 2))}, r"image: .*\(8, 8, 2\)"),
        ({"image": np.zeros((0, 8))}, r"image: .*\(0, 8\)"),
        (
            {"prediction": {"boxes": np.zeros((3, 5)), "labels": [0, 0, 0]}},
            r"prediction\['boxes'\].*\(3, 5\)",
        ),
        (
            {"prediction": {"boxes": np.zeros((3, 4)), "labels": [0, 0]}},
            r"prediction\['labels'\].*3",
        ),
        ({"ground_truth": [[0, 0, 1, 1]]}, r"ground_truth: expected a dict"),
        ({"prediction": {"labels": [0]}}, r"prediction: missing key 'boxes'"),
        ({"task": "keypoints"}, r"task: .*'keypoints'"),
        ({"label_names": "cat"}, r"label_names"),
        ({"layout": "grid"}, r"layout: .*'grid'"),
        (
            {"prediction": {"boxes": [[1, 2, 3, 4]], "labels": [0], "scores": ["high"]}},
            r"prediction\['scores'\]: expected numbers",
        ),
        ({"ground_truth": {"boxes": [[1, 2, 3, 4]], "labels": ["cat"]}}, r"\['labels'\]: expected"),
        ({"top_k": None}, r"top_k: expected an int >= 1, got None"),
        ({"max_boxes": 2.5}, r"max_boxes: expected an int"),
        ({"min_size": "256"}, r"min_size: expected an int"),
        ({"score_threshold": "0.5"}, r"score_threshold: expected a number, got '0.5'"),
    ],
)
def test_bad_detection_input_names_the_argument(kwargs: dict, pattern: str) -> None:
    args = {"image": grey(16, 16), "task": "detection", "label_names": NAMES, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        render(args.pop("image"), **args)


@pytest.mark.parametrize(
    ("task", "kwargs", "pattern"),
    [
        (
            "segmentation",
            {"prediction": np.zeros((16, 16, 3))},
            r"prediction: .*6 channels.*\(16, 16, 3\)",
        ),
        ("segmentation", {"ground_truth": np.zeros((16, 40))}, r"ground_truth: .*\(16, 40\)"),
        (
            "segmentation",
            {"ground_truth": np.zeros((2, 16, 16, 1))},
            r"ground_truth: .*\(2, 16, 16, 1\)",
        ),
        (
            "segmentation",
            {"prediction": np.full((16, 16, 6), "x")},
            r"prediction: expected numbers, got dtype <U1",
        ),
        ("classification", {"prediction": np.zeros(4)}, r"prediction: expected 5 scores"),
        ("classification", {"prediction": np.zeros((2, 5))}, r"prediction: .*\(2, 5\)"),
        ("classification", {"ground_truth": 1.5}, r"ground_truth: expected an integer"),
        ("multilabel", {"ground_truth": [1, 0]}, r"ground_truth: .*\(2,\)"),
    ],
)
def test_bad_mask_and_score_input_names_the_argument(task: str, kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        render(grey(16, 16), task=task, label_names=NAMES, **kwargs)


def test_render_batch_matches_render_per_image() -> None:
    rng = np.random.default_rng(3)
    images = rng.random((3, 24, 24, 3)).astype(np.float32)
    preds = {
        "boxes": np.array(
            [[[2, 2, 10, 10], [0, 0, 0, 0]], [[5, 5, 20, 20], [1, 1, 8, 8]]]
            + [[[3, 3, 9, 9], [0, 0, 0, 0]]],
            float,
        ),
        "labels": np.array([[1, -1], [2, 3], [0, -1]]),
        "scores": np.array([[0.9, 0.0], [0.8, 0.7], [0.95, 0.0]]),
    }
    truths = [{"boxes": np.array([[1, 1, 11, 11]]), "labels": np.array([1])}] * 3
    outs = render_batch(
        images, task="detection", label_names=NAMES, predictions=preds, ground_truths=truths
    )
    assert len(outs) == 3
    for i, out in enumerate(outs):
        single = render(
            images[i],
            task="detection",
            label_names=NAMES,
            prediction={k: v[i] for k, v in preds.items()},
            ground_truth=truths[i],
        )
        assert np.array_equal(np.asarray(out), np.asarray(single))
    assert len(render_batch(images, task="detection", label_names=NAMES, max_images=2)) == 2
    with pytest.raises(ValidationError, match=r"predictions: expected 3 entries"):
        render_batch(images, task="classification", label_names=NAMES, predictions=np.zeros((2, 5)))
    uneven = {**preds, "scores": preds["scores"][:2]}
    with pytest.raises(ValidationError, match=r"predictions: .*'boxes': 3, .*'scores': 2"):
        render_batch(images, task="detection", label_names=NAMES, predictions=uneven)
    unscored = render_batch(
        images, task="detection", label_names=NAMES, predictions={**preds, "scores": None}
    )
    assert len(unscored) == 3


def test_render_batch_classification() -> None:
    images = np.zeros((2, 16, 16, 1), np.uint8)
    outs = render_batch(
        images,
        task="classification",
        label_names=NAMES,
        predictions=np.eye(5)[[1, 3]],
        ground_truths=np.array([1, 2]),
        top_k=1,
    )
    assert [tag_colours_down(caption_strip(o), 4) for o in outs] == [
        [label_color(1)],
        [label_color(3)],
    ]


def test_encode_png_round_trips() -> None:
    out = render_box("xyxy", BOX_FORMS["xyxy"])
    data = previews.encode_png(out)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), np.asarray(out))
    from_array = previews.encode_png(np.zeros((4, 4)))
    assert Image.open(io.BytesIO(from_array)).size == (4, 4)


def test_title_header_and_explicit_side_by_side_for_classification() -> None:
    plain = render(grey(32, 32), task="classification", label_names=NAMES, prediction=np.eye(5)[0])
    titled = render(
        grey(32, 32),
        task="classification",
        label_names=NAMES,
        prediction=np.eye(5)[0],
        title="epoch 3",
    )
    top = titled.info["panels"][0][1]
    assert top > plain.info["panels"][0][1]
    assert background_ratio(np.asarray(titled)[: top - plain.info["panels"][0][1]]) < 0.99
    both = render(
        grey(32, 32),
        task="classification",
        label_names=NAMES,
        ground_truth=2,
        prediction=np.eye(5)[0],
        layout="side_by_side",
        top_k=1,
    )
    assert both.width == 2 * 256 + PANEL_GAP
    strip = np.asarray(both)[both.info["panels"][0][3] :]
    left, right = strip[:, :256], strip[:, 256 + PANEL_GAP :]
    assert np.any(np.all(left == label_color(2), axis=-1))  # "GT: bird" on the left only
    assert not np.any(np.all(right == label_color(2), axis=-1))
    assert tag_colours_down(right, 4) == [label_color(0)]


def test_importing_previews_does_not_import_tensorflow() -> None:
    code = "import sys, picsellia_tf.previews; print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
