"""The tf.data pipeline: cached files and targets in, decoded, resized, batched elements out.

Only TensorFlow ops (no ``tf.py_function``/``numpy_function``), so the pipeline serialises and
runs under tf.data service. Order of stages: example indices (the shard of an
``InputContext``, shuffled by ``tf.random.experimental.index_shuffle``: a seeded permutation
computed per index, new each epoch, with no shuffle buffer, so memory does not grow with the
dataset) -> path and targets gathered from constant tensors -> read + decode + resize
(``num_parallel_calls=AUTOTUNE``) -> batch -> prefetch.

Resizing (``image_size=(height, width)``):

- ``"stretch"``: ``tf.image.resize`` (bilinear) to exactly ``(height, width)``; boxes scaled
  per axis; masks nearest-neighbour.
- ``"pad"``: the image is scaled by one factor to fit (as ``tf.image.resize_with_pad``: the
  scaled side is ``floor(side * factor)``, with a 1e-3 tolerance so that a side meant to fill
  the target does fill it) and centred, the padding (black, mask value 0) split with the extra
  pixel at the bottom/right. Boxes are scaled by the actual per-axis factor (scaled size /
  original size) and shifted by the padding; masks nearest-neighbour.

Images come out ``uint8`` (bilinear values rounded). Detection boxes are computed in pixels of
the output image as ``xyxy``, then written in ``bbox_format``: any of
``keras.utils.bounding_boxes.convert_format``'s formats (``rel_*`` relative to the output
image's size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from picsellia_tf.data.manifest import Example

BOX_PAD_VALUE = 0.0
LABEL_PAD_VALUE = -1
"""Padding with ``max_boxes``: as ``keras``'s ``densify_bounding_boxes`` (boxes 0, labels -1)."""

_SIZE_TOLERANCE = 1e-3


