"""Train a small image classifier on a Picsellia project, streaming metrics and previews.

Run with no arguments. Without ``PICSELLIA_TOKEN`` it starts a local platform (data kept in
``--data-dir``, default ``./picsellia-data``); with it, it uses the platform at
``PICSELLIA_HOST`` (default app.picsellia.com) and creates a dataset and project there.

It generates images of one shape each (a disc, a square or a triangle, of a random colour),
uploads them with their shape as a polygon, loads the project as ``tf.data``
(``task="classification"``: an image's class is its shape's label), trains a small CNN with
``PicselliaCallback`` (metrics every epoch, and previews of a few validation images: ground
truth and the top predicted classes), then reads the metrics and previews back from the
platform and saves the preview images into ``--out-dir``.

``--epochs`` and ``--images`` size the run (``--help`` gives the defaults);
``PICSELLIA_EXAMPLE_SMALL=1`` shrinks it to a smoke test. A rerun reuses the project (and its
dataset) of the same size, by name, so the second run is mostly training.
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

MODEL_NAME = "tiny-classifier"


def parse_args() -> argparse.Namespace:
    parser = _common.parser(__doc__, epochs=(12, 3))
    _common.add_image_options(parser, images=(900, 120), image_size=32, batch_size=32)
    _common.add_preview_options(parser)
    return _common.parse(parser)


def build_model(size: int, num_classes: int):
    """A small CNN on ``uint8`` images, softmax over the classes."""
    import keras

    inputs = keras.Input((size, size, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    _common.build_optimizer(model)
    return model


def main() -> None:
    args = parse_args()
    name = f"classifier-example-{args.images}x{args.image_size}"
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
            images = make_shape_images(Path(tmp), args.images, size=args.image_size, seed=1)
            project_id, dataset_id = upload_shape_project(client, images, name)
            print(f"project {name} ({project_id}): {len(images)} images uploaded")

        common = dict(
            task="classification",
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
        for batch, labels in val:
            predicted.append(np.argmax(model(batch, training=False), axis=-1))
            truth.append(labels.numpy())
        accuracy = float(np.mean(np.concatenate(predicted) == np.concatenate(truth)))
        print(f"validation accuracy: {accuracy:.2f} (chance: {1 / info.num_classes:.2f})")

        _common.show_results(client, host, project_id, callback, MODEL_NAME, Path(args.out_dir))
        _common.local_data_note(args.data_dir)


if __name__ == "__main__":
    main()
