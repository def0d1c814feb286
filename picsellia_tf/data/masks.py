"""Segmentation masks: shapes painted once into a class-map PNG, cached on disk.

A mask is a single-channel ``uint8`` image the size of the displayed image: 0 is background,
label ``k`` (0-based in the project's label order) is painted as ``k + 1``. Shapes are painted
in their annotation order, a later shape over an earlier one.

Rounding, explicitly:

- A polygon's vertices are rounded to the nearest integer pixel (halves up:
  ``floor(v + 0.5)``), then PIL's ``ImageDraw.polygon`` paints every pixel on or inside the
  closed polygon through those points (``fill`` and ``outline`` both the class value). A pixel
  ``(col, row)`` is the point ``x = col, y = row``.
- A rectangle paints the pixel block of its box, half-open like the box itself: columns
  ``round(left) .. round(left + width) - 1``, rows ``round(top) .. round(top + height) - 1``
  (same rounding), so an integer ``width x height`` rectangle paints exactly that many pixels.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence

from PIL import Image, ImageDraw

from picsellia_tf.data.cache import atomic_path
from picsellia_tf.data.manifest import Geometry

MASK_VERSION = 1
"""Bumped when the painting rules change, so that cached masks are repainted."""


def round_half_up(v: float) -> int:
    """``v`` rounded to the nearest integer, halves up."""
    return math.floor(v + 0.5)


def paint(shapes: Sequence[Geometry], width: int, height: int) -> Image.Image:
    """The class map of ``shapes`` on a ``width`` x ``height`` image (mode ``"L"``)."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for g in shapes:
        value = g.label + 1
        if value > 255:
            raise ValueError(f"label index {g.label} does not fit in a uint8 mask")
        if g.kind == "rectangle":
            (x1, y1), (x2, y2) = g.points
            c1, r1 = round_half_up(x1), round_half_up(y1)
            c2, r2 = round_half_up(x2) - 1, round_half_up(y2) - 1
            if c2 >= c1 and r2 >= r1:
                draw.rectangle([c1, r1, c2, r2], fill=value)
        else:
            pts = [(round_half_up(x), round_half_up(y)) for x, y in g.points]
            draw.polygon(pts, fill=value, outline=value)
    return mask


def mask_key(image_key: str, shapes: Sequence[Geometry], width: int, height: int) -> str:
    """A content key for a mask: what it paints, on what size, with which rules."""
    payload = json.dumps(
        [MASK_VERSION, image_key, width, height, [[g.label, g.kind, g.points] for g in shapes]]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_mask(
    directory: str, image_key: str, shapes: Sequence[Geometry], width: int, height: int
) -> str:
    """The path of the mask PNG for ``shapes``, painting it first if not cached yet."""
    key = mask_key(image_key, shapes, width, height)
    path = os.path.join(directory, key[:2], key + ".png")
    if os.path.exists(path):
        return path
    mask = paint(shapes, width, height)
    with atomic_path(path) as tmp:
        mask.save(tmp, format="PNG")
    return path
