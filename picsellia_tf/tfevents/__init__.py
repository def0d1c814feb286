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

What is read: every file whose name contains ``tfevents`` under the directory, recursively;
each directory holding such files is a run, named by its path relative to the log directory
(``train``, ``validation``, ``a/b``); files directly in the log directory form the run ``""``.
Runs are read in name order, the files of a run in name order (``events.out.tfevents.<time>``
sorts by time), records in file order. A point's tag is ``<run>/<tag>`` (the bare tag in the
run ``""``). Scalars are TF1 ``simple_value`` summaries and TF2 tensor summaries of the
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
