"""Column-wise conversion of lines that share one field layout: internal to the block parser.

Both the uniform path (a whole batch of one shape) and the bulk path (one series head's lines)
split their lines into parts and convert each field column with one C-level pass per column.
"""

from __future__ import annotations

import re
from typing import Final

from engine_runtime.line_protocol._scan import (
    _BOOLS,
    _I64_MAX,
    _I64_MIN,
    _U64_MAX,
    _scaled_all,
)
from engine_runtime.line_protocol._types import (
    FieldType,
    FieldValue,
)

__all__ = ["_split_column", "_split_parts"]

_NOT_FLOAT: Final = re.compile(r"[^0-9.eE+\-\n]")
_NOT_INT: Final = re.compile(r"[^0-9\-\n]")
_NOT_UINT: Final = re.compile(r"[^0-9\n]")


def _split_parts(
    parts: list[str],
    count: int,
    keys: tuple[str, ...],
    kinds: tuple[FieldType, ...],
    factor: int,
) -> tuple[list[list[FieldValue]], list[int]] | None:
    """Convert ``count`` lines ``head key=value,... timestamp`` of one layout, column-wise.

    ``parts`` is the lines joined with ``" \\n"`` and split on spaces, so every line but the
    first starts a part with a newline. The fastest path: all lines must have exactly the
    layout's keys in order, values of the layout's types and a timestamp. None when any line
    differs (the caller falls back).
    """
    # Exactly 3 parts per line: the count-1 newlines all start heads (parts 0, 3, 6, ...),
    # so no line has 2 parts and another 4 that would shift the columns.
    if len(parts) != 3 * count or "".join(parts[0::3]).count("\n") != count - 1:
        return None
    width = len(keys)
    pairs = ",".join(parts[1::3]).replace("=", ",").split(",")
    if len(pairs) != 2 * width * count or pairs[0::2] != list(keys) * count:
        return None
    values = pairs[1::2]
    try:
        fields = [
            _split_column(kind, values[index::width], count) for index, kind in enumerate(kinds)
        ]
        stamps = parts[2::3]
        joined = "".join(stamps)
        if not (joined.isdigit() and joined.isascii()):
            return None
        times = list(map(int, stamps))
    except ValueError:
        return None
    times = _scaled_all(times, factor)
    if max(times) > _I64_MAX:
        return None
    return fields, times


def _split_column(kind: FieldType, texts: list[str], count: int) -> list[FieldValue]:
    """Values of one column; ValueError when any text is not a value of ``kind``."""
    joined = "\n".join(texts)
    if kind == "f64":
        # float() also takes nan, inf, _, whitespace and a leading +
        if _NOT_FLOAT.search(joined) or joined.startswith("+") or "\n+" in joined:
            raise ValueError(kind)
        return list(map(float, texts))
    if kind == "bool":
        flags = list(map(_BOOLS.get, texts))
        if None in flags:
            raise ValueError(kind)
        return flags  # type: ignore[return-value]
    suffix = "i" if kind == "i64" else "u"
    joined += "\n"
    if joined.count(suffix + "\n") != count:
        raise ValueError(kind)
    digits = joined.replace(suffix + "\n", "\n")[:-1]
    if (_NOT_INT if kind == "i64" else _NOT_UINT).search(digits):
        raise ValueError(kind)
    numbers = list(map(int, digits.split("\n")))
    if kind == "i64":
        if max(numbers) > _I64_MAX or min(numbers) < _I64_MIN:
            raise ValueError(kind)
    elif max(numbers) > _U64_MAX:
        raise ValueError(kind)
    return numbers  # type: ignore[return-value]
