"""Delivery of spooled runs to the platform: spooling, batching and deadlines; retries follow
the package's one rule (:mod:`picsellia_tf._retry`).

- :class:`Delivery` sends what a :class:`~picsellia_tf.spool.Spool` holds that the server has
  not accepted yet, one batch at a time, through *channels* (one per kind of spooled job:
  :class:`PointsChannel` for scalars, :class:`PreviewsChannel` for preview images).
- :class:`Sender` runs a ``Delivery`` on a daemon thread for a live training run: one post per
  ``flush_interval`` with everything new, capped exponential backoff with jitter on failures,
  ``flush``/``close`` with deadlines, and a best-effort flush at interpreter exit. Work handed
  to it with :meth:`Sender.submit` (rendering previews) runs on that thread before delivering.
- :func:`sync_run` and :func:`post_logs_chunked` are the synchronous forms used by
  ``picsellia-tf sync`` and ``picsellia-tf push-logs``.

Adding a kind of job: write its files and one record per job in the run directory (as the
previews do: ``previews/<file>`` and ``previews.jsonl`` acknowledged by offset like the
points), and give :class:`Delivery` a :class:`Channel` whose ``send_next`` sends a batch and
records it as delivered. The sender thread, the flush deadlines, ``sync`` and the retries then
apply to it unchanged.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from picsellia_tf._retry import Backoff, is_retryable, retry_hint
from picsellia_tf.errors import (
    APIError,
    UnknownProjectError,
    ValidationError,
)
from picsellia_tf.spool import Point, Spool, to_logs

if TYPE_CHECKING:
    from picsellia_tf.client import Client

log = logging.getLogger("picsellia_tf.sender")

MAX_POINTS_PER_POST = 10_000
MAX_PREVIEWS_PER_POST = 32
SENDER_TIMEOUT = 10.0
LOOP_BACKOFF_CAP = 30.0
"""The longest wait of the background loop between two failed deliveries (seconds)."""


class DeliveryWarning(UserWarning):
    """Something could not be sent to the platform; it stays in the spool."""


def sync_hint(spool: Spool) -> str:
    """The command that sends a spooled run later."""
    return f"picsellia-tf sync {spool.path}"


def make_sender_client(client: Client) -> Client:
    """A client for background delivery: same host and token, a short timeout, no retries of
    its own (the sender and ``sync`` run their own backoff)."""
    return client.with_options(timeout=SENDER_TIMEOUT, max_retries=0, retry_deadline=SENDER_TIMEOUT)


class Target:
    """An experiment version on the platform: where a run's jobs go."""

    def __init__(
        self, client: Client, training_id: int, network_id: str, project_id: str | None = None
    ):
        self.client = client
        self.training_id = training_id
        self.network_id = network_id
        self.project_id = project_id

    def __repr__(self) -> str:
        return f"Target(training_id={self.training_id}, network_id={self.network_id!r})"

    def post_logs(self, logs: dict[str, dict[str, list[Any]]]) -> int:
        """One ``POST /sdk/post_logs``."""
        return int(self.client.experiments.post_logs(self.training_id, self.network_id, logs))

    def upload_preview(self, data: bytes, name: str) -> str:
        """Upload one image to the version's storage; its object name."""
        return str(
            self.client.experiments.upload_preview(
                self.training_id, self.network_id, data, project_id=self.project_id, name=name
            )
        )

    def post_preview(self, object_names: list[str]) -> None:
        """Record uploaded images as previews of the version."""
        self.client.experiments.post_preview(self.training_id, self.network_id, object_names)


class Channel(Protocol):
    """One kind of spooled job (points; previews later).

    ``send_next`` sends the next batch of unsent items and records it as delivered in the spool;
    it returns how many items it sent (0 when nothing is pending) and raises when the batch
    could not be delivered, which then stays pending for the next call.
    """

    name: str

    def has_pending(self) -> bool: ...

    def send_next(self, target: Target) -> int: ...


