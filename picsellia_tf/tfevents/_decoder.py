"""Scalars out of event payloads, for one run.

The general path walks the protobuf fields (``_proto``). Event files repeat the same layout
record after record (same tag, same metadata, only wall_time, step and value change), so after
decoding a record the general way the decoder keeps a *template*: the bytes after the step,
with a hole where the value sits. A later record whose bytes equal the template's everywhere
but the hole decodes to the same tag and structure, so only the value is unpacked. Every
non-value byte is compared, so a template can never give a different answer than the general
path; it only saves time. Large batches are first matched against the templates as a whole
(``_blocks``); the records no template fits go through the per-record loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from itertools import repeat

import numpy as np

from picsellia_tf.tfevents import _blocks, _proto
from picsellia_tf.tfevents._blocks import Hits, Template
from picsellia_tf.tfevents._proto import MalformedEvent
from picsellia_tf.tfevents._types import ScalarEvent, TFEventsWarning

SCALARS_PLUGIN = b"scalars"
_MAX_TEMPLATES = 4096

Columns = dict[str, tuple[list[int], list[float], list[float]]]
Report = Callable[[int, str], None]  # (index of the record in the batch, what is wrong)
TagFilter = Callable[[str, str], bool]  # (LOGS tag, tag as written) -> keep?


def _describe(run: str, raw: bytes) -> str:
    try:
        tag = repr(raw.decode("utf-8"))
    except UnicodeDecodeError:
        tag = f"{raw!r} (not valid UTF-8)"
    return f"run {run!r} tag {tag}" if run else f"tag {tag} of the log directory's root"


class SeriesKeys:
    """The LOGS keys given out so far, one per series (run, tag as written).

    A series keeps its natural key (``<run>/<tag>``, the bare tag in the root) unless another
    series already holds it: then it is named ``<key> (2)`` (or the next free number), with a
    :class:`TFEventsWarning`. This keeps apart a root tag ``train/loss`` and a run ``train``'s
    tag ``loss``, and two tags whose bytes are not UTF-8 but decode alike."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[str, bytes]] = {}

    def claim(self, key: str, run: str, raw: bytes) -> str:
        """The key of the series ``(run, raw)`` whose natural key is ``key``."""
        owner = (run, raw)
        holder = self._owners.setdefault(key, owner)
        if holder == owner:
            return key
        n = 2
        while self._owners.setdefault(f"{key} ({n})", owner) != owner:
            n += 1
        named = f"{key} ({n})"
        warnings.warn(
            f"{_describe(run, raw)} would share the series key {key!r} with "
            f"{_describe(*holder)}; it is read as {named!r}",
            TFEventsWarning,
            stacklevel=2,
        )
        return named


