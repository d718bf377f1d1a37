"""`LineBuilder`: the line-protocol builder plugins get as a builtin (engine-behavior.md §5.7).

Plugin-facing: this module imports only the standard library (it runs in the plugin host), so a
plugin or a test can use it without the rest of the runtime. Behaviour follows upstream's
``influxdb3_py_api/src/line_builder/line_builder.py`` (not the stale docs listing):

* tags and fields are ordered; re-setting a key keeps its first position;
* tag values (and field keys) escape ``\\`` first, then ``,``, ``=`` and space;
* the measurement escapes ``,`` and space; tag keys are not escaped;
* string fields escape ``\\`` first, then ``"``.

::

    InfluxDBError
    ├── InvalidMeasurementError   a measurement name with a space
    ├── InvalidKeyError           an empty tag/field key, or one with a space, comma or equals sign
    └── InvalidLineError          ``build()`` without any field
"""

from __future__ import annotations

import builtins
from collections import OrderedDict
from typing import Final

__all__ = [
    "MEASUREMENT_SPACES_MESSAGE",
    "InfluxDBError",
    "InvalidKeyError",
    "InvalidLineError",
    "InvalidMeasurementError",
    "LineBuilder",
    "install_builtins",
]

#: upstream's message for a measurement name containing a space
MEASUREMENT_SPACES_MESSAGE: Final = "Measurement name cannot contain spaces"


class InfluxDBError(Exception):
    """Base of the errors `LineBuilder` raises."""


class InvalidMeasurementError(InfluxDBError):
    """The measurement name contains a space."""


class InvalidKeyError(InfluxDBError):
    """A tag or field key is empty or contains a space, comma or equals sign."""


class InvalidLineError(InfluxDBError):
    """The line cannot be built (it has no field)."""


def _escape_measurement(name: str) -> str:
    return name.replace(",", "\\,").replace(" ", "\\ ")


def _escape_tag_value(value: str) -> str:
    # Backslash first, so the escapes added below are not doubled.
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _render_float(value: float) -> str:
    # nan % 1 and inf % 1 are nan (never 0), so int() is never called on them.
    return f"{int(value)}.0" if value % 1 == 0 else str(value)


class LineBuilder:
    """Build one line of InfluxDB line protocol; every setter returns ``self`` for chaining."""

    def __init__(self, measurement: str) -> None:
        if " " in measurement:
            raise InvalidMeasurementError(MEASUREMENT_SPACES_MESSAGE)
        self.measurement = measurement
        self.tags: OrderedDict[str, str] = OrderedDict()
        self.fields: OrderedDict[str, str] = OrderedDict()
        self._timestamp_ns: int | None = None

    @staticmethod
    def _validate_key(key: str, key_type: str) -> None:
        if not key:
            raise InvalidKeyError(f"{key_type} key cannot be empty")
        for char, what in ((" ", "spaces"), (",", "commas"), ("=", "equals signs")):
            if char in key:
                raise InvalidKeyError(f"{key_type} key '{key}' cannot contain {what}")

    def tag(self, key: str, value: str) -> LineBuilder:
        """Set tag ``key`` to ``str(value)`` (escaped at build time)."""
        self._validate_key(key, "tag")
        self.tags[key] = str(value)
        return self

    def uint64_field(self, key: str, value: int) -> LineBuilder:
        """Set an unsigned integer field (``<v>u``); a negative value raises `ValueError`."""
        self._validate_key(key, "field")
        if value < 0:
            raise ValueError(f"uint64 field '{key}' cannot be negative")
        self.fields[key] = f"{value}u"
        return self

    def int64_field(self, key: str, value: int) -> LineBuilder:
        """Set a signed integer field (``<v>i``), with no range check."""
        self._validate_key(key, "field")
        self.fields[key] = f"{value}i"
        return self

    def float64_field(self, key: str, value: float) -> LineBuilder:
        """Set a float field: ``2.0`` for integral values, else ``str(value)``."""
        self._validate_key(key, "field")
        self.fields[key] = _render_float(value)
        return self

    def string_field(self, key: str, value: str) -> LineBuilder:
        """Set a string field, escaping ``\\`` then ``"``, wrapped in double quotes."""
        self._validate_key(key, "field")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        self.fields[key] = f'"{escaped}"'
        return self

    def bool_field(self, key: str, value: bool) -> LineBuilder:
        """Set a boolean field: ``t`` if ``value`` is truthy, else ``f``."""
        self._validate_key(key, "field")
        self.fields[key] = "t" if value else "f"
        return self

    def time_ns(self, timestamp_ns: int) -> LineBuilder:
        """Set the timestamp in nanoseconds (stored as given, not validated)."""
        self._timestamp_ns = timestamp_ns
        return self

    def build(self) -> str:
        """Render the line; raises `InvalidLineError` when no field was set."""
        line = _escape_measurement(self.measurement)
        if self.tags:
            line += "," + ",".join(f"{k}={_escape_tag_value(v)}" for k, v in self.tags.items())
        if not self.fields:
            raise InvalidLineError(f"At least one field is required: {line}")
        line += " " + ",".join(f"{_escape_tag_value(k)}={v}" for k, v in self.fields.items())
        if self._timestamp_ns is not None:
            line += f" {self._timestamp_ns}"
        return line


def install_builtins() -> None:
    """Make ``LineBuilder`` a builtin, as upstream does for plugins (idempotent)."""
    builtins.LineBuilder = LineBuilder  # type: ignore[attr-defined]
