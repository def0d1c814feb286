"""The preview side of :class:`~picsellia_tf.callback.PicselliaCallback`.

- :func:`collect` takes the fixed images (and ground truth) to preview from an array batch,
  an ``(images, ground_truth)`` tuple or a ``tf.data.Dataset``, once, as numpy.
- :func:`predict` runs the model on them (the only part done on the training thread).
- :class:`PreviewRenderer` makes the sender-thread job that decodes the predictions, renders
  them with :func:`picsellia_tf.previews.render_batch`, encodes PNGs and spools them as
  ``epoch_<EEEE>_<II>.png`` (``EEEE`` the Keras epoch index, ``II`` the image's position).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from picsellia_tf.errors import ValidationError

if TYPE_CHECKING:
    from picsellia_tf.client import Client
    from picsellia_tf.spool import Spool

log = logging.getLogger("picsellia_tf.callback")

DEFAULT_MAX_PREVIEWS = 8


def preview_name(epoch: int, index: int) -> str:
    """The file (and object) name of preview ``index`` of ``epoch``: ``epoch_0004_00.png``."""
    return f"epoch_{int(epoch):04d}_{int(index):02d}.png"


@dataclass
class PreviewSet:
    """The images to preview (one array each, all of one shape) and their ground truths."""

    images: np.ndarray
    ground_truths: list[Any] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _numpy(value: Any) -> Any:
    """Tensors (also inside dicts, lists and tuples) as numpy arrays."""
    if isinstance(value, Mapping):
        return {key: _numpy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_numpy(item) for item in value)
    if _is_ragged(value):
        return [_item(value, i) for i in range(int(value.shape[0]))]
    if hasattr(value, "numpy"):
        return value.numpy()
    return np.asarray(value)


def _is_ragged(value: Any) -> bool:
    return hasattr(value, "to_tensor") and hasattr(value, "row_lengths")


def _item(value: Any, index: int) -> Any:
    """Element ``index`` of a batched structure."""
    if isinstance(value, Mapping):
        return {key: _item(item, index) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_item(item, index) for item in value)
    if _is_ragged(value):
        row = value[index]
        return row.to_tensor().numpy() if _is_ragged(row) else row.numpy()
    if hasattr(value, "numpy"):
        return value[index].numpy()
    return np.asarray(value[index])


def _batch_size(value: Any, where: str) -> int:
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] is not None:
        return int(shape[0])
    if isinstance(value, Sequence) and not isinstance(value, str):
        return len(value)
    raise ValidationError(f"{where}: expected a batch of images, got {type(value).__name__}")


def _split(batch: Any, count: int, where: str) -> list[Any]:
    if isinstance(batch, list):
        if len(batch) < count:
            raise ValidationError(f"{where}: {len(batch)} entries for {count} images")
        return [_numpy(item) for item in batch[:count]]
    if isinstance(batch, Mapping):
        for key, value in batch.items():
            if _batch_size(value, f"{where}[{key!r}]") < count:
                raise ValidationError(f"{where}[{key!r}]: fewer entries than images")
    elif _batch_size(batch, where) < count:
        raise ValidationError(f"{where}: fewer entries than images")
    return [_numpy(_item(batch, i)) for i in range(count)]


def _stack(images: list[Any], where: str) -> np.ndarray:
    arrays = [np.asarray(_numpy(image)) for image in images]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValidationError(
            f"{where}: the preview images must share one shape (the model predicts them as one "
            f"batch), got {sorted(shapes)}"
        )
    if not arrays:
        raise ValidationError(f"{where}: no images")
    if arrays[0].ndim not in (2, 3):
        raise ValidationError(
            f"{where}: expected images of shape (H, W) or (H, W, C), got {arrays[0].shape}"
        )
    return np.stack(arrays)


def _from_dataset(dataset: Any, max_previews: int, where: str) -> PreviewSet:
    spec = dataset.element_spec
    has_truth = isinstance(spec, tuple) and len(spec) >= 2
    image_spec = spec[0] if isinstance(spec, tuple) else spec
    if isinstance(image_spec, Mapping | tuple | list) or not hasattr(image_spec, "shape"):
        raise ValidationError(
            f"{where}: expected a dataset of images or (image, ground_truth), got elements {spec}"
        )
    rank = image_spec.shape.rank
    images: list[Any] = []
    truths: list[Any] = []
    for element in dataset:
        image = element[0] if isinstance(element, tuple) else element
        truth = element[1] if has_truth else None
        batched = (rank if rank is not None else len(image.shape)) == 4
        if batched:
            count = min(int(image.shape[0]), max_previews - len(images))
            images.extend(_item(image, i) for i in range(count))
            if has_truth:
                truths.extend(_numpy(_item(truth, i)) for i in range(count))
        else:
            images.append(_numpy(image))
            if has_truth:
                truths.append(_numpy(truth))
        if len(images) >= max_previews:
            break
    if not images:
        raise ValidationError(f"{where}: the dataset is empty")
    return PreviewSet(_stack(images, where), truths if has_truth else None)


def collect(preview_data: Any, max_previews: int, where: str = "preview_data") -> PreviewSet:
    """The first ``max_previews`` images of ``preview_data`` and their ground truths.

    ``preview_data``: an array or tensor batch of images ``(B, H, W[, C])``; a tuple
    ``(images, ground_truths)`` of such a batch and one ground truth per image (stacked, a
    list, or a dict of stacked arrays); or a ``tf.data.Dataset`` of images or
    ``(image, ground_truth)`` elements, batched (rank-4 images) or not.
    """
    if hasattr(preview_data, "element_spec") and hasattr(preview_data, "take"):
        return _from_dataset(preview_data, max_previews, where)
    truths: Any = None
    if isinstance(preview_data, tuple):
        if len(preview_data) not in (2, 3):
            raise ValidationError(
                f"{where}: expected (images, ground_truths), got a tuple of {len(preview_data)}"
            )
        preview_data, truths = preview_data[0], preview_data[1]
    if isinstance(preview_data, Mapping):
        raise ValidationError(f"{where}: images must be one array, not a dict of model inputs")
    count = min(_batch_size(preview_data, where), max_previews)
    if count == 0:
        raise ValidationError(f"{where}: no images")
    images = _stack(_split(preview_data, count, where), where)
    ground = None if truths is None else _split(truths, count, f"{where} ground truths")
    return PreviewSet(images, ground)


def predict(model: Any, images: np.ndarray) -> Any:
    """The model's raw outputs for ``images`` as numpy (a direct call with ``training=False``).

    A direct call runs no ``tf.distribute`` collective, so the chief alone can make it.
    """
    return _numpy(model(images, training=False))


def infer_task(image: np.ndarray, truth: Any, prediction: Any) -> str | None:
    """The preview task suggested by one example's ground truth or prediction shapes."""
    for value in (truth, prediction):
        if value is None:
            continue
        if isinstance(value, Mapping):
            if "boxes" in value:
                return "detection"
            continue
        arr = np.asarray(value)
        if arr.ndim == 0:
            return "classification"
        if arr.ndim >= 2 and arr.shape[:2] == image.shape[:2]:
            return "segmentation"
        if arr.ndim == 1:
            if value is truth and arr.size > 1 and float(np.abs(arr).sum()) != 1.0:
                return "multilabel"
            return "classification"
    return None


