"""`PluginHost`: runs a trigger's plugin in a child process on the plugins' venv interpreter.

The server side of a run: start the host if none is running, send ``run``, then service the
host's calls (query, write_sync, cache, log) through a `HostCallbacks` until its ``result``.
Host failures raise `PluginHostError` with the reason and the trigger (the host is then gone;
the next run starts a fresh one):

* past the deadline: the host is killed (SIGKILL) and reaped, ``... timed out after 2.0 s``;
* the host died: ``plugin host exited with signal SIGABRT while running trigger X``;
* it broke the protocol (a frame over the limit, not JSON, a message of the wrong shape): it is
  killed and the run fails with `HostProtocolError`.

A plugin's own failure is no host failure: it comes back as ``RunResult(ok=False, ...)``.
One run at a time per host: `run` holds a lock for the whole run, so concurrent callers wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, final

from ..catalog import INTERNAL_DATABASE
from ..errors import (
    ENTRY_POINT_SIGNATURES,
    InvalidDatabaseNameError,
    missing_entry_point_message,
)
from ..loader import IMPORT_FAILURE_MESSAGE
from ..responses import HttpResponse
from ..store import validate_database_name
from .channel import HostProtocolError, PluginHostError
from .channel import field as checked
from .guest.pluginmgr_guest.wire import DEFAULT_MAX_FRAME, encode
from .process import HostProcess, describe_exit

__all__ = ["HostCallbacks", "PluginCacheLike", "PluginHost", "RunResult", "TriggerKind"]

TriggerKind = Literal["wal", "schedule", "request"]

#: what each kind of run passes to its entry point after ``influxdb3_local``, in order
PAYLOAD_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "wal": ("table_batches",),
    "schedule": ("call_time",),
    "request": ("query_parameters", "request_headers", "request_body"),
}


class PluginCacheLike(Protocol):
    """What `HostCallbacks.cache` returns: ``engine_runtime.cache.PluginCache`` fits."""

    def put(self, key: str, value: Any, ttl: float | None = None, use_global: Any = None) -> None:
        """Store ``value`` under ``key``."""

    def get(self, key: str, default: Any = None, use_global: Any = None) -> Any:
        """The value under ``key`` or ``default``."""

    def delete(self, key: str, use_global: Any = None) -> bool:
        """Remove ``key``."""


class HostCallbacks(Protocol):
    """What the server provides to the plugins of a host; the engine implements it."""

    def query(
        self, trigger: str, database: str, sql: str, params: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        """Run SQL for ``trigger``'s plugin (raises the store's errors)."""

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        """Write line protocol now (raises on failure)."""

    def cache(self, trigger: str, database: str) -> PluginCacheLike:
        """``trigger``'s cache handle."""

    def log(self, trigger: str, level: str, text: str) -> None:
        """One line of ``trigger``'s log (INFO, WARN or ERROR)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What the plugin did: ``ok``, the writes it queued (only when ok), a request's response,
    or its error (``Type: message``; a load failure in upstream's words), the exception's type
    name, the stage that failed (``load`` the code, ``call`` the entry point, ``response``: a
    request's return value is no response) and the traceback without the host's frames."""

    ok: bool
    writes: dict[str, list[str]] = field(default_factory=dict)
    response: HttpResponse | None = None
    error: str | None = None
    error_type: str | None = None
    stage: Literal["load", "call", "response"] | None = None
    traceback: str | None = None


