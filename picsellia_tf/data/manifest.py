"""The manifest: annotations joined with raw data, shapes validated, images split.

Pure Python (no TensorFlow). :func:`join` runs before any download and works on what the API
answered; :func:`finalize` runs once an image's displayed size is known (after the cache has
applied its EXIF orientation) and turns shapes into the task's targets, clipped to the image.

Rules (also in the package docstring):

- Coordinates are pixels in the displayed image: a rectangle's ``left`` is x (column), ``top``
  is y (row) (CONTRACT.md); polygon points are ``(x, y)``.
- ``classification``: an image's class is the label of its shapes (any tool; several shapes of
  the same label are fine). An image whose shapes carry several distinct labels, or none, is
  skipped and reported. ``multilabel``: the set of its shapes' labels (none is a valid,
  all-zero target).
- ``detection``: rectangles give their box; polygons give the box enclosing their points; lines
  and points give no box and are reported. Boxes are clipped to the image; a box with no area
  left is dropped and reported. With ``max_boxes``, boxes past the first ``max_boxes`` of an
  image are dropped and reported.
- ``segmentation``: rectangles and polygons are painted (see :mod:`picsellia_tf.data.masks`);
  lines and points are reported. A shape entirely outside the image is dropped and reported.
- An image of the dataset that has no annotation in the project is not an example (counted in
  ``DatasetInfo.unannotated``, not reported as skipped). An annotated image with no shapes is a
  valid negative for detection, segmentation and multilabel.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from picsellia_tf.data.cache import SHA256_KEY, cache_key
from picsellia_tf.types import ImageAnnotation, RawData, Shape

SPLITS: tuple[str, ...] = ("train", "val")


@dataclass(frozen=True, slots=True)
class Skipped:
    """An image or a shape left out of the dataset, and why.

    ``shape_index`` is the shape's position in the image's annotation, or ``None`` when the
    whole image was left out.
    """

    image_id: str | None
    filename: str | None
    reason: str
    shape_index: int | None = None

    def __str__(self) -> str:
        where = self.filename or self.image_id or "?"
        if self.shape_index is not None:
            where += f" shape #{self.shape_index}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Geometry:
    """A validated shape: its label index and its geometry in pixels.

    ``kind`` is ``"rectangle"`` (``points`` = the two corners ``(x1, y1), (x2, y2)``) or
    ``"polygon"`` (``points`` = its vertices).
    """

    index: int
    label: int
    kind: str
    points: tuple[tuple[float, float], ...]

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)`` enclosing the shape."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(slots=True)  # one per image: not frozen (10x cheaper to make); read-only
class Candidate:
    """An annotated image of the dataset, before its file is fetched.

    ``key`` is its cache key (:func:`picsellia_tf.data.cache.cache_key`, which holds the
    checksum), ``index`` its position in the dataset's raw data listing (where a fresh
    download URL is found). Its download URL is not kept (:func:`stream` gives it beside).
    """

    image_id: str
    filename: str
    split: str
    shapes: tuple[Geometry, ...] = ()
    classes: tuple[int, ...] = ()
    key: str = ""
    index: int = 0
    size: int | None = None

    @property
    def checksum(self) -> str | None:
        """The file's sha256 (lower case), if the platform gave one."""
        return self.key[len(SHA256_KEY) :] if self.key.startswith(SHA256_KEY) else None


@dataclass(slots=True)  # one per image: not frozen (10x cheaper to make); read-only
class Example:
    """One element of the dataset, in the displayed image's pixels, before resizing.

    ``boxes`` are ``(x1, y1, x2, y2)`` (detection); ``classes`` the class (classification) or
    the classes (multilabel); ``shapes`` what masks paint (segmentation). No image id: one
    string less per image held (its file name stays, for messages).
    """

    filename: str
    path: str
    width: int
    height: int
    split: str
    classes: tuple[int, ...] = ()
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    box_labels: tuple[int, ...] = ()
    shapes: tuple[Geometry, ...] = ()