def decode(path: tf.Tensor) -> tf.Tensor:
    """The image file at ``path`` as ``uint8[H, W, 3]``."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.ensure_shape(image, [None, None, 3])


def pad_geometry(
    height: tf.Tensor, width: tf.Tensor, target: tuple[int, int]
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(scaled_h, scaled_w, top, left)`` of a ``height`` x ``width`` image fitted in
    ``target``."""
    th, tw = float(target[0]), float(target[1])
    fh = tf.cast(height, tf.float32)
    fw = tf.cast(width, tf.float32)
    ratio = tf.maximum(fw / tw, fh / th)
    sh = tf.minimum(tf.cast(tf.floor(fh / ratio + _SIZE_TOLERANCE), tf.int32), target[0])
    sw = tf.minimum(tf.cast(tf.floor(fw / ratio + _SIZE_TOLERANCE), tf.int32), target[1])
    sh = tf.maximum(sh, 1)
    sw = tf.maximum(sw, 1)
    return sh, sw, (target[0] - sh) // 2, (target[1] - sw) // 2


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """A float image rounded and clipped into ``uint8``."""
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def resize(
    image: tf.Tensor, target: tuple[int, int], mode: str, method: str = "bilinear"
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """``image`` resized to ``target``; also the per-axis scales and the offsets applied.

    Returns ``(image, scale_y, scale_x, offset_y, offset_x)``: a point ``(x, y)`` of the input
    lands at ``(x * scale_x + offset_x, y * scale_y + offset_y)``.
    """
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    if mode == "stretch":
        out = tf.image.resize(image, target, method=method)
        sy = float(target[0]) / tf.cast(h, tf.float32)
        sx = float(target[1]) / tf.cast(w, tf.float32)
        zero = tf.constant(0.0)
        out = tf.ensure_shape(out, [target[0], target[1], None])
        return out, sy, sx, zero, zero
    sh, sw, top, left = pad_geometry(h, w, target)
    scaled = tf.image.resize(image, tf.stack([sh, sw]), method=method)
    out = tf.pad(scaled, [[top, target[0] - sh - top], [left, target[1] - sw - left], [0, 0]])
    out = tf.ensure_shape(out, [target[0], target[1], None])
    sy = tf.cast(sh, tf.float32) / tf.cast(h, tf.float32)
    sx = tf.cast(sw, tf.float32) / tf.cast(w, tf.float32)
    return out, sy, sx, tf.cast(top, tf.float32), tf.cast(left, tf.float32)


def convert_boxes(boxes: tf.Tensor, fmt: str, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """``xyxy`` pixel boxes ``float32[N, 4]`` written in ``fmt`` (a
    ``_tasks.KERAS_BBOX_FORMATS``)."""
    x1, y1, x2, y2 = tf.unstack(boxes, num=4, axis=-1)
    rel = fmt.startswith("rel_")
    base = fmt[4:] if rel else fmt
    if rel:
        fh = tf.cast(height, tf.float32)
        fw = tf.cast(width, tf.float32)
        x1, x2, y1, y2 = x1 / fw, x2 / fw, y1 / fh, y2 / fh
    w, h = x2 - x1, y2 - y1
    cols = {
        "xyxy": (x1, y1, x2, y2),
        "yxyx": (y1, x1, y2, x2),
        "xywh": (x1, y1, w, h),
        "center_xywh": (x1 + w / 2, y1 + h / 2, w, h),
        "center_yxhw": (y1 + h / 2, x1 + w / 2, h, w),
    }[base]
    return tf.stack(cols, axis=-1)


def _targets(examples: Sequence[Example], task: str, num_classes: int) -> Any:
    if task == "classification":
        return np.array([e.classes[0] for e in examples], dtype=np.int32)
    if task == "multilabel":
        hot = np.zeros((len(examples), num_classes), dtype=np.float32)
        for i, e in enumerate(examples):
            hot[i, list(e.classes)] = 1.0
        return hot
    if task == "detection":
        lengths = [len(e.boxes) for e in examples]
        flat = [b for e in examples for b in e.boxes]
        labels = [c for e in examples for c in e.box_labels]
        boxes = tf.RaggedTensor.from_row_lengths(
            tf.constant(np.array(flat, dtype=np.float32).reshape(-1, 4)), lengths
        )
        classes = tf.RaggedTensor.from_row_lengths(
            tf.constant(np.array(labels, dtype=np.int32).reshape(-1)), lengths
        )
        return boxes, classes
    raise ValueError(f"no slice targets for task {task!r}")


def _indices(
    n: int, shuffle: bool, seed: int, input_context: tf.distribute.InputContext | None
) -> tf.data.Dataset:
    """The example indices this pipeline reads: its shard of ``range(n)``, in a seeded order
    that differs each epoch when shuffled (a permutation computed per index: no buffer)."""
    start, step = 0, 1
    if input_context is not None and input_context.num_input_pipelines > 1:
        start, step = input_context.input_pipeline_id, input_context.num_input_pipelines
    count = len(range(start, n, step))
    positions = tf.data.Dataset.range(count)
    if shuffle and count > 1:
        fixed = tf.constant(seed % 2**63, tf.int64)

        def permuted(epoch_seed: tf.Tensor) -> tf.data.Dataset:
            key = tf.stack([epoch_seed, fixed])
            return tf.data.Dataset.range(count).map(
                _plain(lambda p: tf.random.experimental.index_shuffle(p, key, count - 1))
            )

        epochs = tf.data.Dataset.random(seed=seed % 2**63, rerandomize_each_iteration=True)
        positions = epochs.take(1).flat_map(_plain(permuted))
    return positions.map(_plain(lambda p: start + p * step))


def _plain(fn: Any) -> Any:
    """``fn`` traced as written (plain TensorFlow ops: no AutoGraph conversion to pay for)."""
    return tf.autograph.experimental.do_not_convert(fn)


def build(
    examples: Sequence[Example],
    *,
    task: str,
    num_classes: int,
    mask_paths: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    static_size: tuple[int, int] | None = None,
    resize_mode: str = "pad",
    bbox_format: str = "xyxy",
    max_boxes: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """The dataset of ``examples`` (see the module docstring for each stage).

    ``static_size`` is the ``(height, width)`` every image shares when not resized (so that
    dense batching works); ``mask_paths`` the segmentation masks, one per example.
    """
    n = len(examples)
    paths = tf.constant([e.path for e in examples], dtype=tf.string, shape=[n])
    columns: Any
    if task == "segmentation":
        if mask_paths is None or len(mask_paths) != n:
            raise ValueError("segmentation needs one mask path per example")
        columns = (paths, tf.constant(list(mask_paths), dtype=tf.string, shape=[n]))
    else:
        columns = (paths, _targets(examples, task, num_classes))
    ds = _indices(n, shuffle, seed, input_context).map(
        _plain(lambda i: tf.nest.map_structure(lambda column: tf.gather(column, i), columns))
    )

    def load_image(path: tf.Tensor) -> tuple[tf.Tensor, Any]:
        image = decode(path)
        if image_size is None:
            if static_size is not None:
                image = tf.ensure_shape(image, [static_size[0], static_size[1], 3])
            return image, None
        out, sy, sx, oy, ox = resize(image, image_size, resize_mode)
        return to_uint8(out), (sy, sx, oy, ox)

    def classify(path: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image, _ = load_image(path)
        return image, target

    def detect(path: tf.Tensor, targets: Any) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        boxes, labels = targets
        image, transform = load_image(path)
        boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        if transform is not None:
            sy, sx, oy, ox = transform
            scale = tf.stack([sx, sy, sx, sy])
            offset = tf.stack([ox, oy, ox, oy])
            boxes = boxes * scale + offset
        shape = tf.shape(image)
        boxes = convert_boxes(boxes, bbox_format, shape[0], shape[1])
        if max_boxes is not None:
            n = tf.shape(labels)[0]
            boxes = tf.pad(boxes, [[0, max_boxes - n], [0, 0]], constant_values=BOX_PAD_VALUE)
            labels = tf.pad(labels, [[0, max_boxes - n]], constant_values=LABEL_PAD_VALUE)
            boxes = tf.ensure_shape(boxes, [max_boxes, 4])
            labels = tf.ensure_shape(labels, [max_boxes])
        return image, {"boxes": boxes, "labels": labels}

    def segment(path: tf.Tensor, mask_path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image, _ = load_image(path)
        mask = tf.io.decode_png(tf.io.read_file(mask_path), channels=1)
        if image_size is not None:
            mask, *_ = resize(mask, image_size, resize_mode, method="nearest")
            mask = tf.cast(mask, tf.uint8)
        elif static_size is not None:
            mask = tf.ensure_shape(mask, [static_size[0], static_size[1], 1])
        return image, mask

    fn = {"classification": classify, "multilabel": classify, "detection": detect}.get(
        task, segment
    )
    ds = ds.map(_plain(fn), num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        if task == "detection" and max_boxes is None:
            ds = ds.ragged_batch(batch_size)
        else:
            ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
