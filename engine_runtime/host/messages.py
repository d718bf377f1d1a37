"""What a plugin host's messages mean to the server: the callbacks the engine provides
(`HostCallbacks`), a run's outcome (`RunResult`), and the checks and upstream wording applied to
the host's calls (query, write_sync) and results before anything uses them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..catalog import INTERNAL_DATABASE
from ..errors import ENTRY_POINT_SIGNATURES, InvalidDatabaseNameError, missing_entry_point_message
from ..plugins.loader import IMPORT_FAILURE_MESSAGE
from ..plugins.responses import HttpResponse
from ..store import check_database_name
from .channel import HostProtocolError
from .channel import field as checked

__all__ = [
    "HostCallbacks",
    "Refused",
    "RunResult",
    "mib",
    "run_result",
    "service",
    "with_error",
]


class HostCallbacks(Protocol):
    """What the server provides to the plugins of a host; the engine implements it."""

    def query(
        self, trigger: str, database: str, sql: str, params: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        """Run SQL for ``trigger``'s plugin (raises the store's errors)."""

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        """Write line protocol now (raises on failure)."""

    def log(self, trigger: str, level: str, text: str) -> None:
        """One line of ``trigger``'s log (INFO, WARN or ERROR)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What the plugin did: ``ok``, the writes it queued (only when ok), a request's response,
    or its error (``Type: message``; a load failure in upstream's words), the exception's type
    name, the stage that failed (``load`` the code, ``call`` the entry point, ``response``: a
    request's return value is no response), the traceback without the host's frames, and
    whether the server interrupted it (``timeout`` or ``cancel``)."""

    ok: bool
    writes: dict[str, list[str]] = field(default_factory=dict)
    response: HttpResponse | None = None
    error: str | None = None
    error_type: str | None = None
    stage: Literal["load", "call", "response"] | None = None
    traceback: str | None = None
    interrupted: str | None = None


def service(callbacks: HostCallbacks, trigger: str, message: dict[str, Any]) -> Any:
    if message["op"] == "query":
        return _query(callbacks, trigger, message)
    return _write_sync(callbacks, trigger, message)


def mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def with_error(result: RunResult, error: str) -> RunResult:
    return RunResult(
        result.ok,
        result.writes,
        result.response,
        error,
        result.error_type,
        result.stage,
        result.traceback,
        result.interrupted,
    )


class Refused(Exception):
    """A call the plugin made failed; the message is what the plugin's exception says."""


def _query(callbacks: HostCallbacks, trigger: str, message: dict[str, Any]) -> Any:
    db, sql, params = message["database"], message["sql"], message["params"]
    if params is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise HostProtocolError("plugin host sent query parameters that are not str")
    try:
        check_database_name(db)
    except InvalidDatabaseNameError as exc:
        raise Refused(f"invalid database name provided: {exc}") from None
    try:
        return callbacks.query(trigger, db, sql, params)
    except Exception as exc:  # upstream words every failure alike; the plugin sees QueryError
        raise Refused(f"error: {exc} executing query on {db}: {sql}") from None


def _write_sync(callbacks: HostCallbacks, trigger: str, message: dict[str, Any]) -> None:
    db = message["database"]
    try:
        check_database_name(db)
        if db == INTERNAL_DATABASE:
            raise InvalidDatabaseNameError(f"cannot write to the {INTERNAL_DATABASE} database")
        callbacks.write_sync(trigger, db, message["lines"], message["no_sync"])
    except Exception as exc:
        raise Refused(f"error writing line protocol to {db}: {exc}") from None


def run_result(
    message: dict[str, Any], entry: str, path: Path, interrupted: str | None
) -> RunResult:
    if not message["ok"]:
        error = checked(message, "error", str)
        stage, kind, trace = (message.get(k) for k in ("stage", "error_type", "traceback"))
        if stage == "load":
            error, trace = _load_error(error, kind, entry, path, trace)
        return RunResult(
            False,
            error=error,
            error_type=kind if isinstance(kind, str) else None,
            stage=stage if stage in ("load", "call", "response") else None,
            traceback=trace if isinstance(trace, str) else None,
            interrupted=interrupted,
        )
    writes = checked(message, "writes", dict)
    for db, lines in writes.items():
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise HostProtocolError(f"plugin host sent bad queued writes for {db!r:.50}")
    response = None
    if "response" in message:
        parts = checked(message, "response", dict)
        status = checked(parts, "status", int)
        headers = checked(parts, "headers", dict)
        body = checked(parts, "body", bytes)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise HostProtocolError("plugin host sent response headers that are not str")
        response = HttpResponse(status, headers, body)
    return RunResult(True, writes=writes, response=response)


def _load_error(
    error: str, kind: object, entry: str, path: Path, trace: object
) -> tuple[str, object]:
    """Upstream's words for a plugin that does not load, as the in-process loader says them."""
    if kind == "MissingEntryPointError":
        if entry in ENTRY_POINT_SIGNATURES:
            return missing_entry_point_message(entry), None
        return f"the {entry} function is not present in the plugin", None
    if path.is_dir():  # a directory plugin
        return IMPORT_FAILURE_MESSAGE.format(name=path.name, error=error), trace
    return error, trace