class RunDecoder:
    """Decodes the event payloads of one run, remembering each tag's plugin across its files.

    As in TensorBoard, a run's first ``SessionLog.START`` event is its start and each later one
    a restart: the run's points at or after the restart's step that were read before it are
    dropped. Only in files of version 2 or later (``brain.Event:2``, what every TensorFlow,
    Keras and tensorboardX writer writes)."""

    def __init__(
        self, run: str, tag_filter: TagFilter | None = None, keys: SeriesKeys | None = None
    ):
        self.run = run
        self._prefix = run + "/" if run else ""
        self._filter = tag_filter
        self._keys = keys if keys is not None else SeriesKeys()
        self._plugins: dict[bytes, bytes] = {}
        self._tags: dict[bytes, str | None] = {}  # raw tag -> LOGS tag, None if filtered out
        self._own: set[str] = set()  # the LOGS tags of this run
        self._templates: dict[bytes, Template] = {}
        self._file_version = -1.0
        self._started = False  # a first SessionLog.START was read
        self._restart: int | None = None  # step of a restart met by _general, not handled yet
        self._batch_restarts: list[tuple[int, int]] = []  # (record index, step)
        self._out: tuple[Columns | None, list[ScalarEvent] | None] = (None, None)

    def decode(
        self,
        buf: bytes,
        starts: np.ndarray,
        lengths: np.ndarray,
        report: Report,
        columns: Columns | None = None,
        events: list[ScalarEvent] | None = None,
    ) -> None:
        """Decode the payloads ``buf[start:start + length]``; add scalars to ``columns`` (by
        LOGS tag) or, in record order, to ``events``. Malformed payloads go to ``report``."""
        st, ln = starts.tolist(), lengths.tolist()
        self._out = (columns, events)
        self._batch_restarts = []
        if len(st) < _blocks.MIN_GROUP:
            self._each(buf, st, ln, range(len(st)), report, columns, events)
            return
        arr = np.frombuffer(buf, dtype=np.uint8)
        hits: list[Hits] = []
        rest = np.arange(len(st))
        points: list[ScalarEvent] = []
        owners: list[int] = []
        while rest.size:
            if self._templates:
                found = _blocks.match(arr, starts, lengths, rest, self._templates)
                if found:
                    hits += found
                    matched = np.concatenate([h.records for h in found])
                    rest = rest[~np.isin(rest, matched, assume_unique=True)]
            todo = rest.tolist()
            done = self._each(buf, st, ln, todo, report, None, points, owners, rematch=True)
            rest = rest[done:]
        for at, step in self._batch_restarts:
            hits, points, owners = _purged(hits, points, owners, at, step)
        _merge(self.run, hits, points, owners, columns, events)

    def _each(
        self,
        buf: bytes,
        starts: list[int],
        lengths: list[int],
        index: Sequence[int],
        report: Report,
        columns: Columns | None,
        events: list[ScalarEvent] | None,
        owners: list[int] | None = None,
        rematch: bool = False,
    ) -> int:
        """Decode the records ``index`` one by one (``owners`` gets the record index of each
        event added). With ``rematch``, stop once new templates may fit many of the records
        left; answer how many were decoded."""
        get = self._templates.get
        unpack_double = _proto.DOUBLE.unpack_from
        run = self.run
        templates = len(self._templates)
        for k, i in enumerate(index):
            if (
                rematch
                and len(self._templates) != templates
                and 16 * k >= len(index) - k >= _blocks.MIN_GROUP
            ):
                return k
            s, n = starts[i], lengths[i]
            d = buf[s : s + n]
            try:
                p = -1
                if n > 16 and d[0] == 9:
                    # Fast path: wall_time first, then an optional step, then the rest.
                    if d[9] == 16:
                        x = d[10]
                        if x < 128:
                            step = x
                            p = 11
                        else:
                            y = d[11]
                            if y < 128:
                                step = (x & 127) | (y << 7)
                                p = 12
                            else:
                                z = d[12]
                                if z < 128:
                                    step = (x & 127) | ((y & 127) << 7) | (z << 14)
                                    p = 13
                                else:
                                    step, p = _proto.read_varint(d, 10, n)
                                if step >= 1 << 63:
                                    step -= 1 << 64
                    else:
                        step = 0
                        p = 9
                    if p + 6 < n:
                        t = get(d[p : p + 6 + d[p + 5]])
                        if t is not None:
                            size, mid_at, vo, mid, suffix, unpack, conv, tag, _, _ = t
                            if (
                                n - p == size
                                and d.endswith(suffix)
                                and d.startswith(mid, p + mid_at)
                            ):
                                value = unpack(d, p + vo)[0]
                                if conv is not None:
                                    value = conv(value)
                                wall = unpack_double(d, 1)[0]
                                if columns is not None:
                                    col = columns.get(tag)
                                    if col is None:
                                        col = columns[tag] = ([], [], [])
                                    col[0].append(step)
                                    col[1].append(value)
                                    col[2].append(wall)
                                else:
                                    assert events is not None
                                    events.append(ScalarEvent(run, tag, step, value, wall))
                                    if owners is not None:
                                        owners.append(i)
                                continue
                added = self._general(d, p, columns, events)
                if owners is not None:
                    owners.extend(repeat(i, added))
                if self._restart is not None:
                    self._purge(self._restart, None if owners is None else i)
            except (MalformedEvent, IndexError) as exc:
                report(
                    i,
                    f"malformed event ({exc})"
                    if isinstance(exc, MalformedEvent)
                    else "malformed event (truncated field)",
                )
        return len(index)

    def _general(
        self, d: bytes, p: int, columns: Columns | None, events: list[ScalarEvent] | None
    ) -> int:
        """Decode one payload field by field; answer how many scalars it held."""
        ev = _proto.parse_event(d)
        if ev.file_version is not None:
            self._file_version = _proto.parse_file_version(ev.file_version)
        if ev.session_start and self._file_version >= 2:
            if self._started:
                self._restart = ev.step
            self._started = True
        if not ev.summaries:
            return 0
        found: list[tuple[str, _proto.Scalar]] = []
        nvalues = 0
        for span in ev.summaries:
            for vspan in _proto.summary_values(d, span):
                nvalues += 1
                item = self._scalar(d, vspan)
                if item is not None:
                    found.append(item)
        for tag, sc in found:
            if columns is not None:
                col = columns.get(tag)
                if col is None:
                    col = columns[tag] = ([], [], [])
                col[0].append(ev.step)
                col[1].append(sc.value)
                col[2].append(ev.wall_time)
            else:
                assert events is not None
                events.append(ScalarEvent(self.run, tag, ev.step, sc.value, ev.wall_time))
        if nvalues == 1 and len(found) == 1 and p > 0 and ev.last_header_field < p:
            self._remember(d, p, found[0])
        return len(found)

    def _scalar(self, d: bytes, vspan: _proto.Span) -> tuple[str, _proto.Scalar] | None:
        v = _proto.parse_value(d, vspan)
        plugins = self._plugins
        if v.metadata is not None and v.tag not in plugins:
            plugins[v.tag] = _proto.plugin_name(d, v.metadata)
        if v.simple_value >= 0:
            sc = _proto.Scalar(
                float(_proto.FLOAT32.unpack_from(d, v.simple_value)[0]),
                v.simple_value,
                _proto.FLOAT32,
            )
        elif v.tensor is not None and plugins.get(v.tag) == SCALARS_PLUGIN and not v.other_kind:
            found = _proto.tensor_scalar(d, v.tensor)
            if found is None:
                return None
            sc = found
        else:
            return None
        tag = self._tag(v.tag)
        return None if tag is None else (tag, sc)

    def _tag(self, raw: bytes) -> str | None:
        try:
            return self._tags[raw]
        except KeyError:
            pass
        bare = raw.decode("utf-8", errors="replace")
        full = self._prefix + bare
        keep = self._filter is None or self._filter(full, bare)
        key = self._keys.claim(full, self.run, raw) if keep else None
        self._tags[raw] = key
        if key is not None:
            self._own.add(key)
        return key

    def _purge(self, step: int, at: int | None) -> None:
        """A restart at ``step``: drop this run's points read so far at or after it (those of
        the batch being decoded before record ``at`` too, when not yet in the output)."""
        self._restart = None
        columns, events = self._out
        if columns is not None:
            for tag in self._own:
                col = columns.get(tag)
                if col is None:
                    continue
                keep = [k for k, s in enumerate(col[0]) if s < step]
                if len(keep) < len(col[0]):
                    steps, values, walls = col
                    steps[:] = [steps[k] for k in keep]
                    values[:] = [values[k] for k in keep]
                    walls[:] = [walls[k] for k in keep]
        if events is not None:
            run = self.run
            events[:] = [e for e in events if e.run != run or e.step < step]
        if at is not None:
            self._batch_restarts.append((at, step))

    def _remember(self, d: bytes, p: int, item: tuple[str, _proto.Scalar]) -> None:
        tag, sc = item
        if sc.pos < 0 or sc.fmt is None or len(self._templates) >= _MAX_TEMPLATES:
            return
        key_len = 6 + d[p + 5]
        vo = sc.pos - p
        if vo < key_len:  # the key would contain the value: useless as a key
            return
        ve = vo + sc.fmt.size
        conv = sc.conv
        if conv is None and sc.fmt.format not in ("<f", "<d"):
            conv = float
        self._templates[d[p : p + key_len]] = Template(
            len(d) - p,
            key_len,
            vo,
            d[p + key_len : p + vo],
            d[p + ve :],
            sc.fmt.unpack_from,
            conv,
            tag,
            d[p : p + vo],
            sc.fmt.format,
        )


