"""Reading the few protobuf messages of an event file straight from the wire format.

Only what scalar extraction needs: ``Event`` (wall_time 1, step 2, file_version 3, summary 5,
session_log 7 -> status 1), ``Summary``
(value 1), ``Summary.Value`` (tag 1, simple_value 2, tensor 8, metadata 9), ``SummaryMetadata``
(plugin_data 1 -> plugin_name 1) and ``TensorProto`` (dtype, shape, the typed value fields and
tensor_content). Everything else is skipped by wire type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from struct import Struct
from typing import Any

Span = tuple[int, int]


class MalformedEvent(ValueError):
    """A record's payload is not a well-formed protobuf message."""


def read_varint(d: bytes, p: int, end: int) -> tuple[int, int]:
    """The varint at ``d[p:]`` and the position after it."""
    result = shift = 0
    while True:
        if p >= end or shift > 63:
            raise MalformedEvent("truncated or overlong varint")
        b = d[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, p
        shift += 7


def _to_int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def iter_fields(d: bytes, start: int, end: int) -> Iterator[tuple[int, int, Any, int]]:
    """Yield ``(field_number, wire_type, value, position)`` for each field of a message.

    ``value`` is an int for varints, the (start, end) span for fixed64/fixed32/length-delimited
    fields; ``position`` is where the value starts."""
    p = start
    while p < end:
        key, p = read_varint(d, p, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise MalformedEvent("field number 0")
        if wire == 0:
            value, q = read_varint(d, p, end)
            yield field, wire, value, p
            p = q
        elif wire == 1:
            if p + 8 > end:
                raise MalformedEvent("truncated fixed64")
            yield field, wire, (p, p + 8), p
            p += 8
        elif wire == 2:
            size, q = read_varint(d, p, end)
            if q + size > end:
                raise MalformedEvent("length-delimited field runs past its message")
            yield field, wire, (q, q + size), q
            p = q + size
        elif wire == 5:
            if p + 4 > end:
                raise MalformedEvent("truncated fixed32")
            yield field, wire, (p, p + 4), p
            p += 4
        else:
            raise MalformedEvent(f"unsupported wire type {wire}")


DOUBLE = Struct("<d")
FLOAT32 = Struct("<f")


@dataclass
class EventParts:
    """The parts of an ``Event`` the reader uses."""

    wall_time: float = 0.0
    step: int = 0
    summaries: list[Span] | None = None
    last_header_field: int = -1  # where the last wall_time/step field starts
    file_version: bytes | None = None
    session_start: bool = False  # a SessionLog with status START (a restart)


def parse_event(d: bytes) -> EventParts:
    """Split an ``Event`` payload into wall_time, step and its ``summary`` spans."""
    ev = EventParts()
    for field, wire, value, pos in iter_fields(d, 0, len(d)):
        if field == 1 and wire == 1:
            ev.wall_time = DOUBLE.unpack_from(d, value[0])[0]
            ev.last_header_field = pos
        elif field == 2 and wire == 0:
            ev.step = _to_int64(value)
            ev.last_header_field = pos
        elif field == 5 and wire == 2:
            if ev.summaries is None:
                ev.summaries = []
            ev.summaries.append(value)
        elif field == 3 and wire == 2:
            ev.file_version = d[value[0] : value[1]]
        elif field == 7 and wire == 2:
            ev.session_start = _session_status(d, value) == SESSION_START
    return ev


SESSION_START = 1  # SessionLog.SessionStatus.START


def _session_status(d: bytes, span: Span) -> int:
    """The ``status`` of a ``SessionLog`` (0, STATUS_UNSPECIFIED, when absent)."""
    status = 0
    for field, wire, value, _ in iter_fields(d, span[0], span[1]):
        if field == 1 and wire == 0:
            status = value
    return status


def parse_file_version(raw: bytes) -> float:
    """The number of a ``brain.Event:<n>`` file version (-1 when it is not one)."""
    try:
        return float(raw.decode("utf-8").split("brain.Event:")[-1])
    except (UnicodeDecodeError, ValueError):
        return -1.0


def summary_values(d: bytes, span: Span) -> list[Span]:
    """The spans of a ``Summary``'s ``value`` entries."""
    return [v for f, w, v, _ in iter_fields(d, span[0], span[1]) if f == 1 and w == 2]


@dataclass
class ValueParts:
    """The parts of a ``Summary.Value`` the reader uses."""

    tag: bytes = b""
    simple_value: int = -1  # position of the float, or -1
    tensor: Span | None = None
    metadata: Span | None = None
    other_kind: bool = False  # image, histo, audio...


def parse_value(d: bytes, span: Span) -> ValueParts:
    """Split a ``Summary.Value``."""
    v = ValueParts()
    for field, wire, value, _ in iter_fields(d, span[0], span[1]):
        if field == 1 and wire == 2:
            v.tag = d[value[0] : value[1]]
        elif field == 2 and wire == 5:
            v.simple_value = value[0]
        elif field == 8 and wire == 2:
            v.tensor = value
        elif field == 9 and wire == 2:
            v.metadata = value
        elif field in (3, 4, 5, 6):
            v.other_kind = True
    return v


def plugin_name(d: bytes, span: Span) -> bytes:
    """``SummaryMetadata.plugin_data.plugin_name`` (empty if absent)."""
    name = b""
    for field, wire, value, _ in iter_fields(d, span[0], span[1]):
        if field == 1 and wire == 2:
            for f2, w2, v2, _ in iter_fields(d, value[0], value[1]):
                if f2 == 1 and w2 == 2:
                    name = d[v2[0] : v2[1]]
    return name


def _bfloat16(bits: int) -> float:
    return FLOAT32.unpack(((bits & 0xFFFF) << 16).to_bytes(4, "little"))[0]


_HALF = Struct("<e")


def _half(bits: int) -> float:
    return _HALF.unpack((bits & 0xFFFF).to_bytes(2, "little"))[0]


Conv = Callable[[int], float] | None


@dataclass(frozen=True)
class _DType:
    content: Struct  # one element in tensor_content
    field: int  # the typed repeated field
    wire: int  # its element wire type when not packed (0 varint, 1 fixed64, 5 fixed32)
    conv: Conv  # from what ``content``/the field gives to a float (None: float() is enough)
    signed: int = 0  # 32 or 64: varint values are two's complement of that width


_H = Struct("<H")
# DataType enum -> how its value is stored. Complex, string, quantized types are not scalars.
DTYPES: dict[int, _DType] = {
    1: _DType(Struct("<f"), 5, 5, None),  # DT_FLOAT
    2: _DType(Struct("<d"), 6, 1, None),  # DT_DOUBLE
    3: _DType(Struct("<i"), 7, 0, None, 32),  # DT_INT32
    4: _DType(Struct("<B"), 7, 0, None, 32),  # DT_UINT8
    5: _DType(Struct("<h"), 7, 0, None, 32),  # DT_INT16
    6: _DType(Struct("<b"), 7, 0, None, 32),  # DT_INT8
    9: _DType(Struct("<q"), 10, 0, None, 64),  # DT_INT64
    10: _DType(Struct("<?"), 11, 0, None),  # DT_BOOL
    14: _DType(_H, 13, 0, _bfloat16),  # DT_BFLOAT16 (half_val holds the bits)
    17: _DType(Struct("<H"), 7, 0, None, 32),  # DT_UINT16
    19: _DType(_H, 13, 0, _half),  # DT_HALF (half_val holds the bits)
    22: _DType(Struct("<I"), 16, 0, None),  # DT_UINT32
    23: _DType(Struct("<Q"), 17, 0, None),  # DT_UINT64
}
_FIXED = {5: FLOAT32, 1: DOUBLE}


@dataclass(frozen=True)
class Scalar:
    """A decoded scalar, and where its bytes are when they have a fixed width."""

    value: float
    pos: int = -1  # -1: not at a fixed-width position (varint-encoded)
    fmt: Struct | None = None
    conv: Conv = None


def _shape_is_scalar(d: bytes, span: Span) -> bool:
    for field, _, _, _ in iter_fields(d, span[0], span[1]):
        if field in (2, 3):  # a dim, or unknown_rank
            return False
    return True


def tensor_scalar(d: bytes, span: Span) -> Scalar | None:
    """The value of a rank-0 numeric ``TensorProto``, or None if it is not one."""
    dtype = 0
    content: Span | None = None
    rank0 = True
    items: list[tuple[int, object, int]] = []  # (wire, value, pos) of the dtype's field
    fields = list(iter_fields(d, span[0], span[1]))
    for field, wire, value, _ in fields:
        if field == 1 and wire == 0:
            dtype = value
        elif field == 2 and wire == 2:
            rank0 = _shape_is_scalar(d, value)
    spec = DTYPES.get(dtype)
    if spec is None or not rank0:
        return None
    for field, wire, value, pos in fields:
        if field == 4 and wire == 2:
            content = value
        elif field == spec.field:
            items.append((wire, value, pos))
    if content is not None and content[1] > content[0]:
        if content[1] - content[0] != spec.content.size:
            return None
        raw = spec.content.unpack_from(d, content[0])[0]
        value = spec.conv(raw) if spec.conv else float(raw)
        return Scalar(value, content[0], spec.content, spec.conv)
    # Typed field: packed (one length-delimited run) or one entry per element.
    found: list[Scalar] = []
    for wire, value, pos in items:
        if wire == 2:
            assert isinstance(value, tuple)
            found.extend(_unpack_packed(d, value, spec))
        elif wire == spec.wire:
            found.append(_one(d, wire, value, pos, spec))
    if not found:
        return Scalar(0.0)  # TensorProto default: zero
    if len(found) > 1:
        return None
    return found[0]


def _one(d: bytes, wire: int, value: object, pos: int, spec: _DType) -> Scalar:
    if wire == 0:
        assert isinstance(value, int)
        raw = value
        if spec.signed == 32:
            raw = _to_int32(raw)
        elif spec.signed == 64:
            raw = _to_int64(raw)
        return Scalar(spec.conv(raw) if spec.conv else float(raw))
    fmt = _FIXED[wire]
    return Scalar(float(fmt.unpack_from(d, pos)[0]), pos, fmt)


def _unpack_packed(d: bytes, span: Span, spec: _DType) -> list[Scalar]:
    out = []
    p, end = span
    if spec.wire == 0:
        while p < end:
            raw, p = read_varint(d, p, end)
            out.append(_one(d, 0, raw, p, spec))
    else:
        fmt = _FIXED[spec.wire]
        if (end - p) % fmt.size:
            raise MalformedEvent("packed fixed-width field of a wrong length")
        for q in range(p, end, fmt.size):
            out.append(Scalar(float(fmt.unpack_from(d, q)[0]), q, fmt))
    return out
