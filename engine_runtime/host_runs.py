"""What the engine gives the plugin hosts and how a host's answer becomes a run's outcome.

`EngineCallbacks` serves the plugins' calls back (query, write_sync, log) from the engine's
store and logs; a host names a trigger by its label ``db/trigger``. The
helpers below turn an event into a run's payload and a `RunResult` into the `PluginFailure`
the runner logs, with the words the in-process runtime used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from .plugins.loader import PluginFailure
from .store._guard import QueryGuard, guarding

if TYPE_CHECKING:
    from .dispatch import Event
    from .host import RunResult, TriggerKind
    from .observability import LogRing
    from .plugins.source import PluginCode
    from .store import Store

__all__ = ["HOST_KINDS", "EngineCallbacks", "failure_of", "payload_of", "plugin_location"]

#: plugin type -> the host's name for its kind of run
HOST_KINDS: Final[dict[str, TriggerKind]] = {
    "WalRows": "wal",
    "Schedule": "schedule",
    "Request": "request",
}


def _key(trigger: str) -> tuple[str, str]:
    database, _, name = trigger.partition("/")  # a database name never holds "/"
    return database, name


@final
class EngineCallbacks:
    """`HostCallbacks` on the engine's store and logs.

    :param write: writes a plugin's lines: (database, text, no_sync); raises on refusal.
    :param query_timeout: seconds a query of the trigger (``database/name``) may run, its run's
        execution timeout: a query the plugin no longer waits for stops then, freeing its CPU.
    """

    def __init__(
        self,
        store: Store,
        logs: LogRing,
        write: Callable[[str, str, bool], None],
        *,
        query_timeout: Callable[[str], float | None] = lambda _trigger: None,
    ) -> None:
        self.store = store
        self.logs = logs
        self.write = write
        self.query_timeout = query_timeout

    def query(
        self, trigger: str, database: str, sql: str, params: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        timeout = self.query_timeout(trigger)
        if timeout is None:
            return self.store.query(database, sql, params)
        hint = " (a plugin's query runs at most its trigger's execution timeout)"
        with guarding(QueryGuard(timeout, timeout_hint=hint)):
            return self.store.query(database, sql, params)

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        self.write(database, lines, no_sync)

    def log(self, trigger: str, level: str, text: str) -> None:
        self.logs.add(*_key(trigger), level, text)


def payload_of(kind: str, event: Event) -> dict[str, Any]:
    """The run payload of ``event`` for a plugin of type ``kind`` (WalRows, ...)."""
    if kind == "WalRows":
        (batches,) = event.positional
        return {"table_batches": batches}
    if kind == "Schedule":
        (call_time,) = event.positional
        return {"call_time": call_time}
    params, headers, body = event.positional
    return {"query_parameters": params, "request_headers": headers, "request_body": body}


def plugin_location(code: PluginCode) -> tuple[Path, str | None]:
    """Where the host finds ``code`` and the source to send it (None: it reads the path)."""
    if code.kind == "directory" and code.path is not None:
        return code.path, None
    return code.path or Path(f"<plugin {code.name}>"), code.source


def failure_of(result: RunResult) -> PluginFailure:
    """How a failed run is reported: the words of the in-process runtime."""
    message = result.error or "the plugin failed"
    if result.stage in ("load", "response"):  # the engine's refusal: the 500 says it as is
        return PluginFailure(message, result.traceback, message)
    return PluginFailure(message, result.traceback, f"Python function call failed: {message}")
