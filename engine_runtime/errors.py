"""Errors of the runtime. Strings that upstream InfluxDB 3 tests assert are module constants.

::

    EngineError
    ├── InvalidDatabaseNameError     a database name that cannot exist
    ├── DatabaseNotFoundError        a query on a database nothing was written to
    ├── WriteError                   line protocol rejected (every bad line, with its number)
    ├── SchemaError                  a table declaration that cannot be made (bad column names)
    ├── LimitExceededError           a database, table or column past the node's limits
    ├── QueryExecutionError          SQL that does not plan or run (DataFusion's words)
    ├── InfluxQLError                an InfluxQL statement that cannot be run
    │   ├── InfluxQLSyntaxError      the query does not parse (the whole request fails)
    │   └── InfluxQLUnsupportedError valid InfluxQL this runtime does not implement
    ├── CatalogError                 a catalog change that cannot be made (HTTP 500)
    │   ├── NotFoundError            no such trigger or table (HTTP 404)
    │   ├── AlreadyExistsError       the trigger name, request path or table is taken (HTTP 409)
    │   ├── TriggerRunningError      deleting an enabled trigger without force
    │   ├── InvalidTriggerError      an empty name or filename, or bad trigger settings (HTTP 400)
    │   └── CatalogFileError         the catalog file is corrupt, too new or cannot be written
    ├── DamagedFileError             a saved plugin cache file does not match its checksum
    └── PluginError                  the plugin could not be loaded or called
        ├── PluginLoadError          syntax/import errors, a missing file
        ├── MissingEntryPointError   the process_* function is not there
        ├── ResponseError            a request plugin's return value is not an HTTP response
        └── PluginHostError          the plugin host process died, hung or broke the protocol
            ├── HostExitedError      it exited (a crash, a signal) while running the plugin
            └── HostProtocolError    it sent a frame too large, malformed, or of a wrong shape

`QueryError` (what a plugin sees from ``influxdb3_local.query``) is deliberately *not* in this
tree: upstream raises a plain ``Exception`` subclass named ``QueryError`` and plugins test
``type(e).__name__``; it lives in `engine_runtime.api`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .line_protocol.parse import LineError

__all__ = [
    "ENTRY_POINT_SIGNATURES",
    "AlreadyExistsError",
    "CatalogError",
    "CatalogFileError",
    "DamagedFileError",
    "DatabaseNotFoundError",
    "EngineError",
    "HostExitedError",
    "HostProtocolError",
    "InfluxQLError",
    "InfluxQLSyntaxError",
    "InfluxQLUnsupportedError",
    "InvalidDatabaseNameError",
    "InvalidTriggerError",
    "LimitExceededError",
    "MissingEntryPointError",
    "NotFoundError",
    "PluginError",
    "PluginHostError",
    "PluginLoadError",
    "QueryExecutionError",
    "ResponseError",
    "SchemaError",
    "TriggerRunningError",
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
    """Line protocol was rejected; ``errors`` lists each bad line (as text), ``line_errors`` the
    same as `LineError` values (line number, the line, the message) for structured answers."""

    def __init__(
        self,
        message: str,
        *,
        errors: list[str] | None = None,
        line_errors: Sequence[LineError] = (),
    ) -> None:
        super().__init__(message)
        self.errors = errors or []
        self.line_errors = tuple(line_errors)


class SchemaError(EngineError):
    """A table declaration that cannot be made: an empty or repeated column name, a bad type."""


class LimitExceededError(EngineError):
    """A new database, table or column would pass the node's catalog limits (HTTP 400)."""


class QueryExecutionError(EngineError):
    """SQL that does not plan or run; the message is DataFusion's, as InfluxDB 3 shows it."""


class InfluxQLError(EngineError):
    """An InfluxQL statement that cannot be run (an unknown database, a bad regex, ...)."""


class InfluxQLSyntaxError(InfluxQLError):
    """The InfluxQL text does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


class InfluxQLUnsupportedError(InfluxQLError):
    """Valid InfluxQL (a statement, clause or function) that this runtime does not implement."""


class PluginError(EngineError):
    """A plugin could not be loaded or called."""

    def __init__(
        self, message: str, *, traceback: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.traceback = traceback


class PluginLoadError(PluginError):
    """The plugin's code does not compile or import, or its file cannot be read."""


class MissingEntryPointError(PluginError):
    """The plugin does not define the entry point its trigger calls."""


class ResponseError(PluginError):
    """A request plugin returned something that cannot become an HTTP response."""


class PluginHostError(PluginError):
    """The plugin host failed a run: it died, hung past the deadline or broke the protocol."""


class HostExitedError(PluginHostError):
    """The host exited while it ran the plugin: a crash, a signal, ``os._exit``."""

    def __init__(self, message: str, *, host_pid: int | None = None) -> None:
        super().__init__(message)
        #: which host died: every run open in it fails with its own error, one death in all
        self.host_pid = host_pid


class HostProtocolError(PluginHostError):
    """The host sent a frame that is too large, malformed, or a message of the wrong shape."""


class CatalogError(EngineError):
    """A change to the catalog of databases and triggers that cannot be made."""


class NotFoundError(CatalogError):
    """The named trigger or table does not exist in that database."""


class AlreadyExistsError(CatalogError):
    """The trigger name (per database), request path (anywhere) or table name is taken."""


class TriggerRunningError(CatalogError):
    """An enabled trigger cannot be deleted without ``force``."""


class InvalidTriggerError(CatalogError):
    """A trigger definition that cannot be stored: empty name or filename, bad settings."""


class CatalogFileError(CatalogError):
    """The catalog file is corrupt, was written by a newer version, or cannot be written."""


class DamagedFileError(EngineError):
    """A file of the node's data (a saved plugin cache) does not match its own checksum."""
