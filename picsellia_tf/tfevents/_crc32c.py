"""CRC-32C (Castagnoli) checksums and the masked form TFRecord framing stores.

A C implementation is used when one is installed (``google-crc32c``, else ``crc32c``);
otherwise many records are checked at once with numpy, and a table-driven pure-Python loop
covers single short inputs. ``BACKEND`` names the implementation in use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from struct import Struct
from typing import TypeVar

import numpy as np

_POLY = 0x82F63B78  # CRC-32C, reflected
_MASK_DELTA = 0xA282EAD8
U32 = Struct("<I")
_CRC = TypeVar("_CRC", int, np.ndarray)


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c_py(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data``, table-driven pure Python (slow: for short inputs and reference)."""
    table = _TABLE
    c = 0xFFFFFFFF
    for x in bytes(data):
        c = table[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _load_c() -> tuple[str, Callable[[bytes], int] | None]:
    try:
        import google_crc32c

        if getattr(google_crc32c, "implementation", "c") == "c":
            return "google-crc32c", google_crc32c.value
    except ImportError:
        pass
    try:
        import crc32c as _crc32c_mod

        return "crc32c", _crc32c_mod.crc32c
    except ImportError:
        pass
    return "numpy", None


BACKEND, _c_crc = _load_c()


# --- numpy batch implementation -------------------------------------------------------------
# The CRC register update is linear over GF(2). Processing a message from a zero register is
# unchanged by leading zero bytes, so messages of different lengths can be right-aligned in
# one zero-padded matrix and processed column by column (two bytes per step). The standard
# initial value 0xFFFFFFFF then adds a term that depends only on the length: ``_init_term``.

_NP_TABLE = np.array(_TABLE, dtype=np.uint32)
_i16 = np.arange(65536, dtype=np.uint32)
_x16 = _NP_TABLE[_i16 & 0xFF] ^ (_i16 >> 8)
_NP_TABLE16 = _NP_TABLE[_x16 & 0xFF] ^ (_x16 >> 8)  # register step for two bytes at once
del _i16, _x16
_INIT_TERMS: dict[int, int] = {}
_BLOCK = 1024  # longer messages are cut into blocks of this many bytes
_BATCH_BYTES = 1 << 18  # padded bytes per numpy batch
_C_MAX_RECORDS = 8  # with a C library, fewer records than this are checked one by one


def _zero_bytes(reg: int, count: int) -> int:
    """The register after ``count`` zero bytes."""
    table = _TABLE
    for _ in range(count):
        reg = table[reg & 0xFF] ^ (reg >> 8)
    return reg


def _init_term(length: int) -> int:
    """What the initial value and the final XOR add to the CRC of a ``length``-byte message."""
    term = _INIT_TERMS.get(length)
    if term is None:
        reg, left = 0xFFFFFFFF, length
        while left >= 4 * _BLOCK:
            reg = _shift(reg, 4 * _BLOCK)
            left -= 4 * _BLOCK
        term = _zero_bytes(reg, left) ^ 0xFFFFFFFF
        if len(_INIT_TERMS) < 65536:
            _INIT_TERMS[length] = term
    return term


_SHIFT_TABLES: dict[int, list[list[int]]] = {}


def _shift(reg: int, count: int) -> int:
    """The register after ``count`` zero bytes, via four 256-entry tables per ``count``."""
    tables = _SHIFT_TABLES.get(count)
    if tables is None:
        regs = np.arange(256, dtype=np.uint32) << np.arange(0, 32, 8, dtype=np.uint32)[:, None]
        for _ in range(count):
            regs = _NP_TABLE[regs & 0xFF] ^ (regs >> 8)
        tables = regs.tolist()
        _SHIFT_TABLES[count] = tables
    t0, t1, t2, t3 = tables
    return t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24]


