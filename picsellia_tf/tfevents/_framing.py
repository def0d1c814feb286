"""TFRecord framing: ``uint64 length | uint32 masked CRC of length | data | uint32 masked CRC
of data``, all little-endian, split out of a buffer and checked in batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct

import numpy as np

from picsellia_tf.tfevents._crc32c import bad_crcs, masked_crc32c

HEADER = 12
FOOTER = 4
_U64 = Struct("<Q")
_U32 = Struct("<I")


def encode_record(data: bytes) -> bytes:
    """One framed record holding ``data``."""
    head = _U64.pack(len(data))
    return head + _U32.pack(masked_crc32c(head)) + data + _U32.pack(masked_crc32c(data))


@dataclass
class Frames:
    """What :func:`split` found in a buffer."""

    starts: list[int] = field(default_factory=list)  # payload starts of the good records
    lengths: list[int] = field(default_factory=list)
    bad_data: list[int] = field(default_factory=list)  # record offsets with a bad data CRC
    consumed: int = 0  # bytes of whole records (good or skipped), from the buffer's start
    need: int = HEADER  # bytes the next record needs from ``consumed`` on
    bad_length_at: int = -1  # offset of a record whose length CRC is wrong (stop there)


def split(buf: bytes) -> Frames:
    """Split the whole records at the start of ``buf`` and check their CRCs.

    A record cut short by the end of ``buf`` is left for later (``need`` says how many bytes it
    takes). A wrong length CRC stops the split, as nothing after it can be trusted."""
    out = Frames()
    starts, lengths = out.starts, out.lengths
    unpack = _U64.unpack_from
    pos, size = 0, len(buf)
    while pos + HEADER <= size:
        n = unpack(buf, pos)[0]
        end = pos + HEADER + n + FOOTER
        if end > size:
            break
        starts.append(pos + HEADER)
        lengths.append(n)
        pos = end
    if starts:
        heads = np.array(starts, dtype=np.int64) - HEADER
        bad = bad_crcs(buf, heads, np.full(len(heads), 8), heads + 8)
        if bad:
            first = bad[0]
            out.bad_length_at = int(heads[first])
            del starts[first:], lengths[first:]
            pos = out.bad_length_at
    out.consumed = pos
    if out.bad_length_at < 0 and pos + HEADER <= size:
        # A record cut short: its length is only worth waiting for if its CRC holds.
        if bad_crcs(buf, [pos], [8], [pos + 8]):
            out.bad_length_at = pos
        else:
            out.need = HEADER + unpack(buf, pos)[0] + FOOTER
    if starts:
        st = np.array(starts, dtype=np.int64)
        bad = bad_crcs(buf, st, lengths, st + np.array(lengths, dtype=np.int64))
        if bad:
            out.bad_data = [starts[i] - HEADER for i in bad]
            for i in reversed(bad):
                del starts[i], lengths[i]
    return out
