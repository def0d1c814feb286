"""``PicselliaCallback``: streams a Keras ``fit`` run's metrics to a Picsellia experiment.

The hooks only write to the run's on-disk spool; a background :class:`~picsellia_tf.sender.Sender`
posts to the platform. See the class docstring for tags and steps.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf import _keras
from picsellia_tf.errors import ValidationError
from picsellia_tf.preview_sampler import (
    DEFAULT_MAX_PREVIEWS,
    PreviewRenderer,
    PreviewSet,
    collect,
    predict,
)
from picsellia_tf.sender import (
    DeliveryWarning,
    Sender,
    Tailer,
    make_sender_client,
    sync_hint,
)
from picsellia_tf.spool import (
    DROPPED_FILE,
    MAX_TAG_LENGTH,
    RunMeta,
    Spool,
    default_spool_dir,
    encode_point,
)

if TYPE_CHECKING:
    from picsellia_tf.client import Client

log = logging.getLogger("picsellia_tf.callback")

_keras_module = _keras.keras_module()
_CallbackBase: type = _keras_module.callbacks.Callback
_ScheduleType: type = _keras_module.optimizers.schedules.LearningRateSchedule


class PicselliaCallback(_CallbackBase):
    """Sends the metrics of ``model.fit`` to a Picsellia experiment version, without slowing it.

    Name the experiment with ``training_id`` and ``network_id``, or give ``project_id`` and
    ``model_name`` to start a new version (``experiments.init``) when training begins: the
    sender thread starts it, retrying while the platform is unreachable, and ``training_id``
    and ``network_id`` are set once it is started (None before). A platform that is down when
    training begins only delays delivery; one that refuses the start (an unknown project, a bad
    token) gets one warning and the run is spooled for ``picsellia-tf sync``. A start request
    that timed out after reaching the platform may have created a version all the same: the
    retry then leaves one extra, empty version. A later ``fit`` with the same callback
    continues the version once started.

    Tags and steps:

    - Every metric Keras hands ``on_epoch_end`` (``loss``, ``accuracy``, ``val_loss``, ...),
      under its Keras name, at step = the epoch index as Keras numbers it (0 for the first
      epoch; with ``fit(initial_epoch=k)`` the curve continues at ``k``).
    - ``learning_rate`` at the same step: the optimizer's rate at the end of the epoch (a
      ``LearningRateSchedule`` is evaluated at ``optimizer.iterations``); a ``learning_rate``
      that Keras already put in the logs (e.g. by ``ReduceLROnPlateau``) is used as it is.
    - With ``log_every_n_batches=N``: each batch metric as ``batch/<name>`` at the global step
      = ``optimizer.iterations`` after that batch (1 for the first optimizer step), when it is
      a multiple of N. A resumed run whose optimizer state was restored continues the curve.
    - With ``tensorboard_logdir``: scalars other code writes there (``tf.summary``, Keras's
      ``TensorBoard`` callback, placed *before* this one) are streamed too, tags as the
      tailer names them (``<run>/<tag>``, e.g. ``train/epoch_loss``), steps as written.

    Delivery: every point is appended to ``<spool_dir>/<network_id>-<training_id>/`` (or
    ``new-<model_name>-...`` when the version is started by the callback) before it is sent,
    and a background thread posts what is new every ``flush_interval`` seconds, retrying with
    backoff. ``on_train_end`` waits for delivery until ``flush_timeout`` seconds
    pass without a successful post (``flush_max_time`` at most); what is left stays spooled and
    one warning gives the command that sends it (``picsellia-tf sync DIR``). A fully delivered
    run's spool directory is removed. ``offline=True`` (or ``PICSELLIA_MODE=offline``) only
    spools. Under multi-worker ``tf.distribute`` only the chief logs; other workers do nothing.
    No hook ever raises into ``fit``: errors become one warning. A spool disk that refuses
    writes (full) is one warning, not a loss: points wait in memory (bounded, see
    :mod:`picsellia_tf.spool`), are sent from there and written out when the disk allows;
    points dropped past that bound (disk full and platform down) are counted in the
    end-of-fit warning, in the run's ``points.dropped`` and by ``picsellia-tf sync``.

    Previews: with ``preview_data`` (an image batch, ``(images, ground_truths)``, or a
    ``tf.data.Dataset`` of images or ``(image, ground_truth)``, batched or not), its first
    ``max_previews`` images are kept; every ``preview_every`` epochs, and after the last epoch,
    the model predicts them (``model(images, training=False)``, on the training thread) and the
    sender thread renders them (:func:`picsellia_tf.previews.render_batch`: ground truth and
    prediction), spools the PNGs and uploads them as ``epoch_<EEEE>_<II>.png`` previews of the
    version (``EEEE`` the Keras epoch index), with the same retries, spooling and ``sync`` as
    the points. ``preview_task`` (``classification``, ``multilabel``, ``detection``,
    ``segmentation``) and ``label_names`` default to the project's type and labels, else to what
    the data's shapes suggest. ``decode_predictions(raw_outputs)`` turns the model's raw
    batch output into what ``render_batch`` takes (e.g. ``{"boxes", "labels", "scores"}``);
    ``bbox_format`` and ``score_threshold`` go to the renderer.
    """

    # Keras 3 may run batch hooks on a worker thread; these hooks are thread-safe.
    async_safe = True

    def __init__(
        self,
        client: Client | None = None,
        *,
        training_id: int | None = None,
        network_id: str | None = None,
        project_id: str | None = None,
        model_name: str | None = None,
        log_every_n_batches: int | None = None,
        flush_interval: float = 2.0,
        offline: bool = False,
        spool_dir: str | os.PathLike[str] | None = None,
        tensorboard_logdir: str | os.PathLike[str] | None = None,
        flush_timeout: float = 5.0,
        flush_max_time: float = 30.0,
        preview_data: Any = None,
        preview_every: int = 1,
        preview_task: str | None = None,
        label_names: Sequence[str] | None = None,
        max_previews: int = DEFAULT_MAX_PREVIEWS,
        decode_predictions: Callable[[Any], Any] | None = None,
        bbox_format: str = "xyxy",
        score_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if (training_id is None) != (network_id is None):
            raise ValidationError(
                "PicselliaCallback: give both training_id and network_id, or neither"
            )
        if training_id is None and not (project_id and model_name):
            raise ValidationError(
                "PicselliaCallback: name the experiment with training_id and network_id, "
                "or give project_id and model_name to start a new version"
            )
        if training_id is not None and (
            isinstance(training_id, bool)
            or not isinstance(training_id, numbers.Integral)
            or training_id < 1
        ):
            raise ValidationError(
                f"PicselliaCallback: training_id: expected an int >= 1, got {training_id!r}"
            )
        if network_id is not None and (not isinstance(network_id, str) or not network_id):
            raise ValidationError(
                f"PicselliaCallback: network_id: expected a non-empty string, got {network_id!r}"
            )
        for name, text in (("project_id", project_id), ("model_name", model_name)):
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise ValidationError(
                    f"PicselliaCallback: {name}: expected a non-empty string, got {text!r}"
                )
        if log_every_n_batches is not None and (
            isinstance(log_every_n_batches, bool)
            or not isinstance(log_every_n_batches, int)
            or log_every_n_batches < 1
        ):
            raise ValidationError(
                "PicselliaCallback: log_every_n_batches: expected an int >= 1 or None, "
                f"got {log_every_n_batches!r}"
            )
        for name, seconds in (
            ("flush_interval", flush_interval),
            ("flush_timeout", flush_timeout),
            ("flush_max_time", flush_max_time),
        ):
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
                raise ValidationError(
                    f"PicselliaCallback: {name}: expected seconds > 0, got {seconds!r}"
                )
        self._preview_set = _check_previews(
            preview_data,
            preview_every,
            preview_task,
            label_names,
            max_previews,
            decode_predictions,
            bbox_format,
            score_threshold,
        )
        self.preview_every = int(preview_every)
        self.preview_task = preview_task
        self.label_names = list(label_names) if label_names is not None else None
        self.decode_predictions = decode_predictions
        self.preview_options: dict[str, Any] = {
            "bbox_format": bbox_format,
            "score_threshold": float(score_threshold),
        }
        self.renderer: PreviewRenderer | None = None
        self._last_epoch: int | None = None
        self._previewed_epoch: int | None = None
        self.offline = bool(offline) or os.environ.get("PICSELLIA_MODE", "").lower() == "offline"
        if client is None and not self.offline:
            from picsellia_tf.client import Client

            client = Client()
        self.client = client
        self._training_id = int(training_id) if training_id is not None else None
        self._network_id = network_id
        self.project_id = project_id
        self.model_name = model_name
        self.log_every_n_batches = log_every_n_batches
        self.flush_interval = float(flush_interval)
        self.flush_timeout = float(flush_timeout)
        self.flush_max_time = float(flush_max_time)
        self.spool_dir = Path(spool_dir) if spool_dir is not None else default_spool_dir()
        self.tensorboard_logdir = tensorboard_logdir
        if log_every_n_batches is None:
            # Keras then sees the base class's no-op batch hook and skips batch dispatch.
            self.on_train_batch_end = super().on_train_batch_end  # type: ignore[method-assign]
        self.spool: Spool | None = None
        self.sender: Sender | None = None
        self._active = False
        self._iter_base = 0
        self._batches_seen = 0
        self._warned: set[str] = set()  # per fit: each run warns about its own spool
        self._dropped_before = 0
        self._queued_warnings: list[str] = []

    @property
    def training_id(self) -> int | None:
        """The experiment version's ``training_id``; None until the version is started."""
        return self.spool.meta.training_id if self.spool is not None else self._training_id

    @property
    def network_id(self) -> str | None:
        """The experiment's ``network_id`` (model id); None until the version is started."""
        return self.spool.meta.network_id if self.spool is not None else self._network_id

    def __repr__(self) -> str:
        return (
            f"PicselliaCallback(training_id={self.training_id}, network_id={self.network_id!r}, "
            f"offline={self.offline})"
        )

    # -- warnings ----------------------------------------------------------------------------

    def _warn_once(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(message, DeliveryWarning, stacklevel=3)

    def _queue_warning(self, message: str) -> None:
        """From the sender thread: shown by the next hook, on the training thread."""
        self._queued_warnings.append(message)

    def _emit_queued(self) -> None:
        while self._queued_warnings:
            message = self._queued_warnings.pop(0)
            self._warn_once(message, message)

    def _hook_failed(self, where: str, exc: BaseException) -> None:
        hint = f"; points logged so far are in {self.spool.path}" if self.spool else ""
        self._warn_once(
            "hook",
            f"PicselliaCallback: {where} failed ({type(exc).__name__}: {exc}); training goes "
            f"on{hint}",
        )

    # -- setup -------------------------------------------------------------------------------

    def _make_tailer(self) -> Tailer | None:
        if self.tensorboard_logdir is None:
            return None
        from picsellia_tf import tfevents

        return tfevents.LogdirTailer(self.tensorboard_logdir)

    def _close_sender(self, idle_timeout: float, max_time: float) -> bool:
        """Close the run's sender (final flush) and its client; True if all was delivered."""
        sender = self.sender
        if sender is None:
            return False
        try:
            return sender.close(idle_timeout, max_time)
        finally:
            if sender.client is not None and sender.client is not self.client:
                sender.client.close()

    def _setup(self) -> None:
        self._close_sender(idle_timeout=0.5, max_time=1.0)  # a fit that ended without on_train_end
        self.sender = None
        self._warned.clear()
        self._queued_warnings.clear()
        self._active = _keras.is_chief(self.model)
        if not self._active:
            log.info("PicselliaCallback: not the chief worker; this worker logs nothing")
            return
        meta = RunMeta(
            host=getattr(self.client, "host", None),
            project_id=self.project_id,
            model_name=self.model_name,
            training_id=self.training_id,  # a version started by an earlier fit is continued
            network_id=self.network_id,
        )
        self._iter_base = _keras.read_iterations(self.model) or 0
        self._last_epoch = self._previewed_epoch = None
        self.spool = Spool.create(self.spool_dir, meta)  # a disk error here is retried later
        self._dropped_before = self.spool.dropped
        try:
            tailer = self._make_tailer()
        except Exception as exc:  # noqa: BLE001
            tailer = None
            self._warn_once("tailer", f"PicselliaCallback: cannot read tensorboard_logdir: {exc}")
        sender_client = (
            None if self.offline or self.client is None else make_sender_client(self.client)
        )
        self.sender = Sender(
            self.spool,
            sender_client,
            flush_interval=self.flush_interval,
            tailer=tailer,
            warn=self._queue_warning,
        )
        self.sender.start()
        if self._preview_set is not None:
            self.renderer = PreviewRenderer(
                self._preview_set,
                task=self.preview_task,
                label_names=self.label_names,
                decode_predictions=self.decode_predictions,
                render_options=self.preview_options,
                client=sender_client,
                project_id=self.project_id,
                warn=self._queue_warning,
            )

    def _preview(self, epoch: int) -> None:
        """Predict the preview images now; render and send them on the sender thread."""
        if self.renderer is None or self.sender is None:
            return
        self._previewed_epoch = epoch
        try:
            raw = predict(self.model, self.renderer.samples.images)
        except Exception as exc:  # noqa: BLE001 -- previews must never stop training
            self.renderer.failed(f"predict at epoch {epoch}", exc)
            return
        self.sender.submit(self.renderer.job(epoch, raw))

    # -- recording ---------------------------------------------------------------------------

    def _write(self, points: list[tuple[str, int, Any]]) -> None:
        if self.spool is None:
            return
        now = time.time()
        lines = []
        for tag, step, value in points:
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # not a scalar (e.g. a per-class array): not a series
            if len(tag) > MAX_TAG_LENGTH:
                self._warn_once(
                    f"tag:{tag}",
                    f"PicselliaCallback: metric {tag[:40]!r}... has a name longer than "
                    f"{MAX_TAG_LENGTH} characters; not logged",
                )
                continue
            lines.append(encode_point(tag, step, number, now))
        if lines:
            self.spool.append_lines("".join(lines))
            if self.spool.disk_error is not None:
                self._warn_disk(self.spool)

    def _warn_disk(self, spool: Spool) -> None:
        limit = spool.memory_limit / (1 << 20)
        self._warn_once(
            "disk",
            f"PicselliaCallback: cannot write the spool in {spool.path} ({spool.disk_error}); "
            f"training goes on: points are kept in memory (up to {limit:g} MiB), sent from "
            "there while the platform takes them, and written out when the disk allows",
        )

    # -- Keras hooks -------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        try:
            self._setup()
        except Exception as exc:  # noqa: BLE001
            self._active = False
            self._hook_failed("on_train_begin", exc)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._active:
            return
        try:
            self._emit_queued()
            iterations = _keras.read_iterations(self.model)
            self._iter_base = iterations if iterations is not None else self._batches_seen
        except Exception as exc:  # noqa: BLE001
            self._hook_failed("on_epoch_begin", exc)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._active or self.log_every_n_batches is None:
            return
        try:
            step = self._iter_base + batch + 1
            self._batches_seen = step
            if step % self.log_every_n_batches or not logs:
                return
            self._write([("batch/" + name, step, value) for name, value in logs.items()])
        except Exception as exc:  # noqa: BLE001
            self._hook_failed("on_train_batch_end", exc)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._active:
            return
        try:
            self._emit_queued()
            logs = dict(logs or {})
            self._write([(name, int(epoch), value) for name, value in logs.items()])
        except Exception as exc:  # noqa: BLE001
            self._hook_failed("on_epoch_end", exc)
        self._last_epoch = int(epoch)
        if self.renderer is not None and (epoch + 1) % self.preview_every == 0:
            self._preview(int(epoch))
        if logs is not None and "learning_rate" in logs:
            return
        try:
            lr = _keras.current_learning_rate(self.model, _ScheduleType)
            if lr is not None and math.isfinite(lr):
                self._write([("learning_rate", int(epoch), lr)])
        except Exception as exc:  # noqa: BLE001 -- an exotic optimizer: no learning_rate series
            self._warn_once("lr", f"PicselliaCallback: cannot read the learning rate ({exc})")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self._active:
            return
        self._active = False
        try:
            self._emit_queued()
            sender, spool = self.sender, self.spool
            if sender is None or spool is None:
                return
            last = self._last_epoch
            if self.renderer is not None and last is not None and self._previewed_epoch != last:
                self._preview(last)
            delivered = self._close_sender(self.flush_timeout, self.flush_max_time)
            self._emit_queued()
            lost = spool.dropped - self._dropped_before
            if lost:
                self._warn_once(
                    "dropped",
                    f"PicselliaCallback: {lost} points were lost: the spool's disk refused "
                    f"writes ({spool.disk_error or 'disk full'}) while the platform could not "
                    f"take them (at most {spool.memory_limit / (1 << 20):g} MiB of points wait "
                    f"in memory). The count is recorded in {spool.path / DROPPED_FILE}; what "
                    f"was kept is sent with: {sync_hint(spool)}",
                )
            elif delivered:
                log.info("PicselliaCallback: %d points and previews delivered", sender.sent)
            elif self.offline:
                log.info(
                    "PicselliaCallback: offline run spooled in %s; send it with: %s",
                    spool.path,
                    sync_hint(spool),
                )
            elif sender.disabled_by is None and not sender.only_stopped_left():
                # (else the sender already warned, naming sync or the stopped channel)
                reason = f" ({sender.last_error})" if sender.last_error else ""
                what = (
                    "some points could not be sent to the platform"
                    if spool.meta.has_experiment
                    else f"could not start an experiment version of {self.model_name!r} in "
                    f"project {self.project_id!r}"
                )
                self._warn_once(
                    "unsent",
                    f"PicselliaCallback: {what}{reason}; what was not sent is kept in "
                    f"{spool.path}. Send it with: {sync_hint(spool)}",
                )
        except Exception as exc:  # noqa: BLE001
            self._hook_failed("on_train_end", exc)


def _check_previews(
    preview_data: Any,
    every: Any,
    task: Any,
    label_names: Any,
    max_previews: Any,
    decode_predictions: Any,
    bbox_format: Any,
    score_threshold: Any,
) -> PreviewSet | None:
    """The preview images, after checking every preview argument."""
    from picsellia_tf.previews import TASKS, bbox_format_name

    def positive(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"PicselliaCallback: {name}: expected an int >= 1, got {value!r}")

    positive("preview_every", every)
    positive("max_previews", max_previews)
    if task is not None and task not in TASKS:
        raise ValidationError(
            f"PicselliaCallback: preview_task: expected one of {', '.join(TASKS)} or None, "
            f"got {task!r}"
        )
    if label_names is not None and (
        isinstance(label_names, str)
        or not isinstance(label_names, Sequence)
        or not all(isinstance(n, str) for n in label_names)
    ):
        raise ValidationError(
            f"PicselliaCallback: label_names: expected a list of strings, got {label_names!r}"
        )
    if decode_predictions is not None and not callable(decode_predictions):
        raise ValidationError(
            "PicselliaCallback: decode_predictions: expected a callable, got "
            f"{type(decode_predictions).__name__}"
        )
    bbox_format_name(bbox_format, "PicselliaCallback: bbox_format")
    if (
        isinstance(score_threshold, bool)
        or not isinstance(score_threshold, int | float)
        or not 0 <= score_threshold <= 1
    ):
        raise ValidationError(
            "PicselliaCallback: score_threshold: expected a number in [0, 1], "
            f"got {score_threshold!r}"
        )
    if preview_data is None:
        return None
    try:
        return collect(preview_data, max_previews)
    except ValidationError as exc:
        raise ValidationError(f"PicselliaCallback: {exc}") from None
