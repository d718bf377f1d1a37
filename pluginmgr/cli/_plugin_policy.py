"""InfluxDB 3's ``serve`` options that limit what plugins a node takes: which trigger types
may be created (``--restrict-plugin-triggers-to``, since InfluxDB 3.10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import click

from ._serve_options import ServeError

__all__ = ["PLUGIN_TYPES", "plugin_policy_options", "trigger_types"]

F = TypeVar("F", bound=Callable[..., Any])

#: a restriction's names -> upstream's plugin type (``wal_flush`` is upstream's alias of ``wal``)
PLUGIN_TYPES: Final = {
    "wal": "WalRows",
    "wal_flush": "WalRows",
    "schedule": "Schedule",
    "request": "Request",
}

_OPTIONS: Final = [
    click.option(
        "--restrict-plugin-triggers-to",
        envvar="INFLUXDB3_RESTRICT_PLUGIN_TRIGGERS_TO",
        default=None,
        metavar="TYPES",
        help="Only these trigger types may be created (comma-separated: wal, schedule, "
        "request); existing triggers keep running. [env: INFLUXDB3_RESTRICT_PLUGIN_TRIGGERS_TO]",
    ),
]


def plugin_policy_options(func: F) -> F:
    """Add the plugin policy options to a command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def trigger_types(options: dict[str, Any]) -> frozenset[str] | None:
    """The plugin types (``WalRows``, ``Schedule``, ``Request``) triggers may have, popped from
    ``options``; None: every type."""
    text = options.pop("restrict_plugin_triggers_to")
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in PLUGIN_TYPES]
    if unknown or not names:
        message = (
            f"invalid --restrict-plugin-triggers-to {text!r}: use wal, schedule or request "
            "(comma-separated)"
        )
        raise ServeError(message)
    return frozenset(PLUGIN_TYPES[name] for name in names)
