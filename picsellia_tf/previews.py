"""Rendering ground truth and predictions onto images, for previews.

``render`` draws one image, ``render_batch`` a batch, ``encode_png`` turns the result into PNG
bytes. Only numpy and Pillow are used: TensorFlow tensors are accepted through their
``.numpy()`` method, never imported.

Conventions:

- Images: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` (alpha dropped) arrays, or
  PIL images. ``uint8`` is taken as is; ``uint16`` is scaled from 0..65535; other integers and
  ``bool`` are clipped to 0..255 (``True`` = 255). Floats: within [0, 1] they are scaled by 255;
  within [-1, 1] (some negative) they are mapped from [-1, 1]; otherwise taken as 0..255 and
  clipped. NaN and infinities become 0.
- Size: a preview is at least ``min_size`` (256) px on its short side. Images under half of
  that are upscaled by the smallest integer factor that gets there (nearest neighbour, so
  pixels stay sharp and box coordinates map exactly: 32 px -> 8x); others below it are scaled
  to exactly ``min_size`` (bilinear: 224 px -> 256). Upscaling never takes the long side past
  ``max_size`` (1024): a long, thin image stops there (by the largest integer factor that
  fits, if 2 or more), or is kept as is if already longer. Images longer than ``max_size`` are
  scaled down as long as the short side stays >= ``min_size``. Annotations are always given
  in the coordinates of the image as passed in.
- Colours: one fixed colour per label index (``label_color``): golden-ratio hues with
  saturation/value cycling through three levels, so the same label has the same colour in every
  image and run, and the first 20 labels are far apart.
- Text: on a filled box in the label colour, in black or white, whichever contrasts more.
  The font scales with the panel (``short side / 28``, between 12 and 32 px); so do line widths
  (``short side / 150``, at least 3 px). Box tags sit above the box (inside it when there is no
  room), shifted to stay inside the image; nothing is drawn outside the image area.
- Layout: each panel has a title bar on top ("ground truth", "prediction", ...), the image, and
  for classification and segmentation a caption strip below (top-k scores, legend). With both a
  ground truth and a prediction, detection and segmentation default to side by side (ground
  truth left, prediction right, ``PANEL_GAP`` px apart); classification to one panel whose
  caption holds both. ``layout="overlay"`` puts both on one panel: ground-truth boxes dashed and
  thinner, ground-truth masks as a dashed outline only, predictions solid. The returned image's
  ``info["panels"]`` lists each panel's image area as ``(left, top, right, bottom)``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from picsellia_tf._checks import check_int, check_number
from picsellia_tf._colors import RGB, label_color
from picsellia_tf._tasks import BBOX_FORMATS, TASKS
from picsellia_tf.errors import ValidationError

__all__ = [
    "BBOX_FORMATS",
    "bbox_format_name",
    "LAYOUTS",
    "MASK_ALPHA",
    "MAX_SIZE",
    "MIN_SIZE",
    "PANEL_GAP",
    "TASKS",
    "encode_png",
    "label_color",
    "render",
    "render_batch",
]

Task = Literal["classification", "multilabel", "detection", "segmentation"]
Layout = Literal["auto", "side_by_side", "overlay"]
Row = list[tuple[str, RGB | None]]  # a caption line: tags (text, colour) or plain text (None)

LAYOUTS: tuple[str, ...] = ("auto", "side_by_side", "overlay")
_FORMAT_ALIASES = {"cxcywh": "center_xywh", "rel_cxcywh": "rel_center_xywh"}


def bbox_format_name(bbox_format: str, arg: str = "bbox_format") -> str:
    """The standard name of a box format (``cxcywh`` -> ``center_xywh``); ValidationError if
    it is not one :func:`render` draws."""
    fmt = _FORMAT_ALIASES.get(bbox_format, bbox_format) if isinstance(bbox_format, str) else None
    if fmt not in BBOX_FORMATS:
        raise ValidationError(
            f"{arg}: expected one of {', '.join(BBOX_FORMATS)}, got {bbox_format!r}"
        )
    return fmt


MIN_SIZE = 256
"""Default smallest short side of a panel, in pixels."""
MAX_SIZE = 1024
"""Default largest long side of a panel, in pixels (unless that breaks ``MIN_SIZE``)."""
PANEL_GAP = 8
"""Pixels between two side-by-side panels."""
MASK_ALPHA = 0.45
"""Opacity of a mask's fill; its outline is opaque."""

