"""`LineBuilder`, the line-protocol builder plugins get as a builtin (engine-behavior.md §5.7).

The one implementation lives in the plugin host's guest package (standard library only), so the
host and an in-process run build exactly the same lines; this module re-exports it.
"""

from __future__ import annotations

from ..host.guest.pluginmgr_guest.line_builder import (
    MEASUREMENT_SPACES_MESSAGE,
    InfluxDBError,
    InvalidKeyError,
    InvalidLineError,
    InvalidMeasurementError,
    LineBuilder,
    install_builtins,
)

__all__ = [
    "MEASUREMENT_SPACES_MESSAGE",
    "InfluxDBError",
    "InvalidKeyError",
    "InvalidLineError",
    "InvalidMeasurementError",
    "LineBuilder",
    "install_builtins",
]
