"""TensorBoard event files -> scalar series, without TensorFlow.

Whole logs, as the ``post_logs`` LOGS mapping (what ``picsellia-tf push-logs`` sends)::

    logs = read_logs("logs/fit")        # {"train/epoch_loss": {"step": [...], "value": [...],
                                        #   "wall_time": [...]}, "validation/epoch_loss": ...}

Streamed, one :class:`ScalarEvent` ``(run, tag, step, value, wall_time)`` at a time, memory
independent of the file size::

    for ev in iter_scalars("logs/fit", runs="train", tags="epoch_*"): ...

While training writes them (blocking generator)::

    for ev in follow("logs/fit", poll_interval=1.0, stop=stop_event): ...

Non-blocking, for a callback or a sender thread that polls on its own schedule::

    tailer = LogdirTailer("logs/fit", tags=["epoch_*"])
    ...
    new = tailer.poll_logs()    # LOGS of the points written since the last poll ({} if none)
    events = tailer.poll()      # or the same as a list of ScalarEvent, in file order

``poll``/``poll_logs`` read what is on disk and return at once: a record still being written
is read on a later poll, new event files and new run directories are picked up on the next
poll, a log directory that does not exist yet reads as empty. One tailer per thread.
``EventFileTailer`` does the same for one file.

What is read: every file whose name contains ``tfevents`` under the directory, recursively,
symbolic links to folders and files followed (as TensorBoard does); a link back to a folder
being read already (a cycle) is not followed, with a :class:`TFEventsWarning`. Each directory
holding such files is a run, named by its path relative to the log directory, through the
links' names (``train``, ``validation``, ``a/b``); files directly in the log directory form the
run ``""``. Runs are read in name order, the files of a run in name order
(``events.out.tfevents.<time>`` sorts by time), records in file order.

Series names: a point's tag is ``<run>/<tag>`` (the bare tag in the run ``""``), the tag's
bytes decoded as UTF-8 (invalid bytes as U+FFFD). Every series (run, tag as written) keeps a
key of its own: when a second series would get a key already given out (a root tag
``train/loss`` and a run ``train``'s tag ``loss``; two tags of invalid UTF-8 that decode
alike), the second one read is named ``<key> (2)`` (``(3)``... if that is taken too), with a
:class:`TFEventsWarning` naming both. The root run is read first, so its tags keep their
names.

Restarts: as in TensorBoard, a run's first ``SessionLog.START`` event is its start and each
later one a restart (a TF1 session resumed from a checkpoint): the run's points at or after
the restart's step read before it are dropped, in every tag of the run (files of version
``brain.Event:2``, what every writer of the last years writes; older files are not purged).
:func:`read_logs` and one :meth:`LogdirTailer.poll_logs` apply this to everything they return;
the streams (:func:`iter_scalars`, :func:`follow`, ``poll``) cannot take back points already
handed out, so they may yield old points the restart supersedes, followed by the new ones at
the same steps (what a receiver keyed by (tag, step), as ``post_logs`` is, ends up with is
TensorBoard's reading, except old points past the restarted run's last step). Scalars are TF1 ``simple_value`` summaries and TF2 tensor summaries of the
``scalars`` plugin (rank 0, any integer, float or bool dtype); the plugin comes from the
first summary of a tag that carries metadata, remembered for the whole run. Images,
histograms, text, graphs and other events are skipped.

Filters: ``runs`` and ``tags`` take one string or a list of strings, each an exact name or a
case-sensitive shell pattern (``fnmatch``: ``*``, ``?``, ``[abc]``; ``*`` also matches ``/``).
A run pattern matches the run name (``"."`` or ``""`` for the root); a tag pattern matches
either the full tag (``train/epoch_loss``) or the tag as written (``epoch_loss``).

Damage: a record cut short at the end of a file (still being written) is not an error. A
record whose data CRC is wrong, or whose payload is not a valid event, is skipped with a
:class:`TFEventsWarning` naming the file and byte offset; a wrong length CRC also ends the
reading of that file (nothing after it can be located). With ``strict=True`` these raise
:class:`TFEventsError` (a ``PicselliaError`` and ``ValueError``) instead.
"""

from picsellia_tf.tfevents._crc32c import BACKEND as CRC32C_BACKEND
from picsellia_tf.tfevents._types import ScalarEvent, TFEventsError, TFEventsWarning
from picsellia_tf.tfevents.reader import (
    LOGS,
    EventFileTailer,
    LogdirTailer,
    follow,
    iter_scalars,
    read_logs,
)

__all__ = [
    "CRC32C_BACKEND",
    "LOGS",
    "EventFileTailer",
    "LogdirTailer",
    "ScalarEvent",
    "TFEventsError",
    "TFEventsWarning",
    "follow",
    "iter_scalars",
    "read_logs",
]