BACKGROUND: RGB = (24, 24, 24)
TEXT_COLOR: RGB = (235, 235, 235)
MUTED_COLOR: RGB = (110, 110, 110)


# --- colours and text ----------------------------------------------------------------------


def _luminance(color: RGB) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _text_color_on(color: RGB) -> RGB:
    """Black or white, whichever has the higher contrast ratio against ``color``."""
    lum = _luminance(color)
    return (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)


@dataclass(frozen=True)
class _Style:
    """Sizes derived from a panel's size: font, paddings, line widths."""

    font: Any
    line_height: int
    pad: int
    line_width: int
    outline: int

    @classmethod
    def for_panel(cls, width: int, height: int) -> _Style:
        short = min(width, height)
        size = max(12, min(32, round(short / 28)))
        font = _font(size)
        if hasattr(font, "getmetrics"):
            ascent, descent = font.getmetrics()
            line_height = ascent + descent
        else:  # Pillow's bitmap fallback font
            line_height = font.getbbox("Ag")[3]
        line_width = max(3, round(short / 150))
        return cls(font, line_height, max(3, size // 4), line_width, line_width // 2 + 1)

    @property
    def tag_height(self) -> int:
        return self.line_height + 2 * self.pad

    def text_width(self, text: str) -> int:
        return math.ceil(self.font.getlength(text))

    def fit(self, text: str, width: int) -> str:
        """``text``, shortened with "..." until its tag fits in ``width`` pixels."""
        room = width - 2 * self.pad
        if self.text_width(text) <= room:
            return text
        while text and self.text_width(text + "...") > room:
            text = text[:-1]
        return text + "..." if text else ""


@lru_cache(maxsize=64)
def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no scalable default font
        return ImageFont.load_default()


def _draw_tag(
    draw: ImageDraw.ImageDraw, x: int, y: int, text: str, fill: RGB, style: _Style
) -> None:
    width = style.text_width(text) + 2 * style.pad
    draw.rectangle([x, y, x + width - 1, y + style.tag_height - 1], fill=fill)
    draw.text((x + style.pad, y + style.pad), text, font=style.font, fill=_text_color_on(fill))


# --- input normalisation -------------------------------------------------------------------


def _as_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a numpy array (tensors through ``.numpy()``), or a ValidationError."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{name}: cannot be read as an array ({type(value).__name__}): {exc}"
        ) from None


def _to_rgb(image: Any, name: str = "image") -> np.ndarray:
    """An ``(H, W, 3)`` uint8 array from any accepted image (see the module docstring)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = _as_array(image, name)
    shape = tuple(arr.shape)
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        arr = arr[..., :3] if arr.shape[2] != 1 else arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        hint = "; for a batch use render_batch" if arr.ndim == 4 else ""
        raise ValidationError(
            f"{name}: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {shape}{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValidationError(f"{name}: the image is empty, shape {shape}")
    arr = _to_uint8(arr, name)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return (arr.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, 0, 255).astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValidationError(f"{name}: expected numbers, got dtype {arr.dtype}")
    values = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0.0 and hi <= 1.0:
        values = values * 255.0
    elif lo >= -1.0 and hi <= 1.0:
        values = (values + 1.0) * 127.5
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _scale_for(height: int, width: int, min_size: int, max_size: int) -> float:
    short, long = min(height, width), max(height, width)
    if short < min_size:
        scale = min_size / short
        if scale >= 2:
            scale = math.ceil(scale)  # an integer factor: pixels stay sharp
        limit = max_size / long
        if scale > limit:  # a long, thin image: enlarged only until its long side is max_size
            scale = max(1.0, math.floor(limit) if limit >= 2 else limit)
        return float(scale)
    if long > max_size:
        return max(max_size / long, min_size / short)
    return 1.0


def _label_name(label_names: Sequence[str], index: int) -> str:
    return label_names[index] if 0 <= index < len(label_names) else f"class {index}"


# --- annotations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int  # exclusive
    label: int
    score: float | None


def _to_xyxy(boxes: np.ndarray, fmt: str, width: int, height: int) -> np.ndarray:
    """``(N, 4)`` boxes in ``fmt`` -> absolute ``x0, y0, x1, y1`` pixels, corners ordered."""
    rel = fmt.startswith("rel_")
    base = fmt[4:] if rel else fmt
    a, b, c, d = (boxes[:, i] for i in range(4))
    if base == "xyxy":
        x0, y0, x1, y1 = a, b, c, d
    elif base == "yxyx":
        y0, x0, y1, x1 = a, b, c, d
    elif base == "xywh":
        x0, y0, x1, y1 = a, b, a + c, b + d
    elif base == "center_xywh":
        x0, y0, x1, y1 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:  # center_yxhw
        x0, y0, x1, y1 = b - d / 2, a - c / 2, b + d / 2, a + c / 2
    if rel:
        x0, x1, y0, y1 = x0 * width, x1 * width, y0 * height, y1 * height
    return np.stack(
        [np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)], axis=1
    )


def _floats(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as float64, or a ValidationError naming ``name``."""
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise ValidationError(f"{name}: expected numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _vector(value: Any, name: str, count: int) -> np.ndarray:
    """One number per box, as float64."""
    arr = _as_array(value, name)
    if arr.size != count or arr.ndim > 2:
        raise ValidationError(
            f"{name}: expected {count} values (one per box), got shape {tuple(arr.shape)}"
        )
    return _floats(arr.reshape(count), name)


def _parse_boxes(
    value: Any,
    name: str,
    *,
    scored: bool,
    bbox_format: str,
    image_size: tuple[int, int],
    panel_size: tuple[int, int],
    score_threshold: float,
    max_boxes: int,
) -> list[_Box]:
    """Detections in panel pixels, clipped, filtered, lowest score first (drawn first)."""
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{name}: expected a dict with 'boxes' and 'labels', got {type(value).__name__}"
        )
    if "boxes" not in value:
        raise ValidationError(f"{name}: missing key 'boxes'")
    label_key = "labels" if "labels" in value else "classes"
    if label_key not in value:
        raise ValidationError(f"{name}: missing key 'labels'")
    boxes = _as_array(value["boxes"], f"{name}['boxes']")
    if boxes.size == 0:
        return []
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValidationError(
            f"{name}['boxes']: expected shape (N, 4) in {bbox_format!r}, got {tuple(boxes.shape)}"
        )
    count = boxes.shape[0]
    boxes = _floats(boxes, f"{name}['boxes']")
    labels = _vector(value[label_key], f"{name}[{label_key!r}]", count)
    keep = np.isfinite(labels) & (labels >= 0) & np.isfinite(boxes).all(axis=1)
    scores: np.ndarray | None = None
    score_key = "scores" if "scores" in value else "confidence"
    if scored and value.get(score_key) is not None:
        scores = _vector(value[score_key], f"{name}[{score_key!r}]", count)
        keep &= scores >= score_threshold  # NaN scores fail this too
    (iw, ih), (pw, ph) = image_size, panel_size
    xyxy = _to_xyxy(boxes[keep], bbox_format, iw, ih) * np.array([pw / iw, ph / ih] * 2)
    xyxy = np.rint(xyxy)
    xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1)  # at least one pixel
    visible = (xyxy[:, 0] < pw) & (xyxy[:, 2] > 0) & (xyxy[:, 1] < ph) & (xyxy[:, 3] > 0)
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, pw)
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, ph)
    kept_labels = np.rint(labels[keep]).astype(np.int64)
    kept_scores = scores[keep] if scores is not None else None
    out = []
    for i, (x0, y0, x1, y1) in enumerate(xyxy.astype(np.int64).tolist()):
        if not visible[i]:
            continue
        score = float(kept_scores[i]) if kept_scores is not None else None
        out.append(_Box(x0, y0, x1, y1, int(kept_labels[i]), score))
    out.sort(key=lambda box: -math.inf if box.score is None else box.score)
    return out[-max_boxes:] if max_boxes > 0 else []


