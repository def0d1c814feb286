"""The vision tasks and box formats, written once for previews and :func:`picsellia_tf.data.load`.

This module imports nothing, so that checking arguments loads neither TensorFlow nor PIL.
"""

TASKS: tuple[str, ...] = ("classification", "multilabel", "detection", "segmentation")
"""What a model does: the ``task`` of previews and of ``data.load``."""

_BASE_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw")

BBOX_FORMATS: tuple[str, ...] = _BASE_FORMATS + tuple("rel_" + f for f in _BASE_FORMATS)
"""The box formats previews draw: pixels, or relative to the image size with ``rel_``."""

KERAS_BBOX_FORMATS: tuple[str, ...] = tuple(f for f in BBOX_FORMATS if f != "rel_center_yxhw")
"""The box formats of ``data.load``: those of ``keras.utils.bounding_boxes.convert_format``
(Keras 3), which has no ``rel_center_yxhw``."""