def _label_count(task: str, truths: list[Any] | None, prediction: Any) -> int:
    """How many labels the outputs imply, when no label names are known."""
    pred = prediction if not isinstance(prediction, Mapping) else None
    if task in ("classification", "multilabel") and pred is not None:
        return int(np.asarray(pred).shape[-1])
    if task == "segmentation" and pred is not None and np.asarray(pred).ndim == 3:
        channels = int(np.asarray(pred).shape[-1])
        if channels > 1:
            return channels - 1
    highest = -1
    for value in truths or []:
        arr = np.asarray(value["labels"] if isinstance(value, Mapping) else value)
        if arr.size and np.issubdtype(arr.dtype, np.number):
            highest = max(highest, int(np.nanmax(arr)))
    return max(highest + (0 if task == "segmentation" else 1), 1)


class PreviewRenderer:
    """Renders, encodes and spools a preview set's predictions, on the sender thread.

    ``task`` and ``label_names`` left as None are taken from the project (its type and labels,
    asked once through ``client`` when ``project_id`` is known), else inferred from the shapes
    of the ground truth and predictions (names ``"class <k>"``). ``warn`` receives the first
    failure only; later ones are logged.
    """

    def __init__(
        self,
        samples: PreviewSet,
        *,
        task: str | None,
        label_names: Sequence[str] | None,
        decode_predictions: Callable[[Any], Any] | None = None,
        render_options: Mapping[str, Any] | None = None,
        client: Client | None = None,
        project_id: str | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self.samples = samples
        self.task = task
        self.label_names = list(label_names) if label_names is not None else None
        self.decode_predictions = decode_predictions
        self.render_options = dict(render_options or {})
        self.client = client
        self.project_id = project_id
        self.failures = 0
        self.rendered = 0
        self._warn = warn
        self._asked_project = False
        self._lock = threading.Lock()

    def _ask_project(self) -> None:
        if self._asked_project:
            return
        self._asked_project = True
        if self.client is None or not self.project_id:
            return
        if self.task is not None and self.label_names is not None:
            return
        try:
            project = self.client.projects.get(self.project_id)
        except Exception as exc:  # noqa: BLE001 -- fall back to the shapes
            log.info("previews: cannot read project %s (%s)", self.project_id, exc)
            return
        if self.task is None and project.type in ("classification", "detection", "segmentation"):
            self.task = project.type
        if self.label_names is None and project.labels:
            self.label_names = [label.name for label in project.labels]

    def render(self, epoch: int, raw_predictions: Any) -> list[tuple[str, bytes]]:
        """``(file name, PNG bytes)`` for each preview image of ``epoch``."""
        from picsellia_tf import previews

        predictions = raw_predictions
        if self.decode_predictions is not None:
            predictions = _numpy(self.decode_predictions(raw_predictions))
        self._ask_project()
        truths = self.samples.ground_truths
        task = self.task
        if task is None:
            first_pred = _item(predictions, 0) if predictions is not None else None
            task = infer_task(
                self.samples.images[0], truths[0] if truths else None, _numpy(first_pred)
            )
            if task is None:
                raise ValidationError(
                    "cannot tell the preview task from the data: pass preview_task"
                )
        names = self.label_names
        if names is None:
            first = _numpy(_item(predictions, 0)) if predictions is not None else None
            names = [f"class {k}" for k in range(_label_count(task, truths, first))]
        images = previews.render_batch(
            self.samples.images,
            task=task,
            label_names=names,
            ground_truths=truths,
            predictions=predictions,
            **self.render_options,
        )
        return [(preview_name(epoch, i), previews.encode_png(im)) for i, im in enumerate(images)]

    def job(self, epoch: int, raw_predictions: Any) -> Callable[[Spool], None]:
        """The sender-thread job spooling the previews of ``epoch``; never raises."""

        def run(spool: Spool) -> None:
            try:
                rendered = self.render(epoch, raw_predictions)
                for name, data in rendered:
                    spool.add_preview(name, data)
                self.rendered += len(rendered)
            except Exception as exc:  # noqa: BLE001 -- previews must never stop delivery
                self.failed(f"epoch {epoch}", exc)

        return run

    def failed(self, where: str, exc: BaseException) -> None:
        """Report a failure: a warning the first time, a log line after."""
        with self._lock:
            self.failures += 1
            first = self.failures == 1
        message = (
            f"PicselliaCallback: previews ({where}) failed ({type(exc).__name__}: {exc}); "
            "training goes on without them"
        )
        if first and self._warn is not None:
            self._warn(message)
        else:
            log.info("%s", message)
