"""Which Keras ``model.fit`` uses, and small readers of a model's training state.

TensorFlow 2.16+ runs Keras 3 (package ``keras``) unless ``TF_USE_LEGACY_KERAS`` is set to
``1``/``true``/``True``, in which case ``tf.keras`` is the ``tf_keras`` package. The callback
must subclass the ``Callback`` of that same Keras, so the choice is made here, the same way
TensorFlow makes it, when the callback module is imported.
"""

from __future__ import annotations

import json
import os
from types import ModuleType
from typing import Any

import numpy as np


def use_legacy_keras() -> bool:
    """True when ``tf.keras`` is ``tf_keras`` (``TF_USE_LEGACY_KERAS`` as TensorFlow reads it)."""
    return os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True")


def keras_module() -> ModuleType:
    """The Keras package that ``tf.keras`` and ``model.fit`` use in this process."""
    if use_legacy_keras():
        import tf_keras

        return tf_keras
    import keras

    return keras


def _scalar(value: Any) -> float:
    numpy = getattr(value, "numpy", None)
    if callable(numpy):
        value = numpy()
    return float(np.asarray(value))


def read_iterations(model: Any) -> int | None:
    """``model.optimizer.iterations`` as an int, or None if there is no optimizer yet."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    iterations = getattr(optimizer, "iterations", None)
    if iterations is None:
        return None
    return int(_scalar(iterations))


def current_learning_rate(model: Any, schedule_type: type) -> float | None:
    """The optimizer's learning rate now: a schedule is evaluated at ``optimizer.iterations``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    raw = getattr(optimizer, "_learning_rate", None)
    if not isinstance(raw, schedule_type):
        raw = getattr(optimizer, "learning_rate", None)
    if raw is None:
        return None
    if isinstance(raw, schedule_type):
        raw = raw(optimizer.iterations)  # type: ignore[operator]
    elif callable(raw) and not hasattr(raw, "numpy") and not hasattr(raw, "__array__"):
        raw = raw()
    return _scalar(raw)


def _task_from_tf_config() -> tuple[str | None, int | None, dict[str, Any]]:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None, None, {}
    try:
        config = json.loads(raw)
    except ValueError:
        return None, None, {}
    if not isinstance(config, dict):
        return None, None, {}
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    task_id = task.get("index")
    return (
        task.get("type"),
        int(task_id) if isinstance(task_id, int) else None,
        cluster if isinstance(cluster, dict) else {},
    )


def is_chief(model: Any = None) -> bool:
    """True unless this process is a non-chief task of a multi-worker cluster.

    The chief is the task of type ``chief``, or worker 0 when the cluster has no chief. The
    task comes from the model's distribution strategy's cluster resolver, else ``TF_CONFIG``.
    """
    task_type: str | None = None
    task_id: int | None = None
    cluster: dict[str, Any] = {}
    strategy = getattr(model, "distribute_strategy", None) if model is not None else None
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is not None:
        try:
            task_type = resolver.task_type
            task_id = resolver.task_id
            cluster = resolver.cluster_spec().as_dict()
        except Exception:  # noqa: BLE001 -- fall back on TF_CONFIG below
            task_type = None
    if not task_type:
        task_type, task_id, cluster = _task_from_tf_config()
    if not task_type:
        return True
    if task_type == "chief":
        return True
    if task_type == "worker":
        return "chief" not in cluster and (task_id or 0) == 0
    return False  # ps, evaluator
