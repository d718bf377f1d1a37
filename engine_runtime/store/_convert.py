"""Internal: Arrow query results -> ``list[dict]`` with upstream's value mapping.

engine-behavior.md §5.6: Int64/UInt64 -> int, Float64 -> float, Utf8 -> str, Boolean -> bool,
Timestamp (any unit) -> int nanoseconds, Dictionary(Int32, Utf8) -> str, NULL -> None, and
List -> list (``system.last_caches``; upstream's plugins refuse lists); any other type raises
``ValueError("Unsupported data type: ...")``. Utf8View and LargeUtf8 are accepted too because
DataFusion produces them from some functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.types as pat  # type: ignore[import-untyped]  # no stubs

__all__ = ["batches_to_rows"]

_NATIVE: Final = (
    pa.int64(),
    pa.uint64(),
    pa.float64(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.string_view(),
)
# pyarrow's names for the types plugins most often hit -> DataFusion's (Rust Debug) names
_DATAFUSION_NAMES: Final[dict[str, str]] = {
    "float": "Float32",
    "halffloat": "Float16",
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "date32[day]": "Date32",
    "date64[ms]": "Date64",
    "null": "Null",
    "binary": "Binary",
}


def batches_to_rows(
    batches: Sequence[pa.RecordBatch], *, iso_timestamps: bool = False
) -> list[dict[str, Any]]:
    """Convert result batches column-wise, then zip into one dict per row.

    :param iso_timestamps: timestamps as ``2025-02-25T20:54:38.5`` strings (what InfluxDB 3's
        HTTP query API returns) instead of integer nanoseconds (what plugins get).
    """
    if not batches:
        return []
    table = pa.Table.from_batches(batches)
    if table.num_rows == 0:
        return []
    names = table.column_names
    columns = [_values(table.column(i)) for i in range(table.num_columns)]
    if iso_timestamps:
        for index, column in enumerate(table.columns):
            if pat.is_timestamp(column.type):
                columns[index] = [None if v is None else _iso(v) for v in columns[index]]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _iso(nanoseconds: int) -> str:
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if not fraction:
        return text
    digits = f"{fraction:09d}".rstrip("0")
    width = 3 if len(digits) <= 3 else 6 if len(digits) <= 6 else 9  # chrono's %.f groups
    return f"{text}.{digits.ljust(width, '0')}"


def _values(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    if kind in _NATIVE:
        return column.to_pylist()  # type: ignore[no-any-return]
    if pat.is_timestamp(kind):
        as_ns = column.cast(pa.timestamp("ns", kind.tz))
        return as_ns.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    if pat.is_dictionary(kind) and kind.value_type in _NATIVE[4:]:
        # decoding first is ~100x faster than to_pylist on the dictionary array (tags)
        return column.cast(kind.value_type).to_pylist()  # type: ignore[no-any-return]
    if pat.is_list(kind):  # system.last_caches' column lists: Python lists
        return column.to_pylist()  # type: ignore[no-any-return]
    name = _DATAFUSION_NAMES.get(str(kind), str(kind))
    msg = f"Unsupported data type: {name}"
    raise ValueError(msg)
