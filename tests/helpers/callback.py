"""Shared pieces of the callback tests: tiny data, a tiny model, expected points from Keras."""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import socket
import threading
import time
import uuid
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from picsellia_tf.errors import NetworkError
from picsellia_tf.types import Experiment

if TYPE_CHECKING:
    from picsellia_tf.callback import PicselliaCallback

STEPS_PER_EPOCH = 4
BATCH = 8

TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos")


def tf_keras_install_command() -> str:
    """The pip command that adds the ``tf_keras`` matching this TensorFlow, keeping one TF.

    ``tf_keras`` requires the ``tensorflow`` distribution, so a plain install next to
    ``tensorflow-cpu`` would bring a second, full TensorFlow; ``--no-deps`` avoids that.
    """
    for dist in TENSORFLOW_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        major_minor = ".".join(version.split(".")[:2])
        return f"pip install --no-deps 'tf_keras~={major_minor}.0'"
    return "pip install --no-deps tf_keras  # the version of your TensorFlow"


needs_tf_keras = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None,
    reason=f"tf_keras is not installed; `{tf_keras_install_command()}` enables these tests "
    "(.ci/run does)",
)


def new_experiment(
    client: Any, model_name: str = "tiny", kind: str = "classification"
) -> Experiment:
    """A fresh project (of type ``kind``) and a new experiment version of ``model_name`` in it."""
    project = client.projects.create(f"p-{uuid.uuid4().hex[:8]}", kind)
    return client.experiments.init(project.id, model_name)


def callback_for(client: Any, exp: Experiment, **options: Any) -> PicselliaCallback:
    """A :class:`PicselliaCallback` logging to the experiment version ``exp``, with
    ``options``."""
    from picsellia_tf.callback import PicselliaCallback  # here: Keras loads only when used

    return PicselliaCallback(
        client, training_id=exp.training_id, network_id=exp.network_id, **options
    )


def unused_port() -> int:
    """A loopback port nothing listens on: one the OS just handed out and took back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_project(client: Any) -> str:
    return client.projects.create(f"p-{uuid.uuid4().hex[:8]}", "classification").id


def tiny_data(n: int = STEPS_PER_EPOCH * BATCH, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    return x, y


def tiny_model(keras: Any, lr: Any = 0.05) -> Any:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


class BatchRecorder:
    """Collects ``on_train_batch_end`` logs with their global step (optimizer iterations)."""

    def __init__(self, keras: Any):
        self.points: dict[str, dict[int, float]] = {}

        def on_batch_end(batch: int, logs: dict[str, Any] | None) -> None:
            step = int(np.asarray(self.model.optimizer.iterations))
            for name, value in (logs or {}).items():
                self.points.setdefault(f"batch/{name}", {})[step] = float(value)

        self.callback = keras.callbacks.LambdaCallback(on_train_batch_end=on_batch_end)
        self.model: Any = None

    def attach(self, model: Any) -> Any:
        self.model = model
        return self.callback


def epoch_points(history: Any, initial_epoch: int = 0) -> dict[str, dict[int, float]]:
    """History's metrics as {tag: {epoch: value}}."""
    out: dict[str, dict[int, float]] = {}
    epochs = history.epoch
    for name, values in history.history.items():
        for epoch, value in zip(epochs, values, strict=True):
            out.setdefault(name, {})[epoch] = float(value)
    return out


def server_points(logs: dict[str, dict[str, list[Any]]]) -> dict[str, dict[int, float]]:
    """The server's LOGS as {tag: {step: value}}, asserting no step appears twice."""
    out: dict[str, dict[int, float]] = {}
    for tag, series in logs.items():
        steps = series["step"]
        assert len(steps) == len(set(steps)), f"{tag}: duplicated steps {steps}"
        out[tag] = {int(s): float(v) for s, v in zip(steps, series["value"], strict=True)}
    return out


def assert_points_equal(
    got: dict[str, dict[int, float]], want: dict[str, dict[int, float]], rel: float = 1e-6
) -> None:
    """Same tags, same steps, same values (float32 tolerance)."""
    assert sorted(got) == sorted(want), f"tags differ: {sorted(got)} != {sorted(want)}"
    for tag in want:
        assert sorted(got[tag]) == sorted(want[tag]), f"{tag}: steps differ"
        for step, value in want[tag].items():
            assert np.isclose(got[tag][step], value, rtol=rel, atol=1e-7), (
                f"{tag}@{step}: {got[tag][step]} != {value}"
            )


