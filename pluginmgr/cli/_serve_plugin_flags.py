"""InfluxDB 3.11's ``serve`` options for the Processing Engine and memory, checked before the
port is bound.

* ``--plugin-dir-only`` (``INFLUXDB3_PLUGIN_DIR_ONLY``): plugins come from the plugin directory
  only: a trigger or plugin test naming a ``gh:``, ``git+`` or registry reference, and the
  plugin file uploads (``/api/v3/plugins/files``, ``/directory``), answer upstream's 403
  ``plugin installation is disabled; ...``.
* ``--disable-package-management`` (``INFLUXDB3_DISABLE_PACKAGE_MANAGEMENT``): no package is
  installed, over HTTP (403) or at trigger creation, and the venv is used as it is (not created,
  not synced at start): ``--package-manager disabled``, upstream's newer spelling.
* ``--async-trigger-concurrency-limit N`` (``INFLUXDB3_ASYNC_TRIGGER_CONCURRENCY_LIMIT``): at
  most N runs of asynchronous triggers (``run_async``) at once, node-wide; more wait their turn
  in order. Default 32.
* ``--exec-mem-pool-size`` (``INFLUXDB3_EXEC_MEM_POOL_SIZE``; the old ``--exec-mem-pool-bytes``
  and ``INFLUXDB3_EXEC_MEM_POOL_BYTES`` are aliases) and ``--file-cache-size``
  (``INFLUXDB3_FILE_CACHE_SIZE``; old: ``--parquet-mem-cache-size``,
  ``INFLUXDB3_PARQUET_MEM_CACHE_SIZE``): sizes as upstream writes them (``20%`` of the memory,
  ``512MB``, ``2GB``, a bare number of megabytes). ``--exec-mem-pool-size`` sizes each
  database's query memory pool (DataFusion's fair spill pool; default 1 GiB); ``--file-cache-size``
  is checked, then reported as not applied: a pluginmgr node keeps no in-memory copy of its
  Parquet files (reads go through the operating system's page cache).
* ``--num-database-limit``, ``--num-table-limit`` (across all databases) and
  ``--num-total-columns-per-table-limit`` (``INFLUXDB3_ENTERPRISE_NUM_DATABASE_LIMIT``, ...):
  InfluxDB 3 Enterprise's catalog limits and defaults (100, 4,000 and 500; Core fixes 5, 2,000
  and 500). A write line past one is refused with upstream's message (the others are written).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from engine_runtime.store import CatalogLimits

from ._serve_options import ServeError

if TYPE_CHECKING:
    from engine_runtime import SourceFactory

    from ..deps.installers import InstallOptions
    from ..deps.venv import PluginEnv
    from ..fetch.manager import PluginManager

__all__ = ["DEFAULT_ASYNC_LIMIT", "PluginFlags", "parse_memory_size", "plugin_flags_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: runs of asynchronous triggers at once when ``--async-trigger-concurrency-limit`` is not given
DEFAULT_ASYNC_LIMIT: Final = 32
_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|gb|mb|kb|b)?\s*", re.IGNORECASE)
_UNIT: Final = {"gb": 2**30, "mb": 2**20, "kb": 2**10, "b": 1, None: 2**20}

_DEFAULT_LIMITS: Final = CatalogLimits()
_OPTIONS: Final = [
    click.option(
        "--num-database-limit",
        envvar="INFLUXDB3_ENTERPRISE_NUM_DATABASE_LIMIT",
        type=click.IntRange(min=1),
        default=_DEFAULT_LIMITS.databases,
        show_default=True,
        help="Databases this node may hold. [env: INFLUXDB3_ENTERPRISE_NUM_DATABASE_LIMIT]",
    ),
    click.option(
        "--num-table-limit",
        envvar="INFLUXDB3_ENTERPRISE_NUM_TABLE_LIMIT",
        type=click.IntRange(min=1),
        default=_DEFAULT_LIMITS.tables,
        show_default=True,
        help="Tables across all databases. [env: INFLUXDB3_ENTERPRISE_NUM_TABLE_LIMIT]",
    ),
    click.option(
        "--num-total-columns-per-table-limit",
        envvar="INFLUXDB3_ENTERPRISE_NUM_TOTAL_COLUMNS_PER_TABLE_LIMIT",
        type=click.IntRange(min=2),
        default=_DEFAULT_LIMITS.columns_per_table,
        show_default=True,
        help="Columns of one table, time included. "
        "[env: INFLUXDB3_ENTERPRISE_NUM_TOTAL_COLUMNS_PER_TABLE_LIMIT]",
    ),
    click.option(
        "--plugin-dir-only",
        envvar="INFLUXDB3_PLUGIN_DIR_ONLY",
        is_flag=True,
        help="Take plugins from the plugin dir only: gh: (and other fetched) references and "
        "plugin file uploads are refused. [env: INFLUXDB3_PLUGIN_DIR_ONLY]",
    ),
    click.option(
        "--disable-package-management",
        envvar="INFLUXDB3_DISABLE_PACKAGE_MANAGEMENT",
        is_flag=True,
        help="Refuse every package install and use the plugin venv as it is. "
        "[env: INFLUXDB3_DISABLE_PACKAGE_MANAGEMENT]",
    ),
    click.option(
        "--async-trigger-concurrency-limit",
        envvar="INFLUXDB3_ASYNC_TRIGGER_CONCURRENCY_LIMIT",
        type=click.IntRange(min=1),
        default=DEFAULT_ASYNC_LIMIT,
        show_default=True,
        help="Runs of asynchronous triggers at once, node-wide; more wait their turn. "
        "[env: INFLUXDB3_ASYNC_TRIGGER_CONCURRENCY_LIMIT]",
    ),
    click.option(
        "--exec-mem-pool-size",
        "--exec-mem-pool-bytes",
        "exec_mem_pool_size",
        envvar=["INFLUXDB3_EXEC_MEM_POOL_SIZE", "INFLUXDB3_EXEC_MEM_POOL_BYTES"],
        default=None,
        metavar="SIZE",
        help="Each database's query memory pool (e.g. 20%, 512MB; default 1GB). "
        "[env: INFLUXDB3_EXEC_MEM_POOL_SIZE]",
    ),
    click.option(
        "--file-cache-size",
        "--parquet-mem-cache-size",
        "file_cache_size",
        envvar=["INFLUXDB3_FILE_CACHE_SIZE", "INFLUXDB3_PARQUET_MEM_CACHE_SIZE"],
        default=None,
        metavar="SIZE",
        help="In-memory file cache (e.g. 20%, 1GB); checked, not applied. "
        "[env: INFLUXDB3_FILE_CACHE_SIZE]",
    ),
]


def plugin_flags_options(func: F) -> F:
    """Add the options of this module to a command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: a percentage of 8 GiB
        return 8 * 2**30


