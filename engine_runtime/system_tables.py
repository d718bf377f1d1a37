"""The engine's state as ``system.*`` tables of every database (engine-behavior.md §4.7).

``processing_engine_logs``, ``processing_engine_triggers``,
``processing_engine_trigger_arguments`` and ``plugin_files`` as upstream, plus
``processing_engine_trigger_stats``
(invocations, errors, last error, last run, p50/p99, plugin hosts that died under its
runs), and ``last_caches``/``distinct_caches`` (`engine_runtime.value_caches`); ``_internal``
has ``databases`` too (each database's ``retention_period_ns``). Built fresh when a query
names them. The ``last_cache()``/``distinct_cache()`` table functions are registered here
too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .catalog import INTERNAL_DATABASE

if TYPE_CHECKING:
    from .engine import ProcessingEngine

#: more tables, by database, from outside the engine (the server's ``system.tokens``)
ExtraTables = Callable[[str], Mapping[str, Any]]
#: each engine's extra tables, kept for when it publishes again (at start)
_EXTRAS: weakref.WeakKeyDictionary[Any, ExtraTables] = weakref.WeakKeyDictionary()

__all__ = ["INTERNAL_RETENTION_SECONDS", "database_rows", "publish_system_tables"]


def publish_system_tables(engine: ProcessingEngine, *, extra: ExtraTables | None = None) -> None:
    """Make the engine's state queryable as ``system.*`` tables, when the store supports it.

    :param extra: tables added to the engine's, e.g. by the server; kept, so a later call
        without it (`ProcessingEngine.start`) publishes them too.
    """
    if extra is not None:
        _EXTRAS[engine] = extra
    extra = _EXTRAS.get(engine)
    publish = getattr(engine.store, "set_system_tables", None)
    if publish is None:
        return
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from .observability import LOGS_SCHEMA, log_rows
    from .plugin_files import plugin_file_rows
    from .stats import TRIGGER_STATS_SCHEMA

    text, flag = pa.string(), pa.bool_()
    triggers = pa.schema(
        [
            ("trigger_name", text),
            ("plugin_filename", text),
            ("trigger_specification", text),
            ("disabled", flag),
            ("error_behavior", text),
        ]
    )
    arguments = pa.schema(
        [("trigger_name", text), ("argument_key", text), ("argument_value", text)]
    )
    files = pa.schema(
        [
            ("plugin_name", text),
            ("file_name", text),
            ("file_path", text),
            ("size_bytes", pa.int64()),
            ("last_modified", pa.int64()),
        ]
    )

    databases = pa.schema(
        [
            ("database_name", text),
            ("retention_period_ns", pa.uint64()),
            ("deleted", flag),
            ("hard_deletion_time", pa.timestamp("s", tz="UTC")),
        ]
    )

    from .value_caches.functions import system_tables, table_functions

    caches = engine.value_caches
    functions = getattr(engine.store, "set_table_functions", None)
    if functions is not None:
        functions(lambda database: table_functions(caches, database))

    def tables(database: str) -> dict[str, Any]:
        found = {
            **system_tables(caches, database),
            "processing_engine_logs": (LOGS_SCHEMA, log_rows(engine.logs, database)),
            "processing_engine_triggers": (triggers, engine.catalog.trigger_rows(database)),
            "processing_engine_trigger_arguments": (
                arguments,
                engine.catalog.argument_rows(database),
            ),
            "processing_engine_trigger_stats": (TRIGGER_STATS_SCHEMA, engine.stats.rows(database)),
            "plugin_files": (files, plugin_file_rows(engine.plugin_dir, engine.catalog.triggers())),
        }
        if database == INTERNAL_DATABASE:  # upstream: only _internal has system.databases
            found["databases"] = (databases, database_rows(engine))
        return found

    publish(tables if extra is None else _with(tables, extra))


def _with(tables: Callable[[str], dict[str, Any]], extra: ExtraTables) -> Callable[..., Any]:
    def both(database: str) -> dict[str, Any]:
        return {**tables(database), **extra(database)}

    return both


#: upstream's retention period of ``_internal`` (7 days; nothing is written there here)
INTERNAL_RETENTION_SECONDS: Final = 7 * 24 * 3600


def database_rows(engine: ProcessingEngine) -> list[dict[str, Any]]:
    """Rows of ``system.databases``: every database with its retention period (ns, null when
    rows are kept forever); none is ever soft-deleted here (a delete is immediate)."""
    rows = []
    for name in engine.databases():
        seconds = (
            INTERNAL_RETENTION_SECONDS
            if name == INTERNAL_DATABASE
            else engine.catalog.retention_seconds(name)
        )
        period = None if seconds is None else seconds * 1_000_000_000
        rows.append({"database_name": name, "retention_period_ns": period, "deleted": False})
    return rows
