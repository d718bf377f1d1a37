"""Errors of the runtime. Strings that upstream InfluxDB 3 tests assert are module constants.

::

    EngineError
    ├── InvalidDatabaseNameError     a database name that cannot exist
    ├── DatabaseNotFoundError        a query on a database nothing was written to
    ├── WriteError                   line protocol rejected (every bad line, with its number)
    ├── QueryExecutionError          SQL that does not plan or run (DataFusion's words)
    └── PluginError                  the plugin could not be loaded or called
        ├── PluginLoadError          syntax/import errors, a missing file
        ├── MissingEntryPointError   the process_* function is not there
        └── ResponseError            a request plugin's return value is not an HTTP response

`QueryError` (what a plugin sees from ``influxdb3_local.query``) is deliberately *not* in this
tree: upstream raises a plain ``Exception`` subclass named ``QueryError`` and plugins test
``type(e).__name__``; it lives in `engine_runtime.api`.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ENTRY_POINT_SIGNATURES",
    "DatabaseNotFoundError",
    "EngineError",
    "InvalidDatabaseNameError",
    "MissingEntryPointError",
    "PluginError",
    "PluginLoadError",
    "QueryExecutionError",
    "ResponseError",
    "WriteError",
    "missing_entry_point_message",
]

#: entry point -> how upstream says it should be defined (engine-behavior.md §5.1)
ENTRY_POINT_SIGNATURES: Final = {
    "process_writes": "process_writes(influxdb3_local, table_batches, args=None)",
    "process_scheduled_call": "process_scheduled_call(influxdb3_local, call_time, args=None)",
    "process_request": (
        "process_request(influxdb3_local, query_parameters, request_headers, request_body, "
        "args=None) -> Tuple[str, Optional[Dict[str, str]]]"
    ),
}


def missing_entry_point_message(function: str) -> str:
    """Upstream's words for a plugin without ``function``."""
    return (
        f"the {function} function is not present in the plugin. "
        f"Should be defined as: {ENTRY_POINT_SIGNATURES[function]}"
    )


class EngineError(Exception):
    """Root of every error the runtime raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class InvalidDatabaseNameError(EngineError):
    """A database name that cannot exist (empty, too long, or with invalid characters)."""


class DatabaseNotFoundError(EngineError):
    """A query names a database that does not exist."""


class WriteError(EngineError):
    """Line protocol was rejected; ``errors`` lists each bad line."""

    def __init__(self, message: str, *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class QueryExecutionError(EngineError):
    """SQL that does not plan or run; the message is DataFusion's, as InfluxDB 3 shows it."""


class PluginError(EngineError):
    """A plugin could not be loaded or called."""

    def __init__(self, message: str, *, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback


class PluginLoadError(PluginError):
    """The plugin's code does not compile or import, or its file cannot be read."""


class MissingEntryPointError(PluginError):
    """The plugin does not define the entry point its trigger calls."""


class ResponseError(PluginError):
    """A request plugin returned something that cannot become an HTTP response."""
