"""data.load refuses bad arguments with a clear error, before any request is sent."""

from __future__ import annotations

import pytest

from picsellia_tf import data
from picsellia_tf.errors import ValidationError

BAD = [
    ({"task": "detect"}, "task: expected one of classification, multilabel, detection"),
    ({"split": "test"}, "split: expected one of train, val or None"),
    ({"val_fraction": 1.5}, "val_fraction: expected a number in [0, 1]"),
    ({"val_fraction": True}, "val_fraction: expected a number in [0, 1], got True"),
    ({"image_size": (224,)}, "image_size: expected a positive int or (height, width)"),
    ({"image_size": 0}, "image_size"),
    ({"resize": "crop"}, "resize: expected one of pad, stretch"),
    ({"bbox_format": "xxyy"}, "bbox_format: expected one of xyxy, yxyx, xywh, center_xywh"),
    ({"max_boxes": 0}, "max_boxes: expected an int >= 1 or None"),
    ({"batch_size": 2.5}, "batch_size: expected an int >= 1 or None"),
    ({"download_workers": -1}, "download_workers: expected an int >= 1, got -1"),
    ({"download_workers": None}, "download_workers: expected an int >= 1, got None"),
    ({"bbox_format": 3}, "bbox_format: expected one of xyxy"),
    ({"on_error": "skip"}, "on_error: expected one of warn, raise, ignore"),
    ({"seed": "0"}, "seed: expected an int"),
    ({"shuffle": 1}, "shuffle: expected True or False, got 1"),
]


@pytest.mark.parametrize("kwargs,message", BAD)
def test_bad_arguments_are_refused_before_any_request(platform, kwargs, message, tmp_path):
    platform.server.faults.error_rate = 1.0  # any request would fail (404)
    platform.server.faults.error_status = 404
    args = {"task": "detection", "cache_dir": tmp_path, "progress": False, **kwargs}
    with pytest.raises(ValidationError) as err:
        data.load(platform.client, "p", "d", **args)
    assert message in str(err.value)


def test_bbox_format_is_case_insensitive_like_keras(platform, tmp_path):
    platform.server.faults.error_rate = 1.0
    platform.server.faults.error_status = 404
    with pytest.raises(Exception) as err:  # gets past validation: the request fails
        data.load(platform.client, "p", "d", task="detection", bbox_format="REL_XYXY")
    assert not isinstance(err.value, ValidationError)
