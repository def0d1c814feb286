"""Train a small segmentation network on a Picsellia project, streaming metrics and previews.

Run with no arguments. Without ``PICSELLIA_TOKEN`` it starts a local platform (data kept in
``--data-dir``, default ``./picsellia-data``); with it, it uses the platform at
``PICSELLIA_HOST`` (default app.picsellia.com) and creates a dataset and project there.

It generates images of up to two shapes each (discs, squares, triangles of random colours),
uploads them with their shapes as polygons, loads the project as ``tf.data``
(``task="segmentation"``: a class map per image, 0 for the background, label ``k`` as
``k + 1``), trains a tiny U-Net-like network with ``PicselliaCallback`` (metrics every epoch,
and previews of a few validation images: true masks beside predicted ones), then reads the
metrics and previews back from the platform and saves the preview images into ``--out-dir``.

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
from picsellia_tf.data.synthetic import make_shape_images, upload_shape_project

MODEL_NAME = "tiny-segmenter"


def parse_args() -> argparse.Namespace:
    parser = _common.parser(__doc__, epochs=(30, 2))
    _common.add_image_options(parser, images=(600, 60), image_size=32, batch_size=32)
    _common.add_preview_options(parser)
    return _common.parse(parser)


def build_model(size: int, num_classes: int):
    """A tiny U-Net: two resolutions, one skip connection, softmax over background + labels."""
    import keras

    layers = keras.layers
    inputs = keras.Input((size, size, 3), dtype="uint8")
    x = layers.Rescaling(1 / 255.0)(inputs)
    skip = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    skip = layers.Conv2D(16, 3, padding="same", activation="relu")(skip)
    x = layers.MaxPooling2D()(skip)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.UpSampling2D()(x)
    x = layers.Concatenate()([x, skip])
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(num_classes + 1, 1, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    _common.build_optimizer(model)
    return model


def mean_iou(predicted: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    """Mean over the labels present (not the background) of intersection over union."""
    ious = []
    for k in range(1, num_classes + 1):
        union = np.sum((predicted == k) | (truth == k))
        if union:
            ious.append(np.sum((predicted == k) & (truth == k)) / union)
    return float(np.mean(ious)) if ious else 0.0


def main() -> None:
    args = parse_args()
    name = f"segmenter-example-{args.images}x{args.image_size}"
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
            images = make_shape_images(
                Path(tmp), args.images, size=args.image_size, objects=2, seed=2
            )
            project_id, dataset_id = upload_shape_project(
                client, images, name, project_type="segmentation"
            )
            print(f"project {name} ({project_id}): {len(images)} images uploaded")

        common = dict(
            task="segmentation",
            image_size=args.image_size,
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
            model_name=MODEL_NAME,
            preview_data=val,  # its first --previews images, predicted after every epoch
            preview_task="segmentation",
            preview_every=1,
            max_previews=args.previews,
            label_names=info.label_names,
        )
        start = time.monotonic()
        model.fit(
            train,
            validation_data=val,
            epochs=args.epochs,
            callbacks=[callback],
            verbose=2,
            shuffle=False,  # data.load already shuffles the training split
        )
        print(f"trained in {time.monotonic() - start:.1f} s")

        predicted, truth = [], []
        for batch, masks in val:
            predicted.append(np.argmax(model(batch, training=False), axis=-1))
            truth.append(masks.numpy()[..., 0])
        pred_all, true_all = np.concatenate(predicted), np.concatenate(truth)
        accuracy = float(np.mean(pred_all == true_all))
        iou = mean_iou(pred_all, true_all, info.num_classes)
        background = float(np.mean(true_all == 0))
        print(
            f"validation: pixel accuracy {accuracy:.2f} (all background: {background:.2f}), "
            f"mean IoU of the shapes {iou:.2f}"
        )

        _common.show_results(client, host, project_id, callback, MODEL_NAME, Path(args.out_dir))
        _common.local_data_note(args.data_dir)


if __name__ == "__main__":
    main()