def parse_memory_size(option: str, text: str) -> int:
    """Bytes for a size written as upstream takes it: ``20%`` of the memory, ``512MB``, ``2GB``,
    ``64kb``, or a bare number of megabytes; `ServeError` naming ``option`` otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        message = (
            f"invalid {option} {text!r}: use a percentage of the memory (20%) or a size (512MB)"
        )
        raise ServeError(message)
    number, unit = float(match.group(1)), (match.group(2) or "").lower() or None
    if unit == "%":
        if not 0 < number <= 100:
            raise ServeError(f"invalid {option} {text!r}: a percentage must be > 0 and <= 100")
        return int(_total_memory() * number / 100)
    return int(number * _UNIT[unit])


@dataclass(frozen=True, slots=True)
class PluginFlags:
    """The options of this module, resolved; ``warnings``: one line each, printed once the
    server listens."""

    plugin_dir_only: bool
    async_limit: int
    #: ``--exec-mem-pool-size`` in bytes; None: the store's default
    query_memory: int | None = None
    warnings: tuple[str, ...] = ()
    limits: CatalogLimits = _DEFAULT_LIMITS

    def source_for(
        self, manager: PluginManager, env: PluginEnv | None, install: InstallOptions
    ) -> SourceFactory:
        """The engine's plugin sources (`source_factory`); with ``--plugin-dir-only`` a trigger
        of a plugin from elsewhere is reported as failed at start, as upstream cannot read it."""
        from ..node.triggers import source_factory

        return source_factory(manager, env, sources=install, dir_only=self.plugin_dir_only)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> PluginFlags:
        """Pop and check the options; ``--disable-package-management`` becomes
        ``--package-manager disabled`` (left in ``options`` for `ServeOptions`)."""
        if options.pop("disable_package_management"):
            options["package_manager"] = "disabled"
        warnings: list[str] = []
        pool = options.pop("exec_mem_pool_size")
        query_memory = None if pool is None else parse_memory_size("--exec-mem-pool-size", pool)
        cache = options.pop("file_cache_size")
        if cache is not None:
            parse_memory_size("--file-cache-size", cache)  # a bad value stops the start
            warnings.append(
                f"warning: --file-cache-size {cache} is accepted and not applied: a pluginmgr "
                "node keeps no in-memory copy of its Parquet files (the OS page cache serves them)"
            )
        return cls(
            plugin_dir_only=bool(options.pop("plugin_dir_only")),
            async_limit=int(options.pop("async_trigger_concurrency_limit")),
            query_memory=query_memory,
            warnings=tuple(warnings),
            limits=CatalogLimits(
                databases=int(options.pop("num_database_limit")),
                tables=int(options.pop("num_table_limit")),
                columns_per_table=int(options.pop("num_total_columns_per_table_limit")),
            ),
        )
