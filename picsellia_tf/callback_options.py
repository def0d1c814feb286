"""The options of :class:`~picsellia_tf.callback.PicselliaCallback`, checked once, frozen.

Each group is a frozen dataclass whose fields are the callback's keyword arguments of the
same names; building one checks every field and raises
:class:`~picsellia_tf.errors.ValidationError` naming the argument.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from picsellia_tf._checks import (
    check_callable,
    check_choice,
    check_int,
    check_number,
    check_strings,
    check_text,
)
from picsellia_tf.errors import ValidationError
from picsellia_tf.preview_sampler import DEFAULT_MAX_PREVIEWS, PreviewSet, collect

PREFIX = "PicselliaCallback: "

T = TypeVar("T")


def build(cls: Callable[..., T], **options: Any) -> T:
    """``cls(**options)``, its ValidationError worded as the callback's."""
    try:
        return cls(**options)
    except ValidationError as exc:
        raise ValidationError(PREFIX + str(exc)) from None


@dataclass(frozen=True)
class ExperimentTarget:
    """Which experiment version the run logs to: ``training_id`` and ``network_id`` of an
    existing one, or ``project_id`` and ``model_name`` to start a new one."""

    training_id: int | None = None
    network_id: str | None = None
    project_id: str | None = None
    model_name: str | None = None

    def __post_init__(self) -> None:
        if (self.training_id is None) != (self.network_id is None):
            raise ValidationError("give both training_id and network_id, or neither")
        if self.training_id is None and not (self.project_id and self.model_name):
            raise ValidationError(
                "name the experiment with training_id and network_id, "
                "or give project_id and model_name to start a new version"
            )
        if self.training_id is not None:
            training_id = check_int(self.training_id, "training_id", low=1)
            object.__setattr__(self, "training_id", training_id)
            check_text(self.network_id, "network_id")
        for name in ("project_id", "model_name"):
            if getattr(self, name) is not None:
                check_text(getattr(self, name), name)


@dataclass(frozen=True)
class DeliveryOptions:
    """How points are spooled and sent: see the callback's docstring."""

    log_every_n_batches: int | None = None
    flush_interval: float = 2.0
    flush_timeout: float = 5.0
    flush_max_time: float = 30.0
    offline: bool = False
    spool_dir: str | os.PathLike[str] | None = None
    tensorboard_logdir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        every = check_int(self.log_every_n_batches, "log_every_n_batches", low=1, or_none=True)
        object.__setattr__(self, "log_every_n_batches", every)
        for name in ("flush_interval", "flush_timeout", "flush_max_time"):
            seconds = check_number(getattr(self, name), name, above=0, unit="seconds")
            object.__setattr__(self, name, seconds)
        offline = bool(self.offline) or os.environ.get("PICSELLIA_MODE", "").lower() == "offline"
        object.__setattr__(self, "offline", offline)


@dataclass(frozen=True)
class PreviewOptions:
    """What is previewed and how it is drawn: see the callback's docstring (Previews)."""

    preview_every: int = 1
    preview_task: str | None = None
    label_names: Sequence[str] | None = None
    max_previews: int = DEFAULT_MAX_PREVIEWS
    decode_predictions: Callable[[Any], Any] | None = None
    bbox_format: str = "xyxy"
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        from picsellia_tf.previews import TASKS, bbox_format_name

        put = object.__setattr__
        put(self, "preview_every", check_int(self.preview_every, "preview_every", low=1))
        put(self, "max_previews", check_int(self.max_previews, "max_previews", low=1))
        check_choice(self.preview_task, TASKS, "preview_task", or_none=True)
        names = check_strings(self.label_names, "label_names", or_none=True)
        put(self, "label_names", tuple(names) if names is not None else None)
        check_callable(self.decode_predictions, "decode_predictions", or_none=True)
        bbox_format_name(self.bbox_format, "bbox_format")
        threshold = check_number(self.score_threshold, "score_threshold", low=0, high=1)
        put(self, "score_threshold", threshold)

    @property
    def render_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`picsellia_tf.previews.render_batch` set here."""
        return {"bbox_format": self.bbox_format, "score_threshold": self.score_threshold}

    def collect(self, preview_data: Any) -> PreviewSet | None:
        """The first ``max_previews`` images of ``preview_data`` (None for None)."""
        if preview_data is None:
            return None
        return collect(preview_data, self.max_previews)