def _parse_mask(
    value: Any,
    name: str,
    *,
    label_count: int,
    image_size: tuple[int, int],
    panel_size: tuple[int, int],
    threshold: float,
) -> np.ndarray:
    """A class map (0 = background, label k = k + 1) at panel size, from any accepted mask."""
    arr = _as_array(value, name)
    shape = tuple(arr.shape)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        if arr.shape[2] != label_count + 1:
            raise ValidationError(
                f"{name}: expected {label_count + 1} channels (background + {label_count} labels)"
                f" in a (H, W, C) score map, got shape {shape}"
            )
        arr = np.argmax(np.nan_to_num(_floats(arr, name), nan=-np.inf), axis=2)
    elif arr.ndim == 2:
        if arr.dtype == np.bool_:
            arr = arr.astype(np.int64)
        elif np.issubdtype(arr.dtype, np.floating):
            arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            if np.all(arr == np.rint(arr)):
                arr = np.rint(arr)
            else:  # one probability per pixel: a binary mask
                arr = (arr >= threshold).astype(np.int64)
        elif not np.issubdtype(arr.dtype, np.integer):
            raise ValidationError(f"{name}: expected a numeric mask, got dtype {arr.dtype}")
    else:
        raise ValidationError(
            f"{name}: expected a class map (H, W) or (H, W, 1), or scores (H, W, "
            f"{label_count + 1}), got shape {shape}"
        )
    (iw, ih), (pw, ph) = image_size, panel_size
    mh, mw = arr.shape
    if mh == 0 or mw == 0:
        raise ValidationError(f"{name}: the mask is empty, shape {shape}")
    ratio = (mh / mw) / (ih / iw)
    if not 0.85 <= ratio <= 1 / 0.85:
        raise ValidationError(
            f"{name}: mask of shape {shape} does not match the image's {ih}x{iw} (H x W)"
        )
    rows = np.minimum(((np.arange(ph) + 0.5) * mh / ph).astype(np.int64), mh - 1)
    cols = np.minimum(((np.arange(pw) + 0.5) * mw / pw).astype(np.int64), mw - 1)
    classes = arr.astype(np.int64)[rows[:, None], cols[None, :]]
    return np.where(classes > 0, classes, 0)