def fit_tiny(
    model: Any,
    callbacks: list[Any],
    epochs: int,
    initial_epoch: int = 0,
    *,
    validation: bool = True,
) -> Any:
    """``model.fit`` on :func:`tiny_data` (validation on other tiny data, unless
    ``validation=False``: for tests that look at no ``val_*`` metric, it saves a traced
    evaluation per fit), in order, quietly.

    The data go in as batched ``tf.data`` datasets (the same batches, in the same order, as
    arrays with ``batch_size=BATCH, shuffle=False``): Keras re-slices arrays into a new
    pipeline every epoch, which made an epoch of these few batches about 4 times slower."""
    import tensorflow as tf  # here: TensorFlow loads only when used

    def batches(x: np.ndarray, y: np.ndarray) -> Any:
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)

    return model.fit(
        batches(*tiny_data()),
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=batches(*tiny_data(16, seed=1)) if validation else None,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )


def frames_alive(function: str) -> list[FrameType]:
    """The frames of calls to functions of that name still alive (finished calls included: a
    traceback kept somewhere keeps its frames and their callers')."""
    return [
        f for f in gc.get_objects() if isinstance(f, FrameType) and f.f_code.co_name == function
    ]


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "the condition") -> None:
    """Poll ``predicate()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def hold_at_epoch_end(keras: Any, ready: Any, what: str, timeout: float = 20.0) -> Any:
    """A Keras callback ending each epoch only once ``ready(epoch)`` is true (what the sender
    thread does meanwhile is then done before the next epoch, whatever the machine's speed)."""
    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: wait_until(lambda: ready(epoch), timeout, what)
    )


def delivery_attempts(sender: Any) -> int:
    """A sender's delivery attempts so far: the failed ones and the posts that sent something."""
    return int(sender.failed_attempts) + (sender.delivery.posts if sender.delivery else 0)


def hold_for_an_attempt(keras: Any, cb: Any, timeout: float = 20.0) -> Any:
    """A Keras callback (placed after ``cb``) ending each epoch only once ``cb``'s sender made
    a delivery attempt after the previous epoch ended: each epoch's points meet the sender (and
    the server's faults), whatever the machine's speed."""
    last = [0]

    def end(epoch: int, logs: Any) -> None:
        sender = cb.sender
        wait_until(lambda: delivery_attempts(sender) > last[0], timeout, "a delivery attempt")
        last[0] = delivery_attempts(sender)

    return keras.callbacks.LambdaCallback(on_epoch_end=end)


class Outage:
    """A platform outage in the middle of a ``fit``, whatever the machine's speed.

    Its :attr:`callback` (placed before the :class:`PicselliaCallback` ``cb``) stops ``server``
    when epoch ``down`` ends; the server starts again once epoch ``up`` has ended *and* ``cb``'s
    sender has met the outage (its last attempt failed on a :class:`NetworkError`), or
    ``timeout`` seconds after it stopped. Training is not held up meanwhile. :meth:`join` waits
    for the restart; :attr:`met` tells whether the sender met the outage.
    """

    def __init__(
        self, keras: Any, server: Any, cb: Any, *, down: int, up: int, timeout: float = 20.0
    ) -> None:
        self.server, self.cb, self.down, self.up, self.timeout = server, cb, down, up, timeout
        self.met = False
        self._up_ended = threading.Event()
        self._thread: threading.Thread | None = None
        self.callback = keras.callbacks.LambdaCallback(on_epoch_end=self._epoch_end)

    def _epoch_end(self, epoch: int, logs: Any) -> None:
        if epoch == self.down:
            self.server.stop()
            self._thread = threading.Thread(target=self._restart, name="outage", daemon=True)
            self._thread.start()
        if epoch == self.up:
            self._up_ended.set()

    def _restart(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                sender = self.cb.sender
                seen = sender is not None and isinstance(sender.last_error, NetworkError)
                if seen and self._up_ended.is_set():
                    self.met = True
                    return
                time.sleep(0.01)
        finally:
            self.server.start()

    def join(self) -> None:
        """Wait for the restart (the server is up afterwards, even if the fit failed)."""
        if self._thread is not None:
            self._thread.join()
        self.server.start()  # a no-op when it runs