def _linear_many(arr: np.ndarray, ends: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Zero-register CRC of each ``arr[end - length:end]`` (all lengths <= ``_BLOCK``)."""
    width = int(lengths.max())
    width += width & 1
    idx = np.arange(-width, 0, dtype=np.int64)[:, None] + ends  # (width, n), column-major
    cols = np.take(arr, np.maximum(idx, 0))
    cols[idx < ends - lengths] = 0
    return _fold(cols)


def _linear_rows(rows: np.ndarray) -> list[int]:
    """Zero-register CRC of each row of a (n, width) uint8 matrix (width even)."""
    return _fold(np.ascontiguousarray(rows.T)).tolist()


def _fold(cols: np.ndarray) -> np.ndarray:
    """Zero-register CRC of each column of a (width, n) uint8 matrix (width even), two bytes
    per step."""
    words = cols[0::2].astype(np.uint32)
    words |= cols[1::2].astype(np.uint32) << 8
    reg = np.zeros(cols.shape[1], dtype=np.uint32)
    tmp = np.empty_like(reg)
    table16 = _NP_TABLE16
    for row in words:
        np.bitwise_xor(reg, row, out=tmp)
        tmp &= 0xFFFF
        reg >>= 16
        reg ^= table16[tmp]
    return reg


def _crc_long(arr: np.ndarray, start: int, length: int) -> int:
    """CRC-32C of one long message, as blocks processed side by side then combined."""
    head = length % _BLOCK
    reg = 0
    if head:
        first = np.zeros(_BLOCK, dtype=np.uint8)
        first[_BLOCK - head :] = arr[start : start + head]
        reg = _linear_rows(first[None, :])[0]
    group = 256 * _BLOCK
    for lo in range(start + head, start + length, group):
        hi = min(lo + group, start + length)
        for part in _linear_rows(arr[lo:hi].reshape(-1, _BLOCK)):
            reg = _shift(reg, _BLOCK) ^ part
    return reg ^ _init_term(length)


def _init_terms_small() -> np.ndarray:
    terms = []
    reg = 0xFFFFFFFF
    for _ in range(_BLOCK + 1):
        terms.append(reg ^ 0xFFFFFFFF)
        reg = _TABLE[reg & 0xFF] ^ (reg >> 8)
    return np.array(terms, dtype=np.uint32)


_INIT_SMALL = _init_terms_small()  # _init_term(n) for n <= _BLOCK


def _crc_many_numpy(
    buf: bytes, starts: Sequence[int] | np.ndarray, lengths: Sequence[int] | np.ndarray
) -> np.ndarray:
    """CRC-32C of each ``buf[start:start + length]``, all at once."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    st = np.asarray(starts, dtype=np.int64)
    ln = np.asarray(lengths, dtype=np.int64)
    out = np.zeros(len(st), dtype=np.uint32)
    lo = 0
    for hi in (64, 256, _BLOCK):
        sel = np.nonzero((ln > lo) & (ln <= hi))[0]
        lo = hi
        step = _BATCH_BYTES // hi  # bounds the temporary matrices
        for k in range(0, len(sel), step):
            part = sel[k : k + step]
            out[part] = _linear_many(arr, st[part] + ln[part], ln[part])
    small = ln <= _BLOCK
    out[small] ^= _INIT_SMALL[ln[small]]
    for i in np.nonzero(~small)[0].tolist():
        start, length = int(st[i]), int(ln[i])
        if _c_crc is not None:
            out[i] = _c_crc(buf[start : start + length])
        else:
            out[i] = _crc_long(arr, start, length)
    return out


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data``."""
    if _c_crc is not None:
        return _c_crc(data)
    if len(data) <= 64:
        return crc32c_py(data)
    return int(_crc_many_numpy(bytes(data), [0], [len(data)])[0])


def mask(crc: _CRC) -> _CRC:
    """TFRecord's masking of a CRC (rotate right 15 bits, add a constant): of an int, or
    elementwise of a uint32 array."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord framing stores after a length or a payload."""
    return mask(crc32c(data))


def bad_crcs(
    buf: bytes,
    starts: Sequence[int] | np.ndarray,
    lengths: Sequence[int] | np.ndarray,
    crc_offsets: Sequence[int] | np.ndarray,
) -> list[int]:
    """Indices ``i`` whose ``buf[starts[i]:starts[i] + lengths[i]]`` does not match the masked
    CRC stored (uint32, little-endian) at ``buf[crc_offsets[i]:]``."""
    if len(starts) == 0:
        return []
    # Per-record C calls cost more than one numpy batch once there are a few records.
    if _c_crc is not None and len(starts) < _C_MAX_RECORDS:
        c, unpack = _c_crc, U32.unpack_from
        return [
            i
            for i, (s, n, o) in enumerate(zip(starts, lengths, crc_offsets, strict=True))
            if mask(c(buf[s : s + n])) != unpack(buf, o)[0]
        ]
    arr = np.frombuffer(buf, dtype=np.uint8)
    crc = _crc_many_numpy(buf, starts, lengths)
    masked = mask(crc)
    stored = u32_at(arr, np.asarray(crc_offsets, dtype=np.int64))
    return np.nonzero(masked != stored)[0].tolist()


def u32_at(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The little-endian uint32 at each offset of a uint8 array."""
    out = arr[offsets].astype(np.uint32)
    for k in range(1, 4):
        out |= arr[offsets + k].astype(np.uint32) << np.uint32(8 * k)
    return out
