"""Train a tiny detector on a Picsellia project loaded with ``picsellia_tf.data.load``.

Run with no arguments. Without ``PICSELLIA_TOKEN`` it starts a local platform (data kept in
``--data-dir``, default ``./picsellia-data``); with it, it uses the platform at
``PICSELLIA_HOST`` (default app.picsellia.com) and creates a dataset and project there.

It generates images of one coloured square (red, green or blue) on a noisy background, uploads
them with their boxes, loads the project as ``tf.data`` (``task="detection"``, ``max_boxes=1``,
boxes in ``rel_xyxy``), trains a small conv net regressing the box and classifying its colour,
streams the metrics and previews (true boxes beside the predicted box, its label and score)
with ``PicselliaCallback``, then reads them back and saves the previews into ``--out-dir``.

``--epochs`` and ``--images`` size the run (``--help`` gives the defaults);
``PICSELLIA_EXAMPLE_SMALL=1`` shrinks it to a smoke test. A rerun reuses the project (and its
dataset) of the same size, by name.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common
import numpy as np

import picsellia_tf
from picsellia_tf import data
from picsellia_tf.data.synthetic import make_images, upload_project


def parse_args() -> argparse.Namespace:
    parser = _common.parser(__doc__, epochs=(12, 2))
    _common.add_image_options(parser, images=(600, 48), image_size=64, batch_size=16)
    _common.add_preview_options(parser)
    return _common.parse(parser)


def build_model(size: int, num_classes: int):
    """A small conv net: one box (``rel_xyxy``, sigmoid) and one class per image."""
    import keras

    inputs = keras.Input((size, size, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    box = keras.layers.Dense(4, activation="sigmoid", name="box")(x)
    cls = keras.layers.Dense(num_classes, activation="softmax", name="cls")(x)
    model = keras.Model(inputs, {"box": box, "cls": cls})
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss={"box": "huber", "cls": "sparse_categorical_crossentropy"},
        loss_weights={"box": 20.0, "cls": 1.0},
        metrics={"cls": ["accuracy"]},
    )
    _common.build_optimizer(model)
    return model


def decode(outputs: dict) -> dict:
    """The model's two outputs as one scored box per image, as the previews draw them."""
    scores = np.asarray(outputs["cls"])
    return {
        "boxes": np.asarray(outputs["box"])[:, None, :],
        "labels": np.argmax(scores, axis=-1)[:, None],
        "scores": np.max(scores, axis=-1)[:, None],
    }


def one_box(images, target):
    """Detection targets (one padded box per image) as the model's two outputs."""
    return images, {"box": target["boxes"][:, 0], "cls": target["labels"][:, 0]}


def mean_iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean IoU of paired ``xyxy`` boxes."""
    x1 = np.maximum(pred[:, 0], true[:, 0])
    y1 = np.maximum(pred[:, 1], true[:, 1])
    x2 = np.minimum(pred[:, 2], true[:, 2])
    y2 = np.minimum(pred[:, 3], true[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (pred[:, 2] - pred[:, 0]).clip(0) * (pred[:, 3] - pred[:, 1]).clip(0)
    area_t = (true[:, 2] - true[:, 0]) * (true[:, 3] - true[:, 1])
    return float(np.mean(inter / np.maximum(area + area_t - inter, 1e-9)))


def main() -> None:
    args = parse_args()
    name = f"detector-example-{args.images}x{args.image_size}"
    with (
        _common.platform_client(args.data_dir) as (client, host),
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(f"platform: {host}")
        found = _common.reuse_project(client, name, args.images)
        if found:
            project_id, dataset_id = found
            print(f"project {name} ({project_id}): reused, {args.images} images")
        else:
            images = make_images(
                Path(tmp), args.images, width=args.image_size, height=args.image_size, seed=1
            )
            project_id, dataset_id = upload_project(client, images, name)
            print(f"project {name} ({project_id}): {len(images)} images uploaded")

        common = dict(
            task="detection",
            image_size=args.image_size,
            bbox_format="rel_xyxy",
            max_boxes=1,
            batch_size=args.batch_size,
            cache_dir=args.cache_dir,
            seed=0,
        )
        train, info = data.load(client, project_id, dataset_id, split="train", **common)
        val, _ = data.load(client, project_id, dataset_id, split="val", shuffle=False, **common)
        print(f"labels {info.label_names}; images per split {info.split_counts}")

        model = build_model(args.image_size, info.num_classes)
        callback = picsellia_tf.PicselliaCallback(
            client,
            project_id=project_id,
            model_name="tiny-detector",
            preview_data=val,  # its first --previews images, predicted after every epoch
            preview_every=1,
            max_previews=args.previews,
            label_names=info.label_names,
            decode_predictions=decode,
            bbox_format="rel_xyxy",
            score_threshold=0.0,  # one box per image: always drawn, with its score
        )
        start = time.monotonic()
        model.fit(
            train.map(one_box),
            validation_data=val.map(one_box),
            epochs=args.epochs,
            callbacks=[callback],
            verbose=2,
            shuffle=False,  # data.load already shuffles the training split
        )
        print(f"trained in {time.monotonic() - start:.1f} s")

        pred_boxes, true_boxes, pred_cls, true_cls = [], [], [], []
        for batch, target in val.map(one_box):
            out = model(batch, training=False)
            pred_boxes.append(np.asarray(out["box"]))
            pred_cls.append(np.argmax(np.asarray(out["cls"]), axis=-1))
            true_boxes.append(target["box"].numpy())
            true_cls.append(target["cls"].numpy())
        if true_boxes:
            iou = mean_iou(np.concatenate(pred_boxes), np.concatenate(true_boxes))
            acc = float(np.mean(np.concatenate(pred_cls) == np.concatenate(true_cls)))
            print(f"validation: mean box IoU {iou:.2f}, colour accuracy {acc:.2f}")

        _common.show_results(
            client, host, project_id, callback, "tiny-detector", Path(args.out_dir)
        )
        _common.local_data_note(args.data_dir)


if __name__ == "__main__":
    main()