@final
class PluginHost:
    """One plugin host process, started on the first `run` and after any failure.

    :param python: the venv's interpreter (``<venv>/bin/python``).
    :param plugin_dir: added to the host's ``sys.path``.
    :param site_packages: the directories whose packages plugins import; None means the venv's
        own purelib/platlib, as its interpreter reports them.
    :param callbacks: services the plugins' query/write_sync/cache/log calls.
    """

    def __init__(
        self,
        python: Path,
        plugin_dir: Path,
        site_packages: Sequence[Path] | None,
        callbacks: HostCallbacks,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.python = python
        self.plugin_dir = plugin_dir
        self.site_packages = site_packages
        self.callbacks = callbacks
        self.max_frame = max_frame
        self._lock = threading.Lock()
        self._process: HostProcess | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running host's pid, or None when none is running."""
        process = self._process
        return None if process is None else process.pid

    def run(
        self,
        trigger: str,
        kind: TriggerKind,
        path: Path,
        entry: str,
        *,
        database: str,
        payload: dict[str, Any],
        args: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Call ``entry`` of the plugin at ``path`` (file or package dir) in the host.

        ``payload`` holds ``table_batches`` (wal), ``call_time`` (schedule), or
        ``query_parameters``, ``request_headers`` and ``request_body`` (request).
        Raises `PluginHostError` when the host fails (see the module docstring), ValueError
        for a payload without its kind's keys, TypeError for a payload the wire cannot carry.
        """
        missing = [key for key in PAYLOAD_KEYS[kind] if key not in payload]
        if missing:
            raise ValueError(f"a {kind} run needs {', '.join(missing)} in its payload")
        message = {
            "op": "run",
            "trigger": trigger,
            "kind": kind,
            "path": str(path),
            "entry": entry,
            "database": database,
            "payload": payload,
            "args": None if args is None else dict(args),
        }
        frame = encode(message)  # a TypeError here leaves the host as it was
        with self._lock:
            if self._closed:
                raise PluginHostError(f"the plugin host is closed (trigger {trigger})")
            deadline = None if timeout is None else time.monotonic() + timeout
            process = self._live_process()
            try:
                process.channel.send_frame(frame)
                return self._serve(process, trigger, database, entry, path, deadline)
            except TimeoutError:
                self._discard(process)
                raise PluginHostError(
                    f"trigger {trigger} timed out after {timeout} s: its plugin host was killed"
                ) from None
            except (EOFError, OSError):
                code = process.wait_exit()
                self._discard(process)
                raise PluginHostError(
                    f"plugin host exited with {describe_exit(code)} while running trigger {trigger}"
                ) from None
            except HostProtocolError as exc:
                self._discard(process)
                raise HostProtocolError(f"{exc} (trigger {trigger}); the host was killed") from None
            except BaseException:
                # a callback failed unexpectedly: the host waits for a reply it will never get
                self._discard(process)
                raise

    def close(self) -> None:
        """Stop the host (asking first, then SIGKILL) and refuse further runs."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
            if process is not None:
                process.stop()

    def _live_process(self) -> HostProcess:
        process = self._process
        if process is not None and process.popen.poll() is not None:
            # it died between runs (a plugin's thread, a signal): no run of ours failed
            self._discard(process)
            process = None
        return process or self._start()

    def _start(self) -> HostProcess:
        try:
            process = HostProcess(
                self.python, self.plugin_dir, self.site_packages, max_frame=self.max_frame
            )
        except OSError as exc:
            raise PluginHostError(
                f"cannot start the plugin host {self.python}: {exc}",
                hint="create the plugins' venv (pluginmgr install package) or check its path",
            ) from None
        self._process = process
        return process

    def _discard(self, process: HostProcess) -> None:
        process.kill()
        self._process = None

    def _serve(
        self,
        process: HostProcess,
        trigger: str,
        database: str,
        entry: str,
        path: Path,
        deadline: float | None,
    ) -> RunResult:
        channel = process.channel
        while True:
            message = channel.receive(deadline)
            op = message["op"]
            if op == "result":
                return _result(message, entry, path)
            if op == "log":
                self.callbacks.log(trigger, message["level"], message["text"])
                continue
            try:
                value = self._service(trigger, database, message)
            except _Refused as exc:
                channel.send({"op": "reply", "error": str(exc)})
                continue
            try:
                channel.send({"op": "reply", "value": value})
            except TypeError as exc:  # nothing was sent: a value the wire cannot carry
                channel.send({"op": "reply", "error": str(exc)})

    def _service(self, trigger: str, database: str, message: dict[str, Any]) -> Any:
        op = message["op"]
        if op == "query":
            return _query(self.callbacks, trigger, message)
        if op == "write_sync":
            return _write_sync(self.callbacks, trigger, message)
        return _cache(self.callbacks.cache(trigger, database), message)


class _Refused(Exception):
    """A call the plugin made failed; the message is what the plugin's exception says."""


def _query(callbacks: HostCallbacks, trigger: str, message: dict[str, Any]) -> Any:
    db, sql, params = message["database"], message["sql"], message["params"]
    if params is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise HostProtocolError("plugin host sent query parameters that are not str")
    try:
        validate_database_name(db)
    except InvalidDatabaseNameError as exc:
        raise _Refused(f"invalid database name provided: {exc}") from None
    try:
        return callbacks.query(trigger, db, sql, params)
    except Exception as exc:  # upstream words every failure alike; the plugin sees QueryError
        raise _Refused(f"error: {exc} executing query on {db}: {sql}") from None


def _write_sync(callbacks: HostCallbacks, trigger: str, message: dict[str, Any]) -> None:
    db = message["database"]
    try:
        validate_database_name(db)
        if db == INTERNAL_DATABASE:
            raise InvalidDatabaseNameError(f"cannot write to the {INTERNAL_DATABASE} database")
        callbacks.write_sync(trigger, db, message["lines"], message["no_sync"])
    except Exception as exc:
        raise _Refused(f"error writing line protocol to {db}: {exc}") from None


def _cache(cache: PluginCacheLike, message: dict[str, Any]) -> Any:
    action, key, use_global = message["action"], message["key"], message["use_global"]
    try:
        if action == "get":
            return cache.get(key, message.get("default"), use_global=use_global)
        if action == "delete":
            return cache.delete(key, use_global=use_global)
        if action == "put":
            ttl = message.get("ttl")
            if ttl is not None and not isinstance(ttl, int | float):
                raise _Refused(f"ttl must be a number of seconds, not {type(ttl).__name__}")
            cache.put(key, message.get("value"), ttl, use_global=use_global)
            return None
    except _Refused:
        raise
    except Exception as exc:  # a bad key or ttl: the plugin's ValueError
        raise _Refused(str(exc)) from None
    raise HostProtocolError(f"plugin host sent an unknown cache action {action!r:.50}")


def _result(message: dict[str, Any], entry: str, path: Path) -> RunResult:
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
    if path.suffix != ".py":  # a directory plugin
        return IMPORT_FAILURE_MESSAGE.format(name=path.name, error=error), trace
    return error, trace