class PointsChannel:
    """Scalar points from ``points.jsonl``, posted as LOGS, acknowledged by byte offset."""

    name = "points"

    def __init__(self, spool: Spool, max_points: int = MAX_POINTS_PER_POST):
        self.spool = spool
        self.max_points = max_points
        self._read_pos = spool.acked()
        self._batch: list[Point] = []

    def has_pending(self) -> bool:
        return bool(self._batch) or self.spool.size() > self._read_pos or self.spool.in_memory > 0

    def send_next(self, target: Target) -> int:
        if len(self._batch) < self.max_points:
            more, self._read_pos = self.spool.read(
                self._read_pos, self.max_points - len(self._batch)
            )
            self._batch.extend(more)
        end = self._read_pos
        if not self._batch:
            if end > self.spool.acked():
                self.spool.ack(end)  # only blank or unreadable lines were left
            return self._send_memory(target)
        target.post_logs(to_logs(self._batch))
        sent = len(self._batch)
        self._batch = []
        self.spool.ack(end)
        return sent

    def _send_memory(self, target: Target) -> int:
        """The points the disk refused, straight from memory (the disk is caught up)."""
        lines, mark = self.spool.memory_lines(self.max_points)
        if not lines:
            return 0
        points = self.spool._decode_lines(lines)
        if points:
            target.post_logs(to_logs(points))
        self.spool.forget_memory(mark)
        return len(points)


class PreviewsChannel:
    """Spooled preview images: uploaded one by one, then recorded in one ``post_preview``.

    A batch that fails half-way keeps what it uploaded, so a retry uploads only the rest.
    """

    name = "previews"

    def __init__(self, spool: Spool, max_items: int = MAX_PREVIEWS_PER_POST):
        self.spool = spool
        self.max_items = max_items
        self._read_pos = spool.previews_acked()
        self._batch: list[str] = []
        self._uploaded: dict[str, str] = {}

    def has_pending(self) -> bool:
        return bool(self._batch) or self.spool.previews_size() > self._read_pos

    def send_next(self, target: Target) -> int:
        if not self._batch:
            self._batch, self._read_pos = self.spool.read_previews(self._read_pos, self.max_items)
        end = self._read_pos
        if not self._batch:
            if end > self.spool.previews_acked():
                self.spool.ack_previews(end)  # only damaged records were left
            return 0
        for name in self._batch:
            if name not in self._uploaded:
                data = self.spool.preview_path(name).read_bytes()
                self._uploaded[name] = target.upload_preview(data, name)
        target.post_preview([self._uploaded[name] for name in self._batch])
        sent = len(self._batch)
        self._batch, self._uploaded = [], {}
        self.spool.ack_previews(end)
        return sent


@dataclass
class DrainResult:
    """What a synchronous delivery achieved."""

    sent: int
    complete: bool
    error: BaseException | None = None
    previews: int = 0
    """Of ``sent``, how many were preview images."""


