"""A labelled Picsellia project as a ``tf.data.Dataset``, in one call: :func:`load`.

Elements, before batching (``C`` = number of labels, ``N`` = boxes in the image):

- ``"classification"``: ``(uint8[H, W, 3], int32[])``. An image's class is the label of its
  shapes, whatever their tool (one shape, or several with the same label). An image with
  several distinct labels, or no shape, is skipped and reported.
- ``"multilabel"``: ``(uint8[H, W, 3], float32[C])``, a multi-hot vector of the labels of the
  image's shapes (an annotated image with no shape gives all zeros).
- ``"detection"``: ``(uint8[H, W, 3], {"boxes": float32[N, 4], "labels": int32[N]})``, boxes in
  ``bbox_format`` (Keras 3's ``keras.utils.bounding_boxes`` formats). Rectangles give their box,
  polygons their enclosing box. With ``max_boxes`` every element has exactly ``max_boxes`` rows,
  padded with boxes of 0 and labels -1 (Keras 3's ``densify_bounding_boxes`` convention), and
  batches are dense. Without ``max_boxes`` but with ``batch_size``, batches are
  ``Dataset.ragged_batch``-ed: ``boxes`` is a ``RaggedTensor[B, None, 4]`` and ``labels`` a
  ``RaggedTensor[B, None]`` (images stay dense).
- ``"segmentation"``: ``(uint8[H, W, 3], uint8[H, W, 1])``, a class map: 0 is background, label
  ``k`` is ``k + 1``. Rectangles and polygons are painted (rules in
  :mod:`picsellia_tf.data.masks`); resizing is nearest-neighbour, padding 0.

Label ids are the project's label order, from 0 (``DatasetInfo.label_names``). The split is a
hash of the image id and ``seed``: stable across runs, independent of listing order. With
``shuffle`` the order is seeded (``reshuffle_each_iteration=True``: each epoch differs, the
sequence of epochs is the same for a seed). Images are cached on disk (see
:mod:`picsellia_tf.data.cache`); the pipeline is pure TensorFlow ops
(:mod:`picsellia_tf.data.pipeline`), so it can run under tf.data service.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picsellia_tf._checks import check_choice, check_flag, check_int, check_number, invalid
from picsellia_tf._tasks import KERAS_BBOX_FORMATS, TASKS
from picsellia_tf.data.manifest import SPLITS, Example, Skipped
from picsellia_tf.errors import PicselliaError, ValidationError

log = logging.getLogger("picsellia_tf.data")

if TYPE_CHECKING:
    import tensorflow as tf

    from picsellia_tf.client import Client

RESIZE_MODES: tuple[str, ...] = ("pad", "stretch")
ON_ERROR: tuple[str, ...] = ("warn", "raise", "ignore")


class DataError(PicselliaError):
    """An image or shape of the project cannot be used (raised with ``on_error="raise"``)."""

    def __init__(self, skipped: Skipped):
        super().__init__(f"cannot use {skipped}")
        self.skipped = skipped
        self.image_id = skipped.image_id
        self.filename = skipped.filename
        self.reason = skipped.reason


@dataclass
class DatasetInfo:
    """What :func:`load` built.

    ``split_counts``: images assigned to each split (before any file was fetched).
    ``label_counts``: per loaded split, per label: images (classification, multilabel) or
    shapes (detection, segmentation) in the returned dataset. ``num_examples``: elements of the
    returned dataset before sharding and batching. ``skipped``: every image or shape left out,
    with the reason. ``unannotated``: images of the dataset with no annotation in the project
    (not examples, not errors). ``downloaded``: files fetched by this call (0 on a warm cache).
    """

    task: str
    label_names: list[str]
    split: str | None
    num_examples: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    unannotated: int = 0
    downloaded: int = 0
    image_size: tuple[int, int] | None = None
    bbox_format: str | None = None
    cache_dir: str | None = None

    @property
    def num_classes(self) -> int:
        """The number of labels."""
        return len(self.label_names)


def _image_size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValidationError(
        f"image_size: expected a positive int or (height, width) of positive ints, got {value!r}"
    )


def _check_args(
    task: str,
    split: str | None,
    val_fraction: float,
    resize: str,
    bbox_format: str,
    max_boxes: int | None,
    batch_size: int | None,
    download_workers: int,
    on_error: str,
) -> None:
    check_choice(task, TASKS, "task")
    check_choice(split, SPLITS, "split", or_none=True)
    check_number(val_fraction, "val_fraction", low=0.0, high=1.0)
    check_choice(resize, RESIZE_MODES, "resize")
    if not (isinstance(bbox_format, str) and bbox_format.lower() in KERAS_BBOX_FORMATS):
        raise invalid(
            "bbox_format",
            f"expected one of {', '.join(KERAS_BBOX_FORMATS)} "
            f"(keras.utils.bounding_boxes formats), got {bbox_format!r}",
        )
    check_int(max_boxes, "max_boxes", low=1, or_none=True)
    check_int(batch_size, "batch_size", low=1, or_none=True)
    check_int(download_workers, "download_workers", low=1)
    check_choice(on_error, ON_ERROR, "on_error")


def load(
    client: Client,
    project_id: str,
    dataset_id: str,
    *,
    task: str,
    split: str | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    image_size: int | tuple[int, int] | None = None,
    resize: str = "pad",
    bbox_format: str = "xyxy",
    max_boxes: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    download_workers: int = 8,
    on_error: str = "warn",
    input_context: tf.distribute.InputContext | None = None,
    progress: bool = True,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """The project's annotated images of ``dataset_id`` as a dataset, and what went into it.

    ``task``: ``"classification"``, ``"multilabel"``, ``"detection"`` or ``"segmentation"``
    (elements in the module docstring). ``split``: ``None`` (all), ``"train"`` or ``"val"``
    (``val_fraction`` of the images, chosen by hashing each image id with ``seed``).
    ``image_size``: ``(height, width)`` (or one int) to resize to, by ``resize="pad"``
    (aspect kept, centred, black padding) or ``"stretch"``; ``None`` keeps each image's size
    (batching then needs every image to share one size). ``cache_dir``: default
    ``$PICSELLIA_CACHE_DIR`` or ``~/.cache/picsellia_tf/images``. ``on_error``: what an unusable
    image or shape does: ``"warn"`` (one warning summing them up), ``"raise"``
    (:class:`DataError` naming the first), ``"ignore"``; all of them are in ``info.skipped``.
    ``input_context``: a ``tf.distribute.InputContext``; this pipeline then reads only its
    shard (``batch_size`` is per pipeline). ``progress``: a progress line on stderr while
    fetching images.
    """
    from picsellia_tf.data import cache as cache_mod
    from picsellia_tf.data import cache_index, listing, manifest, masks
    from picsellia_tf.data.gcpause import GcPause
    from picsellia_tf.data.progress import Progress

    _check_args(
        task,
        split,
        val_fraction,
        resize,
        bbox_format,
        max_boxes,
        batch_size,
        download_workers,
        on_error,
    )
    size = _image_size(image_size)
    bbox_format = bbox_format.lower()
    check_flag(shuffle, "shuffle")
    check_int(seed, "seed")

    skipped: list[Skipped] = []

    def report(items: list[Skipped]) -> None:
        if items and on_error == "raise":
            raise DataError(items[0])
        skipped.extend(items)

    with GcPause() as pause:  # the records of a warm load make no garbage cycles
        project = client.projects.get(project_id)
        label_names = [label.name for label in project.labels]
        dataset_size = client.datasets.get(dataset_id).size
        joined = manifest.JoinResult()
        listed = manifest.stream(  # (the raw data's progress is the images bar's)
            listing.list_annotations(client, project_id, project.nb_annotations, progress),
            listing.list_raw_data(client, dataset_id, dataset_size, False),
            label_names,
            joined,
            task=task,
            seed=seed,
            val_fraction=val_fraction,
        )
        store = cache_mod.ImageCache(cache_dir)
        index = cache_index.CacheIndex(store, _index_name(project_id, dataset_id, split))
        wanted: list[manifest.Candidate] = []
        # per file: where it is and its size (ImageCache.pack), or why it is not usable (None
        # while it is fetched); one file for identical images
        results: dict[str, int | tuple[str, int, int] | str | None] = {}
        meter = Progress(
            "picsellia_tf.data: images", None, "ready", counts=("downloaded", "unusable"),
            enabled=progress,
        )  # fmt: skip
        listing_done = False
        hits = 0  # files the index answered for (no record read, no item, no outcome)

        def files() -> Iterator[cache_mod.Item]:
            """The files to fetch as the raw data is listed: the download URL is held only by
            the item, in the fetch window. Files the cache index holds are not fetched."""
            nonlocal listing_done, hits
            for c, url in listed:
                if joined.skipped and on_error == "raise":
                    raise DataError(joined.skipped[0])
                if split is not None and c.split != split:
                    continue
                wanted.append(c)
                key = c.key
                if key in results:
                    continue
                packed = index.get(key)
                if packed is not None:  # recorded for the next index already: marked done
                    results[key] = ~packed
                    hits += 1
                    if not hits & 255:
                        meter.advance(256)
                    continue
                results[key] = None
                pause.release()  # downloads from here on: the collector runs as usual
                yield cache_mod.Item(key, url, c.checksum, c.filename, c.index, c.size)
            meter.advance(hits & 255)
            listing_done = True
            meter.expect(len(results))

        refresher = listing.UrlRefresher(client, dataset_id)

        def download(url: str, dest: str, item: cache_mod.Item) -> str | None:
            """Stops at the declared size; the client checks the sha256 as the bytes stream in
            (a corrupt transfer is retried), so the cache need not read the file again."""
            client.download(url, dest, sha256=item.checksum, size=item.size, name=item.name)
            return item.checksum

        downloaded = usable = 0
        outcomes = store.fetch(
            files(), download, workers=download_workers, progress=meter, refresh=refresher.refresh
        )
        try:
            for outcome in outcomes:
                downloaded += outcome.downloaded
                if outcome.path is not None:
                    usable += 1
                    results[outcome.item.key] = store.pack(outcome)
                else:
                    reason = results[outcome.item.key] = outcome.error or "not cached"
                    if on_error == "raise":
                        image = next(c for c in wanted if c.key == outcome.item.key)
                        raise DataError(Skipped(image.image_id, image.filename, reason))
        except KeyboardInterrupt:
            message = _interrupted(hits + usable, len(results), listing_done, store.directory)
            raise KeyboardInterrupt(message) from None
        finally:
            outcomes.close()
            meter.close()
        pause.hold()
        report(joined.skipped)
        if refresher.refreshed:
            log.info(
                "picsellia_tf.data: %d download URLs had expired and were listed again",
                refresher.refreshed,
            )

        examples: list[Example] = []
        mask_paths: list[str] | None = [] if task == "segmentation" else None
        wanted.reverse()
        while wanted:  # each candidate freed once its example is made
            c = wanted.pop()
            result = results[c.key]
            assert result is not None  # every file has its outcome once fetch ends
            if isinstance(result, str):
                skipped.append(Skipped(c.image_id, c.filename, result))
                continue
            if isinstance(result, int):
                if result >= 0:  # the first image of this file: into the index, marked done
                    index.record(c.key, result)
                    results[c.key] = ~result
                else:
                    result = ~result
            path, width, height = store.unpack(c.key, result)
            example, dropped = manifest.finalize(
                c, path, width, height, task=task, max_boxes=max_boxes
            )
            if dropped:
                report(dropped)
            examples.append(example)
            if mask_paths is not None:
                mask_paths.append(
                    masks.cached_mask(store.masks_dir, c.key, example.shapes, width, height)
                )
        results.clear()
        index.save()

        static_size: tuple[int, int] | None = None
        if size is None:
            sizes = {(e.height, e.width) for e in examples}
            if len(sizes) == 1:
                static_size = sizes.pop()
            elif batch_size is not None and len(sizes) > 1:
                by_size = sorted(examples, key=lambda e: (e.height, e.width))
                a, b = by_size[0], by_size[-1]
                raise ValidationError(
                    f"batch_size={batch_size} needs images of one size, but {a.filename} is "
                    f"{a.width}x{a.height} and {b.filename} is {b.width}x{b.height}: "
                    "pass image_size=(height, width) to resize them"
                )

        info = DatasetInfo(
            task=task,
            label_names=label_names,
            split=split,
            num_examples=len(examples),
            split_counts=dict(joined.split_counts),
            label_counts=_label_counts(examples, label_names, task, split),
            skipped=skipped,
            unannotated=joined.unannotated,
            downloaded=downloaded,
            image_size=size,
            bbox_format=bbox_format if task == "detection" else None,
            cache_dir=store.directory,
        )
        if skipped and on_error == "warn":
            warnings.warn(_summary(skipped), stacklevel=2)

        from picsellia_tf.data import pipeline

        ds = pipeline.build(
            examples,
            task=task,
            num_classes=len(label_names),
            mask_paths=mask_paths,
            image_size=size,
            static_size=static_size,
            resize_mode=resize,
            bbox_format=bbox_format,
            max_boxes=max_boxes,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            input_context=input_context,
        )
        return ds, info


def _label_counts(
    examples: list[Example], label_names: list[str], task: str, split: str | None
) -> dict[str, dict[str, int]]:
    splits = SPLITS if split is None else (split,)
    counts: Counter[tuple[str, int]]
    if task in ("classification", "multilabel"):
        counts = Counter((e.split, c) for e in examples for c in e.classes)
    elif task == "detection":
        counts = Counter((e.split, c) for e in examples for c in e.box_labels)
    else:
        counts = Counter((e.split, g.label) for e in examples for g in e.shapes)
    return {s: {name: counts[s, i] for i, name in enumerate(label_names)} for s in splits}


def _index_name(project_id: str, dataset_id: str, split: str | None) -> str:
    """The cache index of one listing (see :mod:`picsellia_tf.data.cache_index`); ids are
    UUIDs, and the index is only a shortcut: no host (a local platform's port changes)."""
    what = "\0".join((project_id, dataset_id, split or ""))
    return hashlib.sha256(what.encode()).hexdigest()[:32]


def _interrupted(cached: int, total: int, listed: bool, directory: str) -> str:
    of = f"{total} images" if listed else f"the {total} images listed so far"
    return (
        f"picsellia_tf.data: interrupted: {cached} of {of} are in the cache "
        f"{directory}; load() again resumes from there"
    )


def _summary(skipped: list[Skipped], limit: int = 5) -> str:
    images = sum(1 for s in skipped if s.shape_index is None)
    shapes = len(skipped) - images
    lines = "; ".join(str(s) for s in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return (
        f"picsellia_tf.data: skipped {images} image(s) and {shapes} shape(s) "
        f"(see DatasetInfo.skipped): {lines}{more}"
    )


__all__ = ["load", "DatasetInfo", "DataError", "Skipped"]
