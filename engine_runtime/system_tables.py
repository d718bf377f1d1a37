"""The engine's state as ``system.*`` tables of every database (engine-behavior.md §4.7).

``processing_engine_logs``, ``processing_engine_triggers`` and
``processing_engine_trigger_arguments`` as upstream, plus ``processing_engine_trigger_stats``
(invocations, errors, last error, last run, p50/p99, plugin hosts that died under its
runs). Built fresh when a query names them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import ProcessingEngine

#: more tables, by database, from outside the engine (the server's ``system.tokens``)
ExtraTables = Callable[[str], Mapping[str, Any]]
#: each engine's extra tables, kept for when it publishes again (at start)
_EXTRAS: weakref.WeakKeyDictionary[Any, ExtraTables] = weakref.WeakKeyDictionary()

__all__ = ["publish_system_tables"]


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

    def tables(database: str) -> dict[str, Any]:
        return {
            "processing_engine_logs": (LOGS_SCHEMA, log_rows(engine.logs, database)),
            "processing_engine_triggers": (triggers, engine.catalog.trigger_rows(database)),
            "processing_engine_trigger_arguments": (
                arguments,
                engine.catalog.argument_rows(database),
            ),
            "processing_engine_trigger_stats": (TRIGGER_STATS_SCHEMA, engine.stats.rows(database)),
        }

    publish(tables if extra is None else _with(tables, extra))


def _with(tables: Callable[[str], dict[str, Any]], extra: ExtraTables) -> Callable[..., Any]:
    def both(database: str) -> dict[str, Any]:
        return {**tables(database), **extra(database)}

    return both
