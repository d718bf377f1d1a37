"""``influxdb3_local`` inside the plugin host: upstream's nine public names, over the channel.

Same behaviour as the server's in-process ``engine_runtime.plugins.api``: log calls join
``str(arg)`` with one space; ``write``/``write_to_db`` build the line at once and queue it (the
queue goes back with the run's result and is written only when the plugin returned);
``write_sync*`` and ``query`` are calls to the server that wait for its answer, and fail with
upstream's words (the server words the error; this side raises it as ``Exception`` or
`QueryError`). ``cache`` is the host's own `PluginCache`: values are live objects, as upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

from .sealed import SealedType

__all__ = ["Call", "PluginApi", "QueryError", "RemoteError", "queued_writes"]

#: sends one request to the server and returns its answer (or raises `RemoteError`)
Call = Callable[[dict[str, Any]], Any]


class QueryError(Exception):
    """What ``influxdb3_local.query`` raises; plugins test ``type(e).__name__ == "QueryError"``."""


class RemoteError(Exception):
    """The server answered a call with an error; the message is already worded for the plugin."""


def check_no_sync(no_sync: Any) -> None:
    """``write_sync``'s ``no_sync`` is a required bool, as upstream's signature has it."""
    if not isinstance(no_sync, bool):
        message = f"argument 'no_sync': {type(no_sync).__name__!r} object is not a bool"
        raise TypeError(message)


def build_line(line: Any) -> str:
    """``line.build()``, which must give a string (a plugin's own builder may not)."""
    built = line.build()
    if not isinstance(built, str):
        message = f"build() must return str, not {type(built).__name__!r}"
        raise TypeError(message)
    return built


def join_args(args: tuple[Any, ...]) -> str:
    """A log line from ``info/warn/error``'s arguments, as upstream joins them."""
    return " ".join(str(arg) for arg in args)


@final
class _State(metaclass=SealedType):
    __slots__ = ("cache", "call", "database", "queue", "sweep", "trigger")

    def __init__(
        self, trigger: str, database: str, call: Call, cache: Any, sweep: Callable[[], None]
    ) -> None:
        self.trigger = trigger
        self.database = database
        self.call = call
        self.queue: dict[str, list[str]] = {}
        self.cache = cache
        self.sweep = sweep


@final
class PluginApi(metaclass=SealedType):
    """The ``influxdb3_local`` handle for one run in the host."""

    __slots__ = ("__state__",)

    def __init__(
        self, trigger: str, database: str, call: Call, cache: Any, sweep: Callable[[], None]
    ) -> None:
        self.__state__ = _State(trigger, database, call, cache, sweep)

    # -- logging ------------------------------------------------------------------------------

    def info(self, *args: Any) -> None:
        self.__state__.call({"op": "log", "level": "INFO", "text": join_args(args)})

    def warn(self, *args: Any) -> None:
        self.__state__.call({"op": "log", "level": "WARN", "text": join_args(args)})

    def error(self, *args: Any) -> None:
        self.__state__.call({"op": "log", "level": "ERROR", "text": join_args(args)})

    # -- writes -------------------------------------------------------------------------------

    def write(self, line: Any) -> None:
        state = self.__state__
        state.queue.setdefault(state.database, []).append(build_line(line))

    def write_to_db(self, db_name: str, line: Any) -> None:
        self.__state__.queue.setdefault(str(db_name), []).append(build_line(line))

    def write_sync(self, line: Any, no_sync: bool) -> None:
        _write_now(self.__state__, self.__state__.database, line, no_sync)

    def write_sync_to_db(self, db_name: str, line: Any, no_sync: bool) -> None:
        _write_now(self.__state__, str(db_name), line, no_sync)

    # -- queries and cache --------------------------------------------------------------------

    def query(
        self, query: str, args: Mapping[str, str] | None = None, database: str | None = None
    ) -> list[dict[str, Any]]:
        state = self.__state__
        db = state.database if database is None else database
        message = {"op": "query", "sql": query, "params": check_params(args), "database": db}
        try:
            rows = state.call(message)
        except RemoteError as exc:
            raise QueryError(str(exc)) from None
        return list(rows)

    @property
    def cache(self) -> Any:
        state = self.__state__
        state.sweep()
        return state.cache


def queued_writes(api: PluginApi) -> dict[str, list[str]]:
    """The lines ``api``'s plugin queued, per database in first-use order."""
    return api.__state__.queue


def _write_now(state: _State, database: str, line: Any, no_sync: Any) -> None:
    check_no_sync(no_sync)
    text = build_line(line)
    request = {"op": "write_sync", "database": database, "lines": text, "no_sync": no_sync}
    try:
        state.call(request)
    except RemoteError as exc:
        # upstream raises a plain Exception, which plugins catch as such
        raise Exception(str(exc)) from None


def check_params(args: Mapping[str, str] | None) -> dict[str, str] | None:
    """``query``'s ``args``: None or a dict of str to str, as upstream accepts (a copy)."""
    if args is None:
        return None
    if not isinstance(args, Mapping):
        message = f"argument 'args': {type(args).__name__!r} object is not a dict"
        raise TypeError(message)
    for key, value in args.items():
        if not isinstance(key, str) or not isinstance(value, str):
            message = (
                f"argument 'args': query parameters must be str, got {key!r}: "
                f"{type(value).__name__} (pass str(value))"
            )
            raise TypeError(message)
    return dict(args)
