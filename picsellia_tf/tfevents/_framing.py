"""TFRecord framing: ``uint64 length | uint32 masked CRC of length | data | uint32 masked CRC
of data``, all little-endian, split out of a buffer and checked in batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct

import numpy as np

from picsellia_tf.tfevents._crc32c import U32, bad_crcs, masked_crc32c, u32_at

HEADER = 12
FOOTER = 4
_U64 = Struct("<Q")
_RUN_MIN = 16  # same-length records found in a row before they are looked for in blocks
_RUN_PAUSE = 64  # records walked one by one after a block search that found too few


def encode_record(data: bytes) -> bytes:
    """One framed record holding ``data``."""
    head = _U64.pack(len(data))
    return head + U32.pack(masked_crc32c(head)) + data + U32.pack(masked_crc32c(data))


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass
class Frames:
    """What :func:`split` found in a buffer."""

    starts: np.ndarray = field(default_factory=_empty)  # payload starts of the good records
    lengths: np.ndarray = field(default_factory=_empty)
    bad_data: list[int] = field(default_factory=list)  # record offsets with a bad data CRC
    consumed: int = 0  # bytes of whole records (good or skipped), from the buffer's start
    need: int = HEADER  # bytes the next record needs from ``consumed`` on
    bad_length_at: int = -1  # offset of a record whose length CRC is wrong (stop there)


def _same_length_run(arr: np.ndarray, pos: int, n: int, fit: int) -> int:
    """How many records of payload length ``n`` follow each other from ``pos`` (at most
    ``fit``, the number of such records the buffer can hold from there)."""
    stride = n + HEADER + FOOTER
    want = np.frombuffer(_U64.pack(n), dtype=np.uint8)
    count, probe = 0, 256
    while count < fit:
        m = min(probe, fit - count)
        lo = pos + count * stride
        heads = arr[lo : lo + m * stride].reshape(m, stride)[:, :8]
        other = np.flatnonzero((heads != want).any(axis=1))
        if other.size:
            return count + int(other[0])
        count += m
        probe *= 4
    return count


def _walk(buf: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """Header offsets and payload lengths of the whole records at the start of ``buf``, and
    where the first incomplete one starts. Runs of same-length records are found in blocks."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    heads: list[int] = []
    lengths: list[int] = []
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    unpack = _U64.unpack_from
    pos, size, prev, same, pause = 0, len(buf), -1, 0, 0
    while pos + HEADER <= size:
        n = unpack(buf, pos)[0]
        stride = n + HEADER + FOOTER
        if pos + stride > size:
            break
        same = same + 1 if n == prev else 0
        prev = n
        if same >= _RUN_MIN and pause <= 0:
            run = _same_length_run(arr, pos, n, (size - pos) // stride)
            if run >= _RUN_MIN:
                blocks.append((np.array(heads, dtype=np.int64), np.array(lengths, dtype=np.int64)))
                heads, lengths = [], []
                offsets = pos + stride * np.arange(run, dtype=np.int64)
                blocks.append((offsets, np.full(run, n, dtype=np.int64)))
                pos += run * stride
                same = 0
                continue
            pause = _RUN_PAUSE
        pause -= 1
        heads.append(pos)
        lengths.append(n)
        pos += stride
    if not blocks:
        return np.array(heads, dtype=np.int64), np.array(lengths, dtype=np.int64), pos
    blocks.append((np.array(heads, dtype=np.int64), np.array(lengths, dtype=np.int64)))
    return (
        np.concatenate([b[0] for b in blocks]),
        np.concatenate([b[1] for b in blocks]),
        pos,
    )


def _bad_lengths(buf: bytes, heads: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the records whose stored length CRC is wrong. A length's CRC depends on
    the length alone: it is computed once per distinct length and compared with every one."""
    values, which = np.unique(lengths, return_inverse=True)
    expected = np.array([masked_crc32c(_U64.pack(n)) for n in values.tolist()], dtype=np.uint32)[
        which
    ]
    return np.flatnonzero(u32_at(np.frombuffer(buf, dtype=np.uint8), heads + 8) != expected)


def split(buf: bytes) -> Frames:
    """Split the whole records at the start of ``buf`` and check their CRCs.

    A record cut short by the end of ``buf`` is left for later (``need`` says how many bytes it
    takes). A wrong length CRC stops the split, as nothing after it can be trusted."""
    out = Frames()
    heads, lengths, pos = _walk(buf)
    if heads.size:
        bad = _bad_lengths(buf, heads, lengths)
        if bad.size:
            first = int(bad[0])
            out.bad_length_at = pos = int(heads[first])
            heads, lengths = heads[:first], lengths[:first]
    out.consumed = pos
    if out.bad_length_at < 0 and pos + HEADER <= len(buf):
        # A record cut short: its length is only worth waiting for if its CRC holds.
        if bad_crcs(buf, [pos], [8], [pos + 8]):
            out.bad_length_at = pos
        else:
            out.need = HEADER + _U64.unpack_from(buf, pos)[0] + FOOTER
    starts = heads + HEADER
    if starts.size:
        bad_data = bad_crcs(buf, starts, lengths, starts + lengths)
        if bad_data:
            out.bad_data = (starts[bad_data] - HEADER).tolist()
            keep = np.ones(starts.size, dtype=bool)
            keep[bad_data] = False
            starts, lengths = starts[keep], lengths[keep]
    out.starts, out.lengths = starts, lengths
    return out