@dataclass
class JoinResult:
    """What :func:`join` found: the candidates, the skipped items and the split counts."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    split_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    unannotated: int = 0


def split_of(image_id: str, seed: int, val_fraction: float) -> str:
    """``"train"`` or ``"val"`` for an image: a hash of its id and the seed, order-independent."""
    return splitter(seed, val_fraction)(image_id)


def splitter(seed: int, val_fraction: float) -> Callable[[str], str]:
    """:func:`split_of` for one ``seed`` and ``val_fraction``, for many images."""
    prefix = f"{seed}:".encode()
    sha256 = hashlib.sha256

    def split(image_id: str) -> str:
        digest = sha256(prefix + image_id.encode()).digest()
        return "val" if int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction else "train"

    return split


def _finite(*values: float) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def parse_shape(
    shape: Shape, index: int, label_ids: dict[str, int], task: str
) -> tuple[Geometry | None, str | None]:
    """A shape as a :class:`Geometry` for ``task``, or ``None`` and the reason it is unusable."""
    if shape.label not in label_ids:
        return None, f"label {shape.label!r} is not a project label"
    label = label_ids[shape.label]
    if task in ("classification", "multilabel"):
        return Geometry(index, label, shape.type, ()), None
    if shape.type == "rectangle":
        r = shape.rectangle
        if r is None:
            return None, "rectangle shape without a rectangle"
        if not _finite(r.left, r.top, r.width, r.height):
            return None, "rectangle with a non-numeric or non-finite coordinate"
        if r.width <= 0 or r.height <= 0:
            return None, f"degenerate rectangle (width {r.width}, height {r.height})"
        x1, y1 = float(r.left), float(r.top)
        return Geometry(index, label, "rectangle", ((x1, y1), (x1 + r.width, y1 + r.height))), None
    if shape.type == "polygon":
        pts = tuple((float(x), float(y)) for x, y in shape.points if _finite(x, y))
        if len(pts) != len(shape.points):
            return None, "polygon with a non-numeric or non-finite point"
        if len(set(pts)) < 3:
            return None, f"degenerate polygon ({len(set(pts))} distinct points, needs 3)"
        if _polygon_area(pts) == 0.0:
            return None, "degenerate polygon (zero area)"
        return Geometry(index, label, "polygon", pts), None
    return None, f"{shape.type} shape has no area; not used for {task}"


def _polygon_area(pts: Sequence[tuple[float, float]]) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(pts, (*pts[1:], pts[0]), strict=True):
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def join(
    annotations: Iterable[ImageAnnotation],
    raw_data: Iterable[RawData],
    label_names: Sequence[str],
    *,
    task: str,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> JoinResult:
    """Join annotations with the dataset's raw data; validate (:func:`stream`, collected)."""
    result = JoinResult()
    result.candidates = [
        c
        for c, _ in stream(
            annotations,
            raw_data,
            label_names,
            result,
            task=task,
            seed=seed,
            val_fraction=val_fraction,
        )
    ]
    return result


