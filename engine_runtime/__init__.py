"""engine_runtime: the slim runtime that runs plugins — store, plugin API, loader, dry runs.

It imports neither `pluginmgr` nor `registry_index`: it receives paths and loaded code (through
the `PluginSource` protocol). The front door is lazy (PEP 562), so importing
`engine_runtime.environment` does not pay for DataFusion.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .cache import CacheStore, PluginCache
    from .catalog import Catalog
    from .engine import ProcessingEngine, SourceFactory
    from .errors import (
        DatabaseNotFoundError,
        EngineError,
        InvalidDatabaseNameError,
        MissingEntryPointError,
        PluginError,
        PluginLoadError,
        QueryExecutionError,
        ResponseError,
        WriteError,
    )
    from .observability import LogRing
    from .plugins.api import PluginApi, QueryError
    from .plugins.check import check_trigger_plugin
    from .plugins.dry_run import DryRunner
    from .plugins.line_builder import (
        InfluxDBError,
        InvalidKeyError,
        InvalidLineError,
        InvalidMeasurementError,
        LineBuilder,
    )
    from .plugins.loader import (
        Loader,
        LocalPluginSource,
        PluginCode,
        PluginSource,
        format_plugin_exception,
        plugin_traceback,
        relative_plugin_name,
    )
    from .plugins.responses import HttpResponse, error_response, to_http_response
    from .stats import StatsRegistry
    from .store import (
        DurableStore,
        FileLocation,
        MemoryStore,
        Store,
        WriteResult,
        s3_location,
        validate_database_name,
    )
    from .trigger_definition import TriggerDefinition, TriggerSettings
    from .triggers import (
        TriggerSpec,
        TriggerSpecError,
        format_duration,
        next_fire_time,
        parse_duration,
        parse_trigger_spec,
    )
    from .watchdog import PluginTimeout


_LAZY: Final = {
    "CacheStore": ".cache",
    "Catalog": ".catalog",
    "DatabaseNotFoundError": ".errors",
    "DryRunner": ".plugins.dry_run",
    "DurableStore": ".store",
    "EngineError": ".errors",
    "FileLocation": ".store",
    "HttpResponse": ".plugins.responses",
    "InfluxDBError": ".plugins.line_builder",
    "InvalidDatabaseNameError": ".errors",
    "InvalidKeyError": ".plugins.line_builder",
    "InvalidLineError": ".plugins.line_builder",
    "InvalidMeasurementError": ".plugins.line_builder",
    "LineBuilder": ".plugins.line_builder",
    "Loader": ".plugins.loader",
    "LocalPluginSource": ".plugins.loader",
    "LogRing": ".observability",
    "MemoryStore": ".store",
    "MissingEntryPointError": ".errors",
    "PluginApi": ".plugins.api",
    "PluginCache": ".cache",
    "PluginCode": ".plugins.loader",
    "PluginError": ".errors",
    "PluginLoadError": ".errors",
    "PluginSource": ".plugins.loader",
    "PluginTimeout": ".watchdog",
    "ProcessingEngine": ".engine",
    "QueryError": ".plugins.api",
    "QueryExecutionError": ".errors",
    "ResponseError": ".errors",
    "SourceFactory": ".engine",
    "StatsRegistry": ".stats",
    "Store": ".store",
    "TriggerDefinition": ".trigger_definition",
    "TriggerSettings": ".trigger_definition",
    "TriggerSpec": ".triggers",
    "TriggerSpecError": ".triggers",
    "WriteError": ".errors",
    "WriteResult": ".store",
    "check_trigger_plugin": ".plugins.check",
    "error_response": ".plugins.responses",
    "format_duration": ".triggers",
    "format_plugin_exception": ".plugins.loader",
    "next_fire_time": ".triggers",
    "parse_duration": ".triggers",
    "parse_trigger_spec": ".triggers",
    "plugin_traceback": ".plugins.loader",
    "relative_plugin_name": ".plugins.source",
    "s3_location": ".store",
    "to_http_response": ".plugins.responses",
    "validate_database_name": ".store",
}

__all__ = [
    "CacheStore",
    "Catalog",
    "DatabaseNotFoundError",
    "DryRunner",
    "DurableStore",
    "EngineError",
    "FileLocation",
    "HttpResponse",
    "InfluxDBError",
    "InvalidDatabaseNameError",
    "InvalidKeyError",
    "InvalidLineError",
    "InvalidMeasurementError",
    "LineBuilder",
    "Loader",
    "LocalPluginSource",
    "LogRing",
    "MemoryStore",
    "MissingEntryPointError",
    "PluginApi",
    "PluginCache",
    "PluginCode",
    "PluginError",
    "PluginLoadError",
    "PluginSource",
    "PluginTimeout",
    "ProcessingEngine",
    "QueryError",
    "QueryExecutionError",
    "ResponseError",
    "SourceFactory",
    "StatsRegistry",
    "Store",
    "TriggerDefinition",
    "TriggerSettings",
    "TriggerSpec",
    "TriggerSpecError",
    "WriteError",
    "WriteResult",
    "check_trigger_plugin",
    "error_response",
    "format_duration",
    "format_plugin_exception",
    "next_fire_time",
    "parse_duration",
    "parse_trigger_spec",
    "plugin_traceback",
    "relative_plugin_name",
    "s3_location",
    "to_http_response",
    "validate_database_name",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
