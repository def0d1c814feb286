"""``PicselliaCallback``: streams a Keras ``fit`` run's metrics to a Picsellia experiment.

The hooks only write to the run's on-disk spool; a background :class:`~picsellia_tf.sender.Sender`
posts to the platform. See the class docstring for tags and steps.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from picsellia_tf import _keras
from picsellia_tf._limits import MAX_TAG_LENGTH
from picsellia_tf.callback_options import (
    DeliveryOptions,
    ExperimentTarget,
    PreviewOptions,
    build,
)
from picsellia_tf.preview_sampler import DEFAULT_MAX_PREVIEWS, PreviewRenderer, predict
from picsellia_tf.sender import (
    DeliveryWarning,
    Sender,
    Tailer,
    make_sender_client,
    sync_hint,
)
from picsellia_tf.spool import (
    DROPPED_FILE,
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

_Hook = TypeVar("_Hook", bound=Callable[..., None])


def _safe_hook(*, when_inactive: bool = False) -> Callable[[_Hook], _Hook]:
    """A Keras hook that never raises into ``fit``: an exception becomes one warning (per fit)
    naming the hook. Unless ``when_inactive``, the hook does nothing while the callback is
    inactive (not the chief worker, setup failed, or the fit ended)."""

    def wrap(hook: _Hook) -> _Hook:
        where = hook.__name__

        @functools.wraps(hook)
        def run(self: PicselliaCallback, *args: Any, **kwargs: Any) -> None:
            if not (when_inactive or self._active):
                return
            try:
                hook(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 -- no hook ever raises into fit
                self._hook_failed(where, exc)

        return run  # type: ignore[return-value]

    return wrap


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
    backoff. ``on_train_end`` waits for delivery until ``flush_timeout`` seconds pass without
    a successful post or rendered preview (``flush_max_time`` at most); what is left stays
    spooled and one warning gives the command that sends it (``picsellia-tf sync DIR``). A
    fully delivered run's spool directory is removed. ``offline=True`` (or
    ``PICSELLIA_MODE=offline``) only spools. Under multi-worker ``tf.distribute`` only the chief
    logs; other workers do nothing.
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
        self.target = build(
            ExperimentTarget,
            training_id=training_id,
            network_id=network_id,
            project_id=project_id,
            model_name=model_name,
        )
        self.delivery = build(
            DeliveryOptions,
            log_every_n_batches=log_every_n_batches,
            flush_interval=flush_interval,
            flush_timeout=flush_timeout,
            flush_max_time=flush_max_time,
            offline=offline,
            spool_dir=spool_dir,
            tensorboard_logdir=tensorboard_logdir,
        )
        self.previews = build(
            PreviewOptions,
            preview_every=preview_every,
            preview_task=preview_task,
            label_names=label_names,
            max_previews=max_previews,
            decode_predictions=decode_predictions,
            bbox_format=bbox_format,
            score_threshold=score_threshold,
        )
        self._preview_set = build(self.previews.collect, preview_data=preview_data)
        self.offline = self.delivery.offline
        self.client = client if client is not None or self.offline else _default_client()
        self.spool_dir = Path(spool_dir) if spool_dir is not None else default_spool_dir()
        if log_every_n_batches is None:
            # Keras then sees the base class's no-op batch hook and skips batch dispatch.
            self.on_train_batch_end = super().on_train_batch_end  # type: ignore[method-assign]
        self.renderer: PreviewRenderer | None = None
        self.spool: Spool | None = None
        self.sender: Sender | None = None
        self._active = False
        self._last_epoch: int | None = None
        self._previewed_epoch: int | None = None
        self._iter_base = 0
        self._batches_seen = 0
        self._warned: set[str] = set()  # per fit: each run warns about its own spool
        self._dropped_before = 0
        self._queued_warnings: list[str] = []

    @property
    def training_id(self) -> int | None:
        """The experiment version's ``training_id``; None until the version is started."""
        return self.spool.meta.training_id if self.spool is not None else self.target.training_id

    @property
    def network_id(self) -> str | None:
        """The experiment's ``network_id`` (model id); None until the version is started."""
        return self.spool.meta.network_id if self.spool is not None else self.target.network_id

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
        if self.delivery.tensorboard_logdir is None:
            return None
        from picsellia_tf import tfevents

        return tfevents.LogdirTailer(self.delivery.tensorboard_logdir)

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
        """Open the run's spool and start its sender; the callback is active once done."""
        self._active = False
        self._close_sender(idle_timeout=0.5, max_time=1.0)  # a fit that ended without on_train_end
        self.sender = None
        self._warned.clear()
        self._queued_warnings.clear()
        if not _keras.is_chief(self.model):
            log.info("PicselliaCallback: not the chief worker; this worker logs nothing")
            return
        target = self.target
        meta = RunMeta(
            host=getattr(self.client, "host", None),
            project_id=target.project_id,
            model_name=target.model_name,
            training_id=self.training_id,  # a version started by an earlier fit is continued
            network_id=self.network_id,
        )
        self._iter_base = _keras.read_iterations(self.model) or 0
        self._last_epoch = self._previewed_epoch = None
        self.spool = Spool.create(self.spool_dir, meta)  # a disk error here is retried later
        self._dropped_before = self.spool.dropped
        try:
            tailer = self._make_tailer()
        except Exception as exc:  # noqa: BLE001 -- a bad logdir: one warning, no tailer
            tailer = None
            self._warn_once("tailer", f"PicselliaCallback: cannot read tensorboard_logdir: {exc}")
        sender_client = (
            None if self.offline or self.client is None else make_sender_client(self.client)
        )
        self.sender = Sender(
            self.spool,
            sender_client,
            flush_interval=self.delivery.flush_interval,
            tailer=tailer,
            warn=self._queue_warning,
        )
        self.sender.start()
        if self._preview_set is not None:
            options = self.previews
            self.renderer = PreviewRenderer(
                self._preview_set,
                task=options.preview_task,
                label_names=options.label_names,
                decode_predictions=options.decode_predictions,
                render_options=options.render_options,
                client=sender_client,
                project_id=target.project_id,
                warn=self._queue_warning,
            )
        self._active = True

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

    # -- Keras hooks: each through _safe_hook, so that none ever raises into fit -------------

    @_safe_hook(when_inactive=True)
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._setup()

    @_safe_hook()
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._emit_queued()
        iterations = _keras.read_iterations(self.model)
        self._iter_base = iterations if iterations is not None else self._batches_seen

    @_safe_hook()
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        every = self.delivery.log_every_n_batches
        if every is None:
            return
        step = self._iter_base + batch + 1
        self._batches_seen = step
        if step % every or not logs:
            return
        self._write([("batch/" + name, step, value) for name, value in logs.items()])

    @_safe_hook()
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        epoch = int(epoch)
        self._last_epoch = epoch
        try:
            self._emit_queued()
            self._write([(name, epoch, value) for name, value in (logs or {}).items()])
        finally:  # a failed write leaves the previews and the learning rate to do
            if self.renderer is not None and (epoch + 1) % self.previews.preview_every == 0:
                self._preview(epoch)
            if logs is None or "learning_rate" not in logs:
                self._write_learning_rate(epoch)

    @_safe_hook()
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._active = False
        self._emit_queued()
        sender, spool = self.sender, self.spool
        if sender is None or spool is None:
            return
        last = self._last_epoch
        if self.renderer is not None and last is not None and self._previewed_epoch != last:
            self._preview(last)
        delivered = self._close_sender(self.delivery.flush_timeout, self.delivery.flush_max_time)
        self._emit_queued()
        self._report_end(sender, spool, delivered)

    # -- end of fit --------------------------------------------------------------------------

    def _write_learning_rate(self, epoch: int) -> None:
        try:
            lr = _keras.current_learning_rate(self.model, _ScheduleType)
        except Exception as exc:  # noqa: BLE001 -- an exotic optimizer: no learning_rate
            self._warn_once("lr", f"PicselliaCallback: cannot read the learning rate ({exc})")
            return
        if lr is not None and math.isfinite(lr):
            self._write([("learning_rate", epoch, lr)])

    def _report_end(self, sender: Sender, spool: Spool, delivered: bool) -> None:
        """The end-of-fit warning (points lost, or left unsent), or a log line."""
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
                else f"could not start an experiment version of {self.target.model_name!r} "
                f"in project {self.target.project_id!r}"
            )
            self._warn_once(
                "unsent",
                f"PicselliaCallback: {what}{reason}; what was not sent is kept in "
                f"{spool.path}. Send it with: {sync_hint(spool)}",
            )


def _default_client() -> Client:
    from picsellia_tf.client import Client

    return Client()
