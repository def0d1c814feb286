"""Many same-layout records decoded at once with numpy, against the decoder's templates.

Records of one payload length are gathered as rows of a matrix. Where each row's step field
ends (``p``) is found per row; rows are grouped by ``p`` and template key, and a row is a hit
only when all its bytes after ``p`` equal the template's but the value's, exactly the test
the per-record fast path makes. Steps (varints of up to 9 bytes), wall times and values are
then read as whole columns.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

MIN_GROUP = 32  # fewer same-length records than this are left to the per-record path
_MAX_STEP_BYTES = 9  # longer step varints (negative steps) are left to the per-record path
_HASH_MUL = np.uint64(0x100000001B3)


class Template(NamedTuple):
    """What a record must hold after its step field to decode like an earlier one: ``size``
    bytes from ``p``; ``key`` then ``mid`` up to the value at ``p + vo``; ``suffix`` after
    it. Values are read with ``fmt`` (a ``struct`` format) then ``conv`` (None: floats)."""

    size: int
    key_len: int
    vo: int
    mid: bytes
    suffix: bytes
    unpack: Any
    conv: Any
    tag: str
    head: bytes  # key + mid
    fmt: str


class Hits(NamedTuple):
    """Records decoded by one template: their indices in the batch, in order, and columns."""

    records: np.ndarray
    tag: str
    steps: list[int]
    values: list[float]
    walls: list[float]


def _rows(arr: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """The payloads ``arr[start:start + n]`` as rows; a view when they are evenly spaced."""
    stride = n + 16
    first = int(starts[0])
    if starts.size == 1 or (
        int(starts[-1]) - first == stride * (starts.size - 1)
        and bool((np.diff(starts) == stride).all())
    ):
        # the last row ends at its payload's end, inside the buffer
        return as_strided(arr[first:], (starts.size, n), (stride, 1), writeable=False)
    return arr[starts[:, None] + np.arange(n)]


def _step_ends(rows: np.ndarray) -> np.ndarray:
    """Per row, where the step field ends (9 without one), or -1 if the fast layout fails:
    wall_time first (field 1, fixed64), then optionally the step (field 2, varint)."""
    n = rows.shape[1]
    more = rows[:, 10 : min(10 + _MAX_STEP_BYTES, n)] >= 128
    width = np.argmin(more, axis=1) + 1
    ends = np.where(rows[:, 9] == 16, 10 + width, 9)
    ends[(rows[:, 9] == 16) & more.all(axis=1)] = -1
    ends[rows[:, 0] != 9] = -1
    return ends


def _key_hashes(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row (ties only group rows; every byte is compared later)."""
    c, k = keys.shape
    padded = np.zeros((c, -(-k // 8) * 8), dtype=np.uint8)
    padded[:, :k] = keys
    words = padded.view(np.uint64)
    h = words[:, 0].copy()
    for j in range(1, words.shape[1]):
        h *= _HASH_MUL
        h ^= words[:, j]
    return h


def _columns(rows: np.ndarray, p: int, t: Template) -> tuple[list[int], list[float], list[float]]:
    steps = np.zeros(rows.shape[0], dtype=np.int64)
    for k in range(p - 10):
        steps |= (rows[:, 10 + k] & 0x7F).astype(np.int64) << (7 * k)
    walls = np.ascontiguousarray(rows[:, 1:9]).view("<f8").ravel()
    raw = np.ascontiguousarray(rows[:, p + t.vo : p + t.size - len(t.suffix)])
    values = raw.view(t.fmt).ravel()
    if t.conv is None:
        out = values.astype(np.float64).tolist()
    else:
        out = [t.conv(v) for v in values.tolist()]
    return steps.tolist(), out, walls.tolist()


def match(
    arr: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    index: np.ndarray,
    templates: dict[bytes, Template],
) -> list[Hits]:
    """Decode the records ``index`` (payloads ``arr[starts[i]:starts[i] + lengths[i]]``) that
    a template fits; the others are not in the answer."""
    found: list[Hits] = []
    sel_lengths = lengths[index]
    for n in np.unique(sel_lengths).tolist():
        group = index[sel_lengths == n]
        if group.size < MIN_GROUP or n <= 16:
            continue
        rows = _rows(arr, starts[group], n)
        ends = _step_ends(rows)
        for p in np.unique(ends).tolist():
            if p < 0 or p + 6 >= n:
                continue
            at = np.flatnonzero(ends == p)
            sub = rows if at.size == rows.shape[0] else rows[at]
            _match_at(sub, group[at], p, n, templates, found)
    return found


def _match_at(
    rows: np.ndarray,
    index: np.ndarray,
    p: int,
    n: int,
    templates: dict[bytes, Template],
    found: list[Hits],
) -> None:
    """Rows whose step field ends at ``p``, grouped by key, checked against its template."""
    key_lens = rows[:, p + 5].astype(np.int64) + 6
    for key_len in np.unique(key_lens).tolist():
        if p + key_len > n:
            continue
        at = np.flatnonzero(key_lens == key_len)
        sub = rows if at.size == rows.shape[0] else rows[at]
        _, first, which = np.unique(
            _key_hashes(sub[:, p : p + key_len]), return_index=True, return_inverse=True
        )
        for u, f in enumerate(first.tolist()):
            t = templates.get(sub[f, p : p + key_len].tobytes())
            if t is None or t.size != n - p:
                continue
            cand = np.flatnonzero(which == u)
            rr = sub[cand]
            ok = (rr[:, p : p + t.vo] == np.frombuffer(t.head, dtype=np.uint8)).all(axis=1)
            if t.suffix:
                tail = rr[:, n - len(t.suffix) :]
                ok &= (tail == np.frombuffer(t.suffix, dtype=np.uint8)).all(axis=1)
            if not ok.all():
                cand, rr = cand[ok], rr[ok]
            if cand.size:
                found.append(Hits(index[at[cand]], t.tag, *_columns(rr, p, t)))