class Delivery:
    """Sends a spool's pending jobs (or in-memory ones) to an experiment version."""

    def __init__(
        self,
        client: Client,
        channels: Iterable[Channel],
        *,
        spool: Spool | None = None,
        target: Target | None = None,
    ):
        self.client = client
        self.channels: list[Channel] = list(channels)
        self.spool = spool
        self.sent = 0
        self.posts = 0
        self.sent_by: dict[str, int] = {}
        self.stopped: dict[str, BaseException] = {}
        """Channels that cannot deliver to this version (previews whose project is unknown),
        with why; their items stay in the spool while the other channels go on."""
        self._target = target

    @classmethod
    def for_spool(
        cls, spool: Spool, client: Client, max_points: int = MAX_POINTS_PER_POST
    ) -> Delivery:
        """Delivery of everything a spooled run holds: points, then previews."""
        return cls(client, [PointsChannel(spool, max_points), PreviewsChannel(spool)], spool=spool)

    def target(self) -> Target:
        """The experiment version; starts it (``experiments.init``) if the spool has no ids yet.

        Once ``init`` succeeded its ids are in the spool's ``meta`` (and in ``meta.json``), so
        it is never called again for this spool, even if writing ``meta.json`` failed.
        """
        if self._target is not None:
            return self._target
        if self.spool is None:
            raise ValidationError("Delivery: needs a spool or a target")
        meta = self.spool.meta
        if not meta.has_experiment:
            if not (meta.project_id and meta.model_name):
                raise ValidationError(
                    f"{self.spool.path}: meta.json has neither training_id/network_id "
                    "nor project_id/model_name"
                )
            exp = self.client.experiments.init(meta.project_id, meta.model_name)
            log.info(
                "started experiment version training_id=%s network_id=%s for %s",
                exp.training_id,
                exp.network_id,
                self.spool.path,
            )
            self.spool.set_experiment(exp.training_id, exp.network_id)
            meta = self.spool.meta
        assert meta.training_id is not None and meta.network_id is not None
        self._target = Target(self.client, meta.training_id, meta.network_id, meta.project_id)
        return self._target

    def has_pending(self) -> bool:
        """Whether a channel that can deliver has something pending."""
        return any(ch.has_pending() for ch in self.channels if ch.name not in self.stopped)

    def step(self) -> int:
        """Send one batch of each channel that has one; items sent. Raises on failure.

        A channel that cannot deliver to this version at all (:class:`UnknownProjectError`)
        is stopped (see :attr:`stopped`) instead, and the others go on.
        """
        total = 0
        for channel in self.channels:
            if channel.name not in self.stopped and channel.has_pending():
                try:
                    sent = channel.send_next(self.target())
                except UnknownProjectError as exc:
                    self.stopped[channel.name] = exc
                    continue
                self.posts += 1 if sent else 0
                self.sent_by[channel.name] = self.sent_by.get(channel.name, 0) + sent
                total += sent
        self.sent += total
        return total

    def drain(
        self,
        deadline: float,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> DrainResult:
        """Send everything, retrying transient failures until ``deadline`` (monotonic)."""
        backoff = backoff or Backoff()
        sent_before = self.sent
        previews_before = self.sent_by.get("previews", 0)

        def result(complete: bool, error: BaseException | None = None) -> DrainResult:
            previews = self.sent_by.get("previews", 0) - previews_before
            return DrainResult(self.sent - sent_before, complete, error, previews)

        while True:
            try:
                if self.step() == 0 and not self.has_pending():
                    stopped = next(iter(self.stopped.values()), None)
                    return result(stopped is None, stopped)
                backoff.reset()
            except Exception as exc:  # noqa: BLE001 -- classified below
                remaining = deadline - time.monotonic()
                if not is_retryable(exc) or remaining <= 0:
                    return result(False, exc)
                sleep(min(backoff.next(retry_hint(exc)), remaining))


def sync_run(spool: Spool, client: Client, *, timeout: float = 300.0) -> DrainResult:
    """Deliver one spooled run (``picsellia-tf sync``); inits the experiment if needed."""
    with make_sender_client(client) as sender_client:
        return Delivery.for_spool(spool, sender_client).drain(time.monotonic() + timeout)


class ListChannel:
    """Points held in memory, sent ``max_points`` at a time."""

    name = "points"

    def __init__(self, points: list[Point], max_points: int = MAX_POINTS_PER_POST):
        self._points = points
        self._pos = 0
        self.max_points = max_points

    def has_pending(self) -> bool:
        return self._pos < len(self._points)

    def send_next(self, target: Target) -> int:
        chunk = self._points[self._pos : self._pos + self.max_points]
        if not chunk:
            return 0
        target.post_logs(to_logs(chunk))
        self._pos += len(chunk)
        return len(chunk)


def logs_to_points(logs: dict[str, dict[str, list[Any]]]) -> list[Point]:
    """LOGS as a list of points."""
    points: list[Point] = []
    for tag, series in logs.items():
        steps, values = series["step"], series["value"]
        walls = series.get("wall_time") or [None] * len(steps)
        for step, value, wall in zip(steps, values, walls, strict=True):
            points.append(Point(tag, int(step), float(value), wall))
    return points


def post_logs_chunked(
    client: Client,
    training_id: int,
    network_id: str,
    logs: dict[str, dict[str, list[Any]]],
    *,
    chunk: int = MAX_POINTS_PER_POST,
    timeout: float = 300.0,
) -> DrainResult:
    """Post LOGS in chunks of ``chunk`` points, with the sender's retries (``push-logs``)."""
    with make_sender_client(client) as sender_client:
        delivery = Delivery(
            sender_client,
            [ListChannel(logs_to_points(logs), chunk)],
            target=Target(sender_client, training_id, network_id),
        )
        return delivery.drain(time.monotonic() + timeout)


class Tailer(Protocol):
    """A source of extra points polled by the sender thread (e.g. a tfevents logdir tailer)."""

    def poll(self) -> list[Any]: ...


_live_senders: weakref.WeakSet[Sender] = weakref.WeakSet()
_atexit_registered = False
ATEXIT_DEADLINE = 2.0


def _flush_at_exit() -> None:
    """Best effort for runs whose ``on_train_end`` never came (a crash, an interrupted fit)."""
    for sender in list(_live_senders):
        try:
            delivered = sender.close(idle_timeout=ATEXIT_DEADLINE, max_time=ATEXIT_DEADLINE)
            if not delivered and sender.spool.pending():
                print(
                    f"picsellia_tf: some training logs were not sent; they are kept in "
                    f"{sender.spool.path}. Send them with: {sync_hint(sender.spool)}",
                    file=sys.stderr,
                )
        except Exception:  # noqa: BLE001 -- never fail the interpreter's exit
            pass


class Sender:
    """Background delivery of a live run's spool: one coalesced post per ``flush_interval``.

    ``client=None`` means offline: nothing is sent, the spool is kept for ``picsellia-tf sync``.
    A spool without experiment ids (``project_id``/``model_name`` only) gets its version started
    (``experiments.init``) by the thread's first pass, retried with the same backoff as posts
    while the platform is unreachable; the ids then go into the spool's meta. A start that
    timed out after reaching the platform may have created a version: the retry makes another,
    so such a run can leave one extra, empty version.
    ``tailer`` (anything with ``poll() -> [event with tag, step, value, wall_time]``) is polled
    each flush and its points are spooled and sent like the others.
    """

    def __init__(
        self,
        spool: Spool,
        client: Client | None,
        *,
        flush_interval: float = 2.0,
        tailer: Tailer | None = None,
        backoff: Backoff | None = None,
        max_points: int = MAX_POINTS_PER_POST,
        warn: Callable[[str], None] | None = None,
    ):
        self.spool = spool
        self.client = client
        self.flush_interval = flush_interval
        self.tailer = tailer
        self.backoff = backoff or Backoff(cap=LOOP_BACKOFF_CAP)
        self.max_points = max_points
        self.delivery = Delivery.for_spool(spool, client, max_points) if client else None
        self.last_error: BaseException | None = None
        self.failed_attempts = 0
        self.disabled_by: BaseException | None = None
        self._warn = warn or _warn
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stop = False
        self._flushing = 0
        self._passes = 0
        self._last_progress = time.monotonic()  # the last successful post or finished job
        self._in_job = False
        self._thread: threading.Thread | None = None
        self._closed = False
        self._abandoned = False
        self._tailer_failed = False
        self._told_unreachable = False
        self._told_stopped: set[str] = set()
        self._jobs: list[Callable[[Spool], None]] = []
        self._jobs_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Sender({str(self.spool.path)!r}, offline={self.client is None})"

    @property
    def sent(self) -> int:
        """Items delivered so far."""
        return self.delivery.sent if self.delivery else 0

    def start(self) -> None:
        """Start the daemon thread."""
        global _atexit_registered
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"picsellia-sender-{self.spool.path.name}", daemon=True
        )
        self._thread.start()
        if self.delivery is not None and not self.spool.meta.has_experiment:
            self._wake.set()  # start the experiment version now, not after flush_interval
        _live_senders.add(self)
        if not _atexit_registered:
            atexit.register(_flush_at_exit)
            _atexit_registered = True

    def submit(self, job: Callable[[Spool], None]) -> None:
        """Run ``job(spool)`` on the sender thread at its next pass, before delivering.

        Jobs write what they make into the spool (e.g. ``spool.add_preview``); they must handle
        their own errors (one that escapes is kept in ``last_error`` and the pass goes on).
        """
        with self._jobs_lock:
            self._jobs.append(job)

    def _run_jobs(self) -> None:
        while True:
            with self._jobs_lock:
                if not self._jobs:
                    return
                job = self._jobs[0]
            self._in_job = True
            try:
                job(self.spool)
            except Exception as exc:  # noqa: BLE001 -- a failed job must not stop delivery
                self.last_error = exc
                log.warning("sender job failed: %s", exc)
            finally:
                with self._jobs_lock:
                    self._jobs.pop(0)
                # A job (rendering previews) is work towards delivery, not idleness: a slow
                # render on a busy machine must not run out a flush's idle time.
                self._last_progress = time.monotonic()
                self._in_job = False

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        wait = self.flush_interval
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            if self._abandoned:
                return  # close() gave up waiting for this thread: it must not act any more
            stopping = self._stop
            try:
                self._run_jobs()
                self._poll_tailer()
                wait = self._deliver()
            except Exception as exc:  # noqa: BLE001 -- an error never ends the thread
                # (SystemExit and KeyboardInterrupt do end it: flush and close see it ended)
                self.last_error = exc
                wait = self.flush_interval
            with self._cond:
                self._passes += 1
                self._cond.notify_all()
            if stopping:
                return
            if self._flushing:
                wait = min(wait, 0.5)

    def _poll_tailer(self) -> None:
        if self.tailer is None or self._tailer_failed:
            return
        try:
            events = self.tailer.poll()
            if events:
                self.spool.append(
                    Point(e.tag, int(e.step), float(e.value), e.wall_time) for e in events
                )
        except Exception as exc:  # noqa: BLE001 -- a broken logdir must not stop the sender
            self._tailer_failed = True
            self._warn(f"PicselliaCallback: stopped reading tensorboard_logdir: {exc}")

    def _deliver(self) -> float:
        """One pass; the time to wait before the next one."""
        if self.spool.disk_error is not None:
            self.spool.retry_disk()
        if self.delivery is None or self.disabled_by is not None:
            return self.flush_interval
        try:
            self.delivery.target()  # starts the experiment version first if the run has none
            # One post per pass, unless a backlog fills whole batches: then keep going until
            # caught up (a pass never chases the points written while it posts).
            while True:
                sent = self.delivery.step()
                if sent:
                    self._last_progress = time.monotonic()
                if sent < self.max_points or (self._stop and not self._flushing):
                    break
            self._warn_stopped()
            self.backoff.reset()
            self.last_error = None
            return self.flush_interval
        except Exception as exc:  # noqa: BLE001 -- every failure is handled here
            self._warn_stopped()  # a channel may have stopped earlier in this pass
            return self._failed(exc)

    def _warn_stopped(self) -> None:
        """One warning per channel that stopped (the others keep delivering)."""
        assert self.delivery is not None
        for name, exc in self.delivery.stopped.items():
            if name in self._told_stopped:
                continue
            self._told_stopped.add(name)
            self._warn(
                f"PicselliaCallback: {name} are not sent ({exc}); the other data keeps being "
                f"delivered. The {name} stay in {self.spool.path}."
            )

    @property
    def stopped(self) -> dict[str, BaseException]:
        """Channels that stopped delivering (see :attr:`Delivery.stopped`)."""
        return dict(self.delivery.stopped) if self.delivery is not None else {}

    def only_stopped_left(self) -> bool:
        """True when what is left undelivered is only what stopped channels hold (the sender
        warned about those already)."""
        return bool(self.stopped) and self._settled()

    def _failed(self, exc: Exception) -> float:
        """Record a failed pass: retry later (the delay returned) or stop with one warning."""
        self.last_error = exc
        self.failed_attempts += 1
        if self._abandoned:
            return self.flush_interval
        meta = self.spool.meta
        starting = not meta.has_experiment
        if isinstance(exc, OSError):  # the spool's disk: retried, never fatal
            log.warning("spool disk error (%s) in %s; retrying", exc, self.spool.path)
            return self.backoff.next()
        if is_retryable(exc):
            if not self._told_unreachable:
                self._told_unreachable = True
                log.warning(
                    "platform unreachable (%s); points are spooled in %s and %s retried",
                    exc,
                    self.spool.path,
                    "starting the experiment version is" if starting else "they are",
                )
            return self.backoff.next(retry_hint(exc))
        self.disabled_by = exc
        if starting:
            what = (
                f"could not start an experiment version of {meta.model_name!r} in project "
                f"{meta.project_id!r}"
            )
        elif isinstance(exc, APIError):
            what = "the platform refused the logs"
        else:
            what = "cannot send"
        self._warn(
            f"PicselliaCallback: {what} ({exc}); not retrying. "
            f"Points keep being spooled in {self.spool.path}; after fixing the cause, "
            f"send them with: {sync_hint(self.spool)}"
        )
        return self.flush_interval

    # -- flushing ----------------------------------------------------------------------------

    def _delivered(self) -> bool:
        return self._settled() and not self.stopped

    def _settled(self) -> bool:
        """Nothing left that this sender could still deliver."""
        with self._jobs_lock:
            if self._jobs:
                return False
        return (
            self.delivery is not None
            and self.spool.meta.has_experiment
            and not self.delivery.has_pending()
        )

    def flush(self, idle_timeout: float = 5.0, max_time: float = 30.0) -> bool:
        """Wait until everything spooled so far is delivered; True if it was.

        Gives up ``idle_timeout`` seconds after the last successful post or finished job
        (rendering previews; none while one runs), or after the call, whichever is later; and
        after ``max_time`` seconds in any case.
        """
        if self._thread is None or not self._thread.is_alive():
            return self._delivered()
        start = time.monotonic()
        with self._cond:
            self._flushing += 1
        try:
            self._wake.set()
            target_pass = self._passes + 1
            while True:
                with self._cond:
                    done = self._passes >= target_pass and (
                        self._settled() or self.delivery is None or self.disabled_by is not None
                    )
                    if done:
                        return self._delivered()
                    now = time.monotonic()
                    idle_end = max(start, self._last_progress) + idle_timeout
                    deadline = start + max_time if self._in_job else min(start + max_time, idle_end)
                    if now >= deadline or not self._thread.is_alive():
                        return self._delivered()
                    self._cond.wait(min(deadline - now, 0.5))
        finally:
            with self._cond:
                self._flushing -= 1

    def close(self, idle_timeout: float = 5.0, max_time: float = 30.0) -> bool:
        """Final flush, then stop the thread; True if everything was delivered.

        A fully delivered run's spool directory is removed; otherwise it stays, for
        ``picsellia-tf sync``.
        """
        if self._closed:
            return self._delivered()
        self._closed = True
        _live_senders.discard(self)
        delivered = self.flush(idle_timeout, max_time)
        self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            # The thread ends after its current pass; a post stuck in the network is abandoned
            # (the thread is a daemon) rather than waited for.
            thread.join(timeout=0.2 if delivered else 0.05)
            self._abandoned = thread.is_alive()
        self.spool.close()  # what is still only in memory is counted as dropped
        delivered = self._delivered()
        if delivered and not self.spool.pending() and not self.spool.dropped:
            self.spool.remove()
        return delivered


def _warn(message: str) -> None:
    warnings.warn(message, DeliveryWarning, stacklevel=2)
