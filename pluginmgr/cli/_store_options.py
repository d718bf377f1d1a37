"""The durable store's ``serve`` options: the WAL's commit interval for ``no_sync`` writes, the
time each persisted file covers, and how much the write buffer may hold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import click

from ._quantities import parse_seconds, parse_size
from ._serve_options import ServeError

__all__ = ["StoreSettings", "store_options", "store_settings"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: Final = [
    click.option(
        "--wal-flush-interval",
        envvar="INFLUXDB3_WAL_FLUSH_INTERVAL",
        default="1s",
        show_default=True,
        help="The longest a no_sync write waits to be fsynced; other writes are committed as "
        "soon as the previous commit ends. [env: INFLUXDB3_WAL_FLUSH_INTERVAL]",
    ),
    click.option(
        "--gen1-duration",
        envvar="INFLUXDB3_GEN1_DURATION",
        default="10m",
        show_default=True,
        help="The time each persisted Parquet file covers at most. [env: INFLUXDB3_GEN1_DURATION]",
    ),
    click.option(
        "--buffer-mem-limit",
        envvar="PLUGINMGR_BUFFER_MEM_LIMIT",
        default="1GiB",
        show_default=True,
        help="Memory the write buffer may hold before it is persisted; past it, writes are "
        "refused with 503 until the persist frees it. [env: PLUGINMGR_BUFFER_MEM_LIMIT]",
    ),
]


def store_options(func: F) -> F:
    """Add the store options to a command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The durable store's settings, as `DurableStore` takes them."""

    flush_interval: float
    gen1_duration: float
    buffer_limit: int


def store_settings(options: dict[str, Any]) -> StoreSettings:
    """The store settings from the options (popped from ``options``)."""
    durations = []
    for flag in ("--wal-flush-interval", "--gen1-duration"):
        text = options.pop(flag.removeprefix("--").replace("-", "_"))
        seconds = parse_seconds(flag, text)
        if seconds is None:
            raise ServeError(f"invalid {flag} {text!r}: use a duration above 0, e.g. 10ms")
        durations.append(seconds)
    limit = parse_size("--buffer-mem-limit", options.pop("buffer_mem_limit"))
    return StoreSettings(durations[0], durations[1], limit)