def stream(
    annotations: Iterable[ImageAnnotation],
    raw_data: Iterable[RawData],
    label_names: Sequence[str],
    result: JoinResult,
    *,
    task: str,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> Iterator[tuple[Candidate, str]]:
    """Each candidate with its download URL, as ``raw_data`` is read; ``result`` gets the
    rest (skipped items, split counts, unannotated images), complete once this ends.

    An annotation names its image by id, or, when it has no id, by filename. ``annotations``
    is read first (kept as validated shapes only), then ``raw_data`` is streamed: nothing of a
    raw data row is kept but what its candidate needs. Candidates come in the dataset's order.
    Annotations naming no image of the dataset, shapes with unknown labels or degenerate
    geometry, and classification images with several labels are reported in ``skipped``.
    """
    label_ids = {name: i for i, name in enumerate(label_names)}
    # image id (or filename) -> what its annotation gives (_parse)
    by_id: dict[str, _Parsed] = {}
    by_name: dict[str, _Parsed] = {}
    same: dict[tuple[int, ...], tuple[int, ...]] = {}
    for ann in annotations:
        parsed = _parse(ann, label_ids, task)
        if ann.image_id:
            by_id[ann.image_id] = parsed  # a later annotation replaces an earlier one
        elif ann.filename:
            by_name[ann.filename] = parsed
        else:
            result.skipped.append(Skipped(None, None, "annotation names no image"))
    split_of_id = splitter(seed, val_fraction)
    split_counts = result.split_counts
    one_class = task == "classification"
    for index, row in enumerate(raw_data):
        found = by_id.pop(row.id, None)
        if found is None and by_name:
            found = by_name.pop(row.filename, None)
        if found is None:
            result.unannotated += 1
            continue
        url = row.url
        if not url:
            result.skipped.append(Skipped(row.id, row.filename, "raw data has no download url"))
            continue
        try:
            key = cache_key(url, row.checksum)
        except ValueError:
            bad = f"raw data checksum {str(row.checksum)[:80]!r} is not a sha256 hex digest"
            result.skipped.append(Skipped(row.id, row.filename, bad))
            continue
        _, shapes, classes, problems = found
        for i, reason in problems:
            result.skipped.append(Skipped(row.id, row.filename, reason, i))
        if one_class and len(classes) != 1:
            reason = (
                "no labelled shape: a classification image needs one label"
                if not classes
                else "several labels ("
                + ", ".join(repr(label_names[c]) for c in classes)
                + "): a classification image needs one"
            )
            result.skipped.append(Skipped(row.id, row.filename, reason))
            continue
        split = split_of_id(row.id)
        split_counts[split] += 1
        classes = same.setdefault(classes, classes)  # one tuple object per label set
        yield Candidate(row.id, row.filename, split, shapes, classes, key, index, row.size), url
    for image_id, (filename, *_) in by_id.items():
        result.skipped.append(Skipped(image_id, filename, "annotated image is not in the dataset"))
    for filename in by_name:
        result.skipped.append(Skipped(None, filename, "annotated image is not in the dataset"))


_Parsed = tuple[str | None, tuple[Geometry, ...], tuple[int, ...], tuple[tuple[int, str], ...]]


def _parse(ann: ImageAnnotation, label_ids: dict[str, int], task: str) -> _Parsed:
    """An annotation as (its filename, shapes, sorted label ids, unusable shapes with the
    reason). Classification tasks keep only the label ids (no geometry per shape)."""
    shapes: list[Geometry] = []
    problems: list[tuple[int, str]] = []
    if task in ("classification", "multilabel"):  # parse_shape's rule for them, no Geometry
        labels: set[int] = set()
        for i, shape in enumerate(ann.shapes):
            label = label_ids.get(shape.label)
            if label is None:
                problems.append((i, f"label {shape.label!r} is not a project label"))
            else:
                labels.add(label)
        return ann.filename, (), tuple(sorted(labels)), tuple(problems)
    for i, shape in enumerate(ann.shapes):
        geometry, reason = parse_shape(shape, i, label_ids, task)
        if geometry is None:
            problems.append((i, reason or "invalid"))
        else:
            shapes.append(geometry)
    classes = tuple(sorted({g.label for g in shapes}))
    kept = () if task in ("classification", "multilabel") else tuple(shapes)
    return ann.filename, kept, classes, tuple(problems)


def _clip_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def finalize(
    candidate: Candidate,
    path: str,
    width: int,
    height: int,
    *,
    task: str,
    max_boxes: int | None = None,
) -> tuple[Example, list[Skipped]]:
    """The candidate as an :class:`Example` for an image of ``width`` x ``height`` pixels.

    Returns the example and the shapes dropped on the way (outside the image, over
    ``max_boxes``).
    """
    example = Example(candidate.filename, path, width, height, candidate.split, candidate.classes)
    skipped: list[Skipped] = []
    if task in ("classification", "multilabel"):
        return example, skipped

    def drop(g: Geometry, reason: str) -> None:
        skipped.append(Skipped(candidate.image_id, candidate.filename, reason, g.index))

    kept: list[Geometry] = []
    boxes: list[tuple[float, float, float, float]] = []
    for g in candidate.shapes:
        x1, y1, x2, y2 = _clip_box(g.bounds(), width, height)
        if x2 <= x1 or y2 <= y1:
            drop(g, f"outside the {width}x{height} image (no area left after clipping)")
            continue
        if task == "detection" and max_boxes is not None and len(boxes) >= max_boxes:
            drop(g, f"more than max_boxes={max_boxes} boxes in the image")
            continue
        kept.append(g)
        boxes.append((x1, y1, x2, y2))
    if task == "detection":
        labels = tuple(g.label for g in kept)
        return replace(example, boxes=tuple(boxes), box_labels=labels), skipped
    return replace(example, shapes=tuple(kept)), skipped
