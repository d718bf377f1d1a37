"""The few Flight SQL protobuf messages the server reads and writes, by hand.

Flight SQL wraps each command in a ``google.protobuf.Any`` whose ``type_url`` names a message
of ``arrow.flight.protocol.sql`` (``FlightSql.proto``). pyarrow does not ship those definitions
and the ``protobuf`` package is not a dependency, so this module reads and writes the wire
format of the dozen messages used (varints, strings, bytes, booleans, repeated fields): one
message is a ``dict`` of field number to the list of its values, which is all these flat
messages need. Unknown fields are skipped, as protobuf does.
"""

from __future__ import annotations

from typing import Final

from ..errors import PluginManagerError

__all__ = [
    "TYPE_PREFIX",
    "ProtoError",
    "decode",
    "encode",
    "encode_varint",
    "flag",
    "pack_any",
    "raw",
    "text",
    "unpack_any",
    "varints",
]

#: the ``type_url`` of every Flight SQL message, before its name
TYPE_PREFIX: Final = "type.googleapis.com/arrow.flight.protocol.sql."
_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH: Final = 2
_FIXED32: Final = 5

Fields = dict[int, list[int | bytes]]


class ProtoError(PluginManagerError):
    """Bytes that are not a protobuf message of the expected shape."""

    def __init__(self, message: str) -> None:
        super().__init__(f"malformed Flight SQL message: {message}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def decode(data: bytes) -> Fields:
    """Field number -> its values (ints for varints, bytes otherwise), in wire order.

    Packed repeated varints are left as bytes: `varints` reads them.
    """
    fields: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LENGTH:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ProtoError("truncated field")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            value, pos = int.from_bytes(data[pos : pos + size], "little"), pos + size
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def varints(values: list[int | bytes]) -> list[int]:
    """A repeated varint field's values, packed (bytes) or not (ints)."""
    out: list[int] = []
    for value in values:
        if isinstance(value, int):
            out.append(value)
            continue
        pos = 0
        while pos < len(value):
            item, pos = _varint(value, pos)
            out.append(item)
    return out


def text(fields: Fields, number: int) -> str | None:
    """The last value of a string field, or None when absent."""
    values = fields.get(number)
    if not values or not isinstance(values[-1], bytes):
        return None
    try:
        return values[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtoError(f"field {number} is not UTF-8") from None


def raw(fields: Fields, number: int) -> bytes | None:
    """The last value of a bytes field, or None when absent."""
    values = fields.get(number)
    if not values or not isinstance(values[-1], bytes):
        return None
    return values[-1]


def flag(fields: Fields, number: int) -> bool:
    """A bool field (absent: False)."""
    values = fields.get(number)
    return bool(values and isinstance(values[-1], int) and values[-1])


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode(*fields: tuple[int, bytes | str | None]) -> bytes:
    """A message of length-delimited fields (strings, bytes, messages); None is left out."""
    out = bytearray()
    for number, value in fields:
        if value is None:
            continue
        data = value.encode("utf-8") if isinstance(value, str) else value
        out += _put_varint(number << 3 | _LENGTH) + _put_varint(len(data)) + data
    return bytes(out)


def encode_varint(number: int, value: int) -> bytes:
    """One varint field (an int, a bool, an enum; negatives as 64-bit two's complement)."""
    return _put_varint(number << 3 | _VARINT) + _put_varint(value & 0xFFFFFFFFFFFFFFFF)


def pack_any(name: str, value: bytes) -> bytes:
    """``google.protobuf.Any`` holding the Flight SQL message ``name``."""
    return encode((1, TYPE_PREFIX + name), (2, value))


def unpack_any(data: bytes) -> tuple[str, Fields] | None:
    """The Flight SQL message name and fields in an ``Any``; None when ``data`` is not one."""
    if not data.startswith(b"\x0a"):
        return None
    try:
        wrapper = decode(data)
        url = text(wrapper, 1)
        if url is None or not url.startswith(TYPE_PREFIX):
            return None
        return url.removeprefix(TYPE_PREFIX), decode(raw(wrapper, 2) or b"")
    except ProtoError:
        return None
