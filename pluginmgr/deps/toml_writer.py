"""Values as TOML text, for the files pluginmgr writes (pylock.toml).

The stdlib reads TOML (``tomllib``) but does not write it. This writer covers every value
``tomllib`` returns, so what was read can be written back unchanged: strings, integers, floats
(``inf``, ``nan``), booleans, offset and local date-times (fractional seconds kept), dates,
times, arrays and tables (written inline). ``tomllib.loads(f"k = {toml_value(v)}")["k"] == v``
for each of them (a property test checks it).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["toml_key", "toml_lines", "toml_sections", "toml_value"]

_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def _string(text: str) -> str:
    # JSON escapes are TOML basic-string escapes; DEL is the one control character JSON leaves raw
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    """A bare key when it may be one, else a quoted key."""
    return key if _BARE_KEY.fullmatch(key) else _string(key)  # `$` would allow a final \n


def _datetime(value: dt.datetime | dt.date | dt.time) -> str:
    """TOML's date and time forms; UTC as ``Z``, as uv writes ``upload-time``."""
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def toml_value(value: Any) -> str:
    """``value`` as TOML (tables and arrays inline, on one line). ``None`` entries of a table
    are left out (TOML has no null); `TypeError` for anything else TOML cannot hold."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _datetime(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def toml_lines(table: Mapping[str, Any], order: Sequence[str] = ()) -> list[str]:
    """``key = value`` lines of a table's entries, the keys in ``order`` first, ``None`` values
    left out; an array of tables is written one table per line (wheels, dependencies)."""
    out = []
    ordered = {k: table[k] for k in order if k in table} | dict(table)
    for key, value in ordered.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            items = "".join(f"    {toml_value(v)},\n" for v in value)
            out.append(f"{toml_key(key)} = [\n{items}]")
        elif value is not None:
            out.append(f"{toml_key(key)} = {toml_value(value)}")
    return out


def toml_sections(prefix: str, tables: Mapping[str, Any]) -> list[str]:
    """``[prefix.NAME]`` sections, one per table of ``tables`` (a blank line before each);
    entries that are not tables go under ``[prefix]`` first."""
    out: list[str] = []
    loose = {k: v for k, v in tables.items() if not isinstance(v, Mapping)}
    if loose:
        out += ["", f"[{prefix}]", *toml_lines(loose)]
    for name, value in tables.items():
        if isinstance(value, Mapping):
            out += ["", f"[{prefix}.{toml_key(name)}]", *toml_lines(value)]
    return out