def _purged(
    hits: list[Hits], points: list[ScalarEvent], owners: list[int], at: int, step: int
) -> tuple[list[Hits], list[ScalarEvent], list[int]]:
    """The batch's points without those of records before ``at`` whose step is >= ``step``."""
    kept: list[Hits] = []
    for h in hits:
        gone = (h.records < at) & (np.asarray(h.steps, dtype=np.int64) >= step)
        if gone.any():
            keep = np.flatnonzero(~gone).tolist()
            h = Hits(
                h.records[~gone],
                h.tag,
                [h.steps[k] for k in keep],
                [h.values[k] for k in keep],
                [h.walls[k] for k in keep],
            )
        if h.records.size:
            kept.append(h)
    pairs = [(e, i) for e, i in zip(points, owners, strict=True) if i >= at or e.step < step]
    return kept, [e for e, _ in pairs], [i for _, i in pairs]


def _merge(
    run: str,
    hits: list[Hits],
    points: list[ScalarEvent],
    owners: list[int],
    columns: Columns | None,
    events: list[ScalarEvent] | None,
) -> None:
    """Add the block hits and the per-record ``points`` (record index in ``owners``) to
    ``columns`` or ``events``, in record order; a record's own points keep their order."""
    if columns is None:
        assert events is not None
        if not hits:
            events.extend(points)
            return
        index = [np.asarray(owners, dtype=np.int64), *(h.records for h in hits)]
        merged = list(points)
        for h in hits:
            merged += map(ScalarEvent, repeat(run), repeat(h.tag), h.steps, h.values, h.walls)
        order = np.argsort(np.concatenate(index), kind="stable").tolist()
        events.extend([merged[k] for k in order])
        return
    parts: dict[
        str, list[tuple[Sequence[int] | np.ndarray, list[int], list[float], list[float]]]
    ] = {}
    if points:
        mine: dict[str, tuple[list[int], list[int], list[float], list[float]]] = {}
        for ev, i in zip(points, owners, strict=True):
            part = mine.get(ev.tag)
            if part is None:
                part = mine[ev.tag] = ([], [], [], [])
                parts[ev.tag] = [part]
            part[0].append(i)
            part[1].append(ev.step)
            part[2].append(ev.value)
            part[3].append(ev.wall_time)
    for h in hits:
        parts.setdefault(h.tag, []).append((h.records, h.steps, h.values, h.walls))
    for tag, found in parts.items():
        col = columns.get(tag)
        if col is None:
            col = columns[tag] = ([], [], [])
        if len(found) == 1:
            _, steps, values, walls = found[0]
        else:
            where = np.concatenate([np.asarray(f[0], dtype=np.int64) for f in found])
            order = np.argsort(where, kind="stable").tolist()
            steps = [x for f in found for x in f[1]]
            values = [x for f in found for x in f[2]]
            walls = [x for f in found for x in f[3]]
            steps = [steps[k] for k in order]
            values = [values[k] for k in order]
            walls = [walls[k] for k in order]
        col[0].extend(steps)
        col[1].extend(values)
        col[2].extend(walls)