def _window(arr: np.ndarray, radius: int, op: Any) -> np.ndarray:
    """``op`` (np.minimum or np.maximum) over a (2r+1)-square window, edges repeated."""
    padded = np.pad(arr, radius, mode="edge")
    height, width = arr.shape
    size = 2 * radius + 1
    rows = padded[:height]
    for k in range(1, size):
        rows = op(rows, padded[k : k + height])
    out = rows[:, :width]
    for k in range(1, size):
        out = op(out, rows[:, k : k + width])
    return out


def _boundary(classes: np.ndarray, thickness: int) -> np.ndarray:
    """Foreground pixels within ``thickness`` px of another class (the inner outline)."""
    radius = max(1, thickness)
    lo, hi = _window(classes, radius, np.minimum), _window(classes, radius, np.maximum)
    return (classes > 0) & ((lo != classes) | (hi != classes))


def _present(classes: np.ndarray) -> list[int]:
    """The foreground classes in a class map, ascending."""
    top = int(classes.max(initial=0))
    if top <= 65536:
        return [int(c) for c in np.flatnonzero(np.bincount(classes.ravel())) if c > 0]
    return [int(c) for c in np.unique(classes) if c > 0]


def _class_colors(classes: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float colours of the pixels in ``where`` (class c -> label c - 1's colour)."""
    present = _present(classes)
    lut = np.array([label_color(c - 1) for c in present], dtype=np.float32)
    return lut[np.searchsorted(present, classes[where])]


def _paint_mask(
    pixels: np.ndarray, classes: np.ndarray, style: _Style, *, fill: bool, dashed: bool
) -> None:
    """Blend ``classes`` into ``pixels`` (in place): translucent fill, opaque outline."""
    fg = classes > 0
    if not fg.any():
        return
    if fill:
        blended = (1 - MASK_ALPHA) * pixels[fg] + MASK_ALPHA * _class_colors(classes, fg)
        pixels[fg] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    edge = _boundary(classes, style.outline)
    if dashed:
        dash = 3 * style.line_width + 2
        rows, cols = np.arange(classes.shape[0])[:, None], np.arange(classes.shape[1])[None, :]
        edge &= ((rows // dash) + (cols // dash)) % 2 == 0
    pixels[edge] = _class_colors(classes, edge).astype(np.uint8)


def _dashed_rectangle(
    draw: ImageDraw.ImageDraw, box: _Box, color: RGB, width: int, dash: int
) -> None:
    x0, y0, x1, y1 = box.x0, box.y0, box.x1 - 1, box.y1 - 1
    w = max(1, min(width, x1 - x0 + 1, y1 - y0 + 1))
    for x in range(x0, x1 + 1, 2 * dash):
        end = min(x + dash - 1, x1)
        draw.rectangle([x, y0, end, y0 + w - 1], fill=color)
        draw.rectangle([x, y1 - w + 1, end, y1], fill=color)
    for y in range(y0, y1 + 1, 2 * dash):
        end = min(y + dash - 1, y1)
        draw.rectangle([x0, y, x0 + w - 1, end], fill=color)
        draw.rectangle([x1 - w + 1, y, x1, end], fill=color)


def _draw_boxes(
    draw: ImageDraw.ImageDraw,
    boxes: list[_Box],
    label_names: Sequence[str],
    style: _Style,
    panel_size: tuple[int, int],
    *,
    ground_truth_in_overlay: bool = False,
) -> list[tuple[int, int, str, RGB]]:
    """Draw the outlines; return the tags ``(x, y, text, colour)`` to draw over everything."""
    pw, ph = panel_size
    tags = []
    for box in boxes:
        color = label_color(box.label)
        if ground_truth_in_overlay:
            width = max(1, style.line_width - 1)
            _dashed_rectangle(draw, box, color, width, dash=3 * style.line_width + 2)
        else:
            draw.rectangle(
                [box.x0, box.y0, box.x1 - 1, box.y1 - 1], outline=color, width=style.line_width
            )
        name = _label_name(label_names, box.label)
        text = name if box.score is None else f"{name} {_format_score(box.score)}"
        if ground_truth_in_overlay:
            text = f"GT {text}"
        text = style.fit(text, pw)
        if not text:
            continue
        tw, th = style.text_width(text) + 2 * style.pad, style.tag_height
        if ground_truth_in_overlay:  # below the box, else inside its bottom edge
            y = box.y1 if box.y1 + th <= ph else box.y1 - th
        else:  # above the box, else inside its top edge
            y = box.y0 - th if box.y0 - th >= 0 else box.y0
        x = max(0, min(box.x0, pw - tw))
        tags.append((x, max(0, min(y, ph - th)), text, color))
    return tags


def _format_score(score: float) -> str:
    return f"{score:.2f}" if abs(score) < 100 else f"{score:.3g}"


# --- classification ------------------------------------------------------------------------


def _parse_scores(value: Any, name: str, label_count: int, task: str) -> np.ndarray:
    arr = _as_array(value, name)
    while arr.ndim > 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValidationError(
            f"{name}: expected a vector of {label_count} scores, got shape {tuple(arr.shape)}"
            f" and dtype {arr.dtype}"
        )
    scores = arr.astype(np.float64)
    if task == "classification" and scores.shape == (1,) and label_count == 2:
        scores = np.array([1.0 - scores[0], scores[0]])  # one sigmoid output: P(label 1)
    if scores.shape[0] != label_count:
        raise ValidationError(
            f"{name}: expected {label_count} scores (one per label name), got {scores.shape[0]}"
        )
    return scores


def _parse_class_ids(value: Any, name: str, label_count: int, task: str) -> list[int]:
    """Ground-truth label indices from a class id or a one-/multi-hot vector."""
    arr = _as_array(value, name)
    if arr.ndim == 1 and arr.size == 1 and label_count != 1:
        arr = arr.reshape(())
    if arr.ndim == 0:
        number = float(arr) if np.issubdtype(arr.dtype, np.number) else math.nan
        if not math.isfinite(number) or number != round(number):
            raise ValidationError(f"{name}: expected an integer class id, got {arr!r}")
        return [int(number)] if number >= 0 else []
    if arr.ndim == 1 and arr.shape[0] == label_count:
        vec = np.nan_to_num(arr.astype(np.float64))
        if task == "multilabel":
            return [int(i) for i in np.flatnonzero(vec >= 0.5)]
        return [int(np.argmax(vec))] if vec.max() > 0 else []
    raise ValidationError(
        f"{name}: expected a class id or a one-/multi-hot vector of {label_count},"
        f" got shape {tuple(arr.shape)}"
    )


def _classification_rows(
    label_names: Sequence[str],
    truth: list[int] | None,
    scores: np.ndarray | None,
    *,
    task: str,
    top_k: int,
    score_threshold: float,
) -> list[Row]:
    rows: list[Row] = []
    if truth is not None:
        items: Row = [(_label_name(label_names, k), label_color(k)) for k in truth]
        rows.append([("GT:", None)] + (items or [("none", MUTED_COLOR)]))
    if scores is not None:
        order = np.argsort(-scores, kind="stable")[:top_k]
        for rank, k in enumerate(order.tolist(), start=1):
            text = f"{rank}. {_label_name(label_names, k)} {_format_score(float(scores[k]))}"
            below = task == "multilabel" and not scores[k] >= score_threshold
            rows.append([(text, MUTED_COLOR if below else label_color(k))])
    return rows


# --- panels and layout ---------------------------------------------------------------------


@dataclass
class _Panel:
    image: Image.Image
    title: str
    rows: list[Row] = field(default_factory=list)


def _layout_rows(
    rows: list[Row], width: int, style: _Style
) -> tuple[list[tuple[int, int, str, RGB | None]], int]:
    """Place ``rows`` of tags in ``width`` px, wrapping; return the items and the height."""
    gap = style.pad
    items: list[tuple[int, int, str, RGB | None]] = []
    y = gap
    for row in rows:
        x = gap
        for text, color in row:
            text = style.fit(text, width - 2 * gap)
            tw = style.text_width(text) + 2 * style.pad
            if x > gap and x + tw > width - gap:
                x, y = gap, y + style.tag_height + gap
            items.append((x, y, text, color))
            x += tw + gap
        y += style.tag_height + gap
    return items, (y if rows else 0)


def _compose(panels: list[_Panel], style: _Style, title: str | None) -> Image.Image:
    pw, ph = panels[0].image.size
    bar = style.tag_height
    laid = [_layout_rows(panel.rows, pw, style) for panel in panels]
    caption = max(height for _, height in laid)
    header = bar if title else 0
    width = len(panels) * pw + (len(panels) - 1) * PANEL_GAP
    out = Image.new("RGB", (width, header + bar + ph + caption), BACKGROUND)
    draw = ImageDraw.Draw(out)
    if title:
        text = style.fit(title, width)
        draw.text((style.pad, style.pad), text, font=style.font, fill=TEXT_COLOR)
    areas = []
    for i, (panel, (items, _)) in enumerate(zip(panels, laid, strict=True)):
        left, top = i * (pw + PANEL_GAP), header + bar
        draw.text(
            (left + style.pad, header + style.pad),
            style.fit(panel.title, pw),
            font=style.font,
            fill=TEXT_COLOR,
        )
        out.paste(panel.image, (left, top))
        areas.append((left, top, left + pw, top + ph))
        for x, y, text, color in items:
            if color is None:
                draw.text(
                    (left + x + style.pad, top + ph + y + style.pad),
                    text,
                    font=style.font,
                    fill=TEXT_COLOR,
                )
            else:
                _draw_tag(draw, left + x, top + ph + y, text, color, style)
    out.info["panels"] = areas
    return out


def _check_options(
    task: str,
    label_names: Any,
    layout: str,
    bbox_format: str,
    score_threshold: Any,
    counts: Mapping[str, Any],
) -> tuple[list[str], str]:
    """The label names as strings and the canonical bbox format; ``counts`` are the int
    options by name."""
    if task not in TASKS:
        raise ValidationError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    if layout not in LAYOUTS:
        raise ValidationError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    if isinstance(label_names, str) or not isinstance(label_names, Sequence):
        raise ValidationError(
            f"label_names: expected a list of names, got {type(label_names).__name__}"
        )
    fmt = bbox_format_name(bbox_format)
    check_number(score_threshold, "score_threshold")
    for key, low in (("top_k", 1), ("max_boxes", 0), ("min_size", 1), ("max_size", 1)):
        check_int(counts[key], key, low=low)
    min_size, max_size = counts["min_size"], counts["max_size"]
    if min_size > max_size:
        raise ValidationError(
            f"min_size, max_size: expected 1 <= min_size <= max_size, got {min_size}, {max_size}"
        )
    return [str(name) for name in label_names], fmt


def render(
    image: Any,
    *,
    task: Task | str,
    label_names: Sequence[str],
    ground_truth: Any = None,
    prediction: Any = None,
    score_threshold: float = 0.5,
    bbox_format: str = "xyxy",
    layout: Layout | str = "auto",
    top_k: int = 3,
    max_boxes: int = 100,
    title: str | None = None,
    min_size: int = MIN_SIZE,
    max_size: int = MAX_SIZE,
) -> Image.Image:
    """Draw ``ground_truth`` and/or ``prediction`` for ``task`` onto ``image``.

    - classification / multilabel: ``prediction`` is a vector of one score per label, shown as
      is (probabilities or logits: nothing is applied), the ``top_k`` best sorted by score;
      for multilabel, scores under ``score_threshold`` are greyed. A single sigmoid output
      with two label names is read as P(label 1). ``ground_truth`` is a class id or a
      one-hot / multi-hot vector, shown as "GT: name".
    - detection: dicts with ``"boxes"`` ``(N, 4)`` in ``bbox_format`` (one of
      ``BBOX_FORMATS``, pixels unless ``rel_``), ``"labels"`` ``(N,)`` label indices (negative
      = padding, ignored) and, for predictions, optional ``"scores"`` ``(N,)``: boxes scoring
      under ``score_threshold`` are not drawn, at most ``max_boxes`` (best first) are.
      ``"classes"`` / ``"confidence"`` are accepted for labels / scores.
    - segmentation: a class map ``(H, W)`` or ``(H, W, 1)`` where 0 is background and label
      index k is k + 1, or scores ``(H, W, 1 + len(label_names))`` (argmax; channel 0 is the
      background). A float map that is not whole numbers is one probability per pixel of
      label 0 (``>= score_threshold``, 0.5 for ground truth). Masks of another resolution
      with the image's aspect ratio are stretched to it.

    Returns an RGB image; ``info["panels"]`` lists each panel's image area in it as
    ``(left, top, right, bottom)``. ``title``, if given, is written in a header across the top.
    Label indices outside ``label_names`` are drawn as "class <index>". Raises
    ``ValidationError`` (a ``ValueError``) naming the argument for input it cannot read.
    """
    counts = {"top_k": top_k, "max_boxes": max_boxes, "min_size": min_size, "max_size": max_size}
    names, fmt = _check_options(task, label_names, layout, bbox_format, score_threshold, counts)
    pixels = _to_rgb(image, "image")
    ih, iw = pixels.shape[:2]
    scale = _scale_for(ih, iw, min_size, max_size)
    pw, ph = max(1, round(iw * scale)), max(1, round(ih * scale))
    base = Image.fromarray(pixels)
    if (pw, ph) != (iw, ih):
        if scale >= 2:
            resample = Image.Resampling.NEAREST  # integer factor: pixels stay sharp
        else:
            resample = Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.LANCZOS
        base = base.resize((pw, ph), resample)
    style = _Style.for_panel(pw, ph)
    has_truth, has_pred = ground_truth is not None, prediction is not None
    if layout == "auto":
        side = has_truth and has_pred and task in ("detection", "segmentation")
    else:
        side = layout == "side_by_side" and has_truth and has_pred

    def parse(value: Any, name: str) -> Any:
        if value is None:
            return None
        truth = name == "ground_truth"
        if task in ("classification", "multilabel"):
            if truth:
                return _parse_class_ids(value, name, len(names), task)
            return _parse_scores(value, name, len(names), task)
        if task == "detection":
            return _parse_boxes(
                value,
                name,
                scored=not truth,
                bbox_format=fmt,
                image_size=(iw, ih),
                panel_size=(pw, ph),
                score_threshold=score_threshold,
                max_boxes=max_boxes,
            )
        return _parse_mask(
            value,
            name,
            label_count=len(names),
            image_size=(iw, ih),
            panel_size=(pw, ph),
            threshold=0.5 if truth else score_threshold,
        )

    truth_ann = parse(ground_truth, "ground_truth")
    pred_ann = parse(prediction, "prediction")

    def panel(truth: Any, pred: Any, panel_title: str) -> _Panel:
        img = base.copy()
        overlay = truth is not None and pred is not None
        rows: list[Row] = []
        if task in ("classification", "multilabel"):
            rows = _classification_rows(
                names, truth, pred, task=task, top_k=top_k, score_threshold=score_threshold
            )
        elif task == "detection":
            draw = ImageDraw.Draw(img)
            tags = []
            if truth is not None:
                tags += _draw_boxes(
                    draw, truth, names, style, (pw, ph), ground_truth_in_overlay=overlay
                )
            if pred is not None:
                tags += _draw_boxes(draw, pred, names, style, (pw, ph))
            for x, y, text, color in tags:
                _draw_tag(draw, x, y, text, color, style)
        else:
            arr = np.array(img)
            present: set[int] = set()
            if pred is not None:
                _paint_mask(arr, pred, style, fill=True, dashed=False)
                present.update(_present(pred))
            if truth is not None:
                _paint_mask(arr, truth, style, fill=not overlay, dashed=overlay)
                present.update(_present(truth))
            img = Image.fromarray(arr)
            legend: Row = [(_label_name(names, c - 1), label_color(c - 1)) for c in sorted(present)]
            rows = [legend] if legend else []
        return _Panel(img, panel_title, rows)

    if side:
        panels = [panel(truth_ann, None, "ground truth"), panel(None, pred_ann, "prediction")]
    else:
        if has_truth and has_pred:
            panel_title = {
                "detection": "prediction solid, GT dashed",
                "segmentation": "prediction filled, GT dashed",
            }.get(task, "ground truth + prediction")
        else:
            panel_title = "ground truth" if has_truth else "prediction" if has_pred else "image"
        panels = [panel(truth_ann, pred_ann, panel_title)]
    return _compose(panels, style, title)


def _batch_len(batch: Any, name: str) -> int:
    if isinstance(batch, Mapping):
        lengths = {
            key: _batch_len(value, f"{name}[{key!r}]")
            for key, value in batch.items()
            if value is not None
        }
        if not lengths:
            raise ValidationError(f"{name}: empty dict")
        if len(set(lengths.values())) > 1:
            sizes = ", ".join(f"{key!r}: {n}" for key, n in lengths.items())
            raise ValidationError(f"{name}: entries for different numbers of images ({sizes})")
        return next(iter(lengths.values()))
    shape = getattr(batch, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] is not None:
        return int(shape[0])
    try:
        return len(batch)
    except TypeError:
        raise ValidationError(f"{name}: expected a batch, got {type(batch).__name__}") from None


def _item(batch: Any, index: int) -> Any:
    if batch is None:
        return None
    if isinstance(batch, Mapping):
        return {key: _item(value, index) for key, value in batch.items()}
    return batch[index]


def render_batch(
    images: Any,
    *,
    task: Task | str,
    label_names: Sequence[str],
    ground_truths: Any = None,
    predictions: Any = None,
    max_images: int | None = None,
    **options: Any,
) -> list[Image.Image]:
    """``render`` for each image of a batch; returns one PIL image per image.

    ``images`` is a ``(B, H, W[, C])`` array or tensor or a list of images;
    ``ground_truths`` / ``predictions`` hold one entry per image in the form ``render`` takes,
    stacked (``(B, C)`` scores, ``(B, H, W)`` masks, a dict of ``(B, N, ...)`` arrays,
    ragged tensors) or as lists. Only the first ``max_images`` are rendered. Other keywords
    (``score_threshold``, ``bbox_format``, ``layout``, ...) go to ``render``.
    """
    count = _batch_len(images, "images")
    for batch, name in ((ground_truths, "ground_truths"), (predictions, "predictions")):
        if batch is not None and _batch_len(batch, name) != count:
            raise ValidationError(
                f"{name}: expected {count} entries (one per image), got {_batch_len(batch, name)}"
            )
    if max_images is not None:
        count = min(count, max(0, max_images))
    return [
        render(
            _item(images, i),
            task=task,
            label_names=label_names,
            ground_truth=_item(ground_truths, i),
            prediction=_item(predictions, i),
            **options,
        )
        for i in range(count)
    ]


def encode_png(image: Image.Image | Any) -> bytes:
    """PNG bytes of a PIL image (or of an image array, normalised as ``render`` does)."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(_to_rgb(image, "image"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
