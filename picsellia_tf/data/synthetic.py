"""Generated data with known annotations, and projects of it, for examples, tests, benchmarks.

- :func:`make_images`: detection data, coloured squares on a noisy background; a square's
  label is its colour's name.
- :func:`make_shape_images`: discs, squares and triangles of random bright colours; a shape's
  label is its kind. One shape per image is classification data (the image's class is its
  shape); several are segmentation data, with each image's exact class map (the polygons are
  drawn the way :mod:`picsellia_tf.data.masks` paints them).

No download; generation is deterministic for a seed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from picsellia_tf.types import ImageAnnotation, Rectangle, Shape

if TYPE_CHECKING:
    from picsellia_tf.client import Client

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 200, 60),
    "blue": (40, 80, 230),
}


@dataclass(frozen=True)
class SyntheticImage:
    """A generated image file and its squares as ``(label, Rectangle)``."""

    path: Path
    objects: list[tuple[str, Rectangle]] = field(default_factory=list)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth gradient with blocky noise: looks busy, compresses like a photo."""
    base = rng.integers(60, 190, size=3)
    ys = np.linspace(-30, 30, height)[:, None, None]
    xs = np.linspace(-30, 30, width)[None, :, None]
    coarse = rng.normal(0, 18, size=(max(1, height // 8), max(1, width // 8), 3))
    noise = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]
    if noise.shape[:2] != (height, width):
        noise = np.resize(noise, (height, width, 3))
    img = base[None, None, :] + ys + xs * rng.choice([-1, 1]) + noise
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(
    out_dir: str | os.PathLike[str],
    n: int,
    *,
    width: int = 64,
    height: int = 64,
    objects: int = 1,
    labels: Sequence[str] = tuple(COLOURS),
    min_side: float = 0.2,
    max_side: float = 0.45,
    fmt: str = "jpg",
    seed: int = 0,
    prefix: str = "img",
) -> list[SyntheticImage]:
    """Write ``n`` images into ``out_dir`` and return them with their squares.

    Square sides are a random fraction (``min_side`` to ``max_side``) of the shorter image side.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    short = min(width, height)
    images: list[SyntheticImage] = []
    for i in range(n):
        pixels = _background(rng, width, height)
        placed: list[tuple[str, Rectangle]] = []
        for _ in range(objects):
            for _attempt in range(50):
                side = int(rng.uniform(min_side, max_side) * short)
                side = max(2, side)
                x = int(rng.integers(0, width - side + 1))
                y = int(rng.integers(0, height - side + 1))
                rect = Rectangle(left=x, top=y, width=side, height=side)
                if not any(_overlap(rect, r) for _, r in placed):
                    break
            else:
                continue
            label = str(labels[int(rng.integers(0, len(labels)))])
            colour = COLOURS.get(label, tuple(int(v) for v in rng.integers(0, 256, 3)))
            pixels[y : y + side, x : x + side] = colour
            placed.append((label, rect))
        path = out / f"{prefix}_{i:05d}.{fmt}"
        if fmt == "jpg":
            Image.fromarray(pixels).save(path, quality=90)
        else:
            Image.fromarray(pixels).save(path)
        images.append(SyntheticImage(path, placed))
    return images


def _overlap(a: Rectangle, b: Rectangle) -> bool:
    return not (
        a.left + a.width <= b.left
        or b.left + b.width <= a.left
        or a.top + a.height <= b.top
        or b.top + b.height <= a.top
    )


def create_project(
    client: Client,
    name: str,
    files: Sequence[str | os.PathLike[str]],
    shapes: Mapping[str, Sequence[Shape]],
    *,
    labels: Sequence[str | tuple[str, str]],
    project_type: str = "detection",
    chunk: int = 500,
) -> tuple[str, str]:
    """Create a dataset and a project ``name``: upload ``files``, annotate them with ``shapes``.

    ``shapes`` maps a file name to its shapes (a file not in it stays unannotated; an empty
    list is an annotated image with no shape). ``labels`` are names (tool ``rectangle``) or
    ``(name, tool)``. Returns ``(project_id, dataset_id)``.
    """
    dataset = client.datasets.create(name)
    stored = client.datasets.upload(dataset.id, [Path(f) for f in files])
    ids = {raw.filename: raw.id for raw in stored}
    project = client.projects.create(
        name,
        project_type,
        labels=[(label, "rectangle") if isinstance(label, str) else label for label in labels],
        dataset_name=name,
    )
    annotations = [ImageAnnotation(ids[fname], list(s)) for fname, s in shapes.items()]
    for start in range(0, len(annotations), chunk):
        client.annotations.upload(project.id, annotations[start : start + chunk])
    return project.id, dataset.id


def upload_project(
    client: Client,
    images: Sequence[SyntheticImage],
    name: str,
    *,
    labels: Sequence[str] = tuple(COLOURS),
    project_type: str = "detection",
) -> tuple[str, str]:
    """Create a dataset and a project ``name`` holding ``images`` and their squares (as
    rectangles). Returns ``(project_id, dataset_id)``."""
    shapes = {
        im.path.name: [Shape("rectangle", label, rectangle=rect) for label, rect in im.objects]
        for im in images
    }
    return create_project(
        client, name, [im.path for im in images], shapes, labels=labels, project_type=project_type
    )


SHAPE_KINDS: tuple[str, ...] = ("disc", "square", "triangle")


@dataclass(frozen=True)
class ShapeImage:
    """A generated image file, its shapes as ``(label, polygon vertices (x, y))`` and its
    class map (``uint8[H, W]``: 0 background, label ``k`` of ``labels`` is ``k + 1``)."""

    path: Path
    objects: list[tuple[str, list[tuple[int, int]]]]
    mask: np.ndarray


def shape_polygon(kind: str, cx: float, cy: float, radius: float) -> list[tuple[int, int]]:
    """Integer vertices of a ``kind`` shape centred on ``(cx, cy)`` with that circumradius-ish
    size: a 20-gon disc, an axis-aligned square, an upward triangle."""
    if kind == "disc":
        angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        points = [(cx + radius * np.cos(a), cy + radius * np.sin(a)) for a in angles]
    elif kind == "square":
        h = radius * 0.85
        points = [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    elif kind == "triangle":
        points = [
            (cx, cy - radius),
            (cx + radius, cy + radius * 0.8),
            (cx - radius, cy + radius * 0.8),
        ]
    else:
        raise ValueError(f"kind: expected one of {', '.join(SHAPE_KINDS)}, got {kind!r}")
    return [(int(round(x)), int(round(y))) for x, y in points]


def _bright(rng: np.random.Generator) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(float(rng.uniform()), float(rng.uniform(0.6, 1.0)), 1.0)
    return (round(r * 255), round(g * 255), round(b * 255))


def make_shape_images(
    out_dir: str | os.PathLike[str],
    n: int,
    *,
    size: int = 32,
    objects: int = 1,
    labels: Sequence[str] = SHAPE_KINDS,
    min_radius: float = 0.2,
    max_radius: float = 0.34,
    seed: int = 0,
    prefix: str = "shape",
) -> list[ShapeImage]:
    """Write ``n`` PNG images of ``size`` x ``size`` with up to ``objects`` non-overlapping
    shapes each (radius a fraction ``min_radius`` to ``max_radius`` of ``size``); labels are
    drawn evenly from ``labels`` (each a kind of :data:`SHAPE_KINDS`)."""
    for label in labels:
        if label not in SHAPE_KINDS:
            raise ValueError(f"labels: {label!r} is not one of {', '.join(SHAPE_KINDS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images: list[ShapeImage] = []
    for i in range(n):
        pixels = (_background(rng, size, size) * 0.55).astype(np.uint8)  # darker than shapes
        image = Image.fromarray(pixels)
        mask = Image.new("L", (size, size), 0)
        draw, paint = ImageDraw.Draw(image), ImageDraw.Draw(mask)
        placed: list[tuple[float, float, float]] = []
        shapes: list[tuple[str, list[tuple[int, int]]]] = []
        for k in range(objects):
            label_index = (i + k) % len(labels) if objects == 1 else int(rng.integers(len(labels)))
            for _attempt in range(50):
                radius = float(rng.uniform(min_radius, max_radius)) * size
                cx = float(rng.uniform(radius, size - 1 - radius))
                cy = float(rng.uniform(radius, size - 1 - radius))
                if all(np.hypot(cx - x, cy - y) > radius + r + 1 for x, y, r in placed):
                    break
            else:
                continue
            label = str(labels[label_index])
            polygon = shape_polygon(label, cx, cy, radius)
            colour = _bright(rng)
            draw.polygon(polygon, fill=colour, outline=colour)
            paint.polygon(polygon, fill=label_index + 1, outline=label_index + 1)
            placed.append((cx, cy, radius))
            shapes.append((label, polygon))
        path = out / f"{prefix}_{i:05d}.png"
        image.save(path)
        images.append(ShapeImage(path, shapes, np.asarray(mask)))
    return images


def upload_shape_project(
    client: Client,
    images: Sequence[ShapeImage],
    name: str,
    *,
    labels: Sequence[str] = SHAPE_KINDS,
    project_type: str = "classification",
) -> tuple[str, str]:
    """Create a dataset and a project ``name`` holding ``images`` with their shapes as
    polygons. Returns ``(project_id, dataset_id)``."""
    shapes = {
        im.path.name: [
            Shape("polygon", label, points=[(float(x), float(y)) for x, y in polygon])
            for label, polygon in im.objects
        ]
        for im in images
    }
    return create_project(
        client,
        name,
        [im.path for im in images],
        shapes,
        labels=[(label, "polygon") for label in labels],
        project_type=project_type,
    )
