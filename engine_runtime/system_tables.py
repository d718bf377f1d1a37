"""The engine's state as ``system.*`` tables of every database (engine-behavior.md §4.7).

``processing_engine_logs``, ``processing_engine_triggers``,
``processing_engine_trigger_arguments`` and ``plugin_files`` as upstream, plus
``processing_engine_trigger_stats``
(invocations, errors, last error, last run, p50/p99, plugin hosts that died under its
runs). Built fresh when a query names them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import ProcessingEngine

__all__ = ["publish_system_tables"]


def publish_system_tables(engine: ProcessingEngine) -> None:
    """Make the engine's state queryable as ``system.*`` tables, when the store supports it."""
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

    def tables(database: str) -> dict[str, Any]:
        return {
            "processing_engine_logs": (LOGS_SCHEMA, log_rows(engine.logs, database)),
            "processing_engine_triggers": (triggers, engine.catalog.trigger_rows(database)),
            "processing_engine_trigger_arguments": (
                arguments,
                engine.catalog.argument_rows(database),
            ),
            "processing_engine_trigger_stats": (TRIGGER_STATS_SCHEMA, engine.stats.rows(database)),
            "plugin_files": (files, plugin_file_rows(engine.plugin_dir, engine.catalog.triggers())),
        }

    publish(tables)
