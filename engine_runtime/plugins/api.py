"""``influxdb3_local``: the object every plugin entry point receives (engine-behavior.md §5.6).

Its public surface is exactly upstream's nine names — ``dir()`` minus dunders is
``{info, warn, error, query, write, cache, write_to_db, write_sync, write_sync_to_db}`` — so
the state lives behind one dunder slot. The behaviour the plugin library relies on:

* ``info/warn/error(*args)`` join ``str(arg)`` with one space;
* ``write``/``write_to_db`` call ``line.build()`` at once (build errors raise in the plugin) and
  queue the line; the runner writes the queue only after the plugin returns successfully;
* ``write_sync``/``write_sync_to_db`` write now (read-your-writes) and raise a plain
  ``Exception`` on failure; ``no_sync`` is a required ``bool``: ``True`` returns once the rows
  are queryable, without waiting for the durable store's WAL flush (as HTTP ``no_sync=true``);
* ``query`` raises `QueryError` with upstream's words.

`plugin_call` wraps each call of a plugin: it marks the thread as running plugin code (what
``pluginmgr``'s ``os._exit`` guard checks, `in_plugin_call`) and ends a forked child that comes
back from the plugin, so that a plugin's ``os.fork()`` never makes a second server. The class
refuses assigned attributes (`PluginApi.write = ...` raises), so one plugin cannot change what
another trigger's handle does by patching the class.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn, final

from ..catalog import INTERNAL_DATABASE
from ..errors import DatabaseNotFoundError, InvalidDatabaseNameError, QueryExecutionError
from ..host.guest.pluginmgr_guest.api import build_line, check_no_sync, check_params, join_args
from ..store import check_database_name
from .sealed import SealedType

if TYPE_CHECKING:
    from ..cache import PluginCache
    from ..store import Store

__all__ = [
    "LogSink",
    "PluginApi",
    "QueryError",
    "SyncWriter",
    "WriteQueue",
    "in_plugin_call",
    "plugin_call",
    "write_queue",
]

#: receives (level, text) for each log call; level is INFO, WARN or ERROR
LogSink = Callable[[str, str], None]
#: writes (database, line protocol, no_sync) now; raises on failure
SyncWriter = Callable[[str, str, bool], None]


#: set while this thread (or task) runs a plugin; a ContextVar, so each thread has its own
_IN_PLUGIN: Final = contextvars.ContextVar("in_plugin_call", default=False)
#: the real exit, taken before anything can replace ``os._exit``
_EXIT: Final = os._exit


def in_plugin_call() -> bool:
    """Whether the calling thread is inside `plugin_call` (running plugin code)."""
    return _IN_PLUGIN.get()


@contextlib.contextmanager
def plugin_call() -> Iterator[None]:
    """Wrap one call of a plugin's entry point.

    A process forked by the plugin that comes back here exits at once (status 0, or 1 when the
    plugin raised in it): it holds a copy of the whole server and must not go on as one.
    """
    pid = os.getpid()
    marker = _IN_PLUGIN.set(True)
    status = 0
    try:
        yield
    except BaseException:
        status = 1
        raise
    finally:
        _IN_PLUGIN.reset(marker)
        if os.getpid() != pid:
            _end_child(status)


def _end_child(status: int) -> NoReturn:
    # no cleanup: atexit handlers, buffered files and the store belong to the server
    _EXIT(status)


class QueryError(Exception):
    """What ``influxdb3_local.query`` raises; plugins test ``type(e).__name__ == "QueryError"``."""


@final
class WriteQueue(metaclass=SealedType):
    """Lines queued by ``write``/``write_to_db``, per database in first-use order."""

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def add(self, database: str, line: str) -> None:
        self._lines.setdefault(database, []).append(line)

    def take(self) -> dict[str, list[str]]:
        """Every queued line, emptying the queue."""
        lines, self._lines = self._lines, {}
        return lines


@final
class _State(metaclass=SealedType):
    __slots__ = ("cache", "database", "log", "queue", "store", "sweep", "sync_write")

    def __init__(
        self,
        database: str,
        store: Store,
        cache: PluginCache,
        log: LogSink,
        sync_write: SyncWriter,
        sweep: Callable[[], None] | None,
    ) -> None:
        self.database = database
        self.store = store
        self.cache = cache
        self.log = log
        self.sync_write = sync_write
        self.sweep = sweep
        self.queue = WriteQueue()


@final
class PluginApi(metaclass=SealedType):
    """The ``influxdb3_local`` handle for one plugin call.

    :param database: the trigger's database (the default for writes and queries).
    :param store: where queries run.
    :param cache: the trigger's (or test run's) cache handle.
    :param log: receives each log line.
    :param sync_write: performs ``write_sync*``; defaults to writing to ``store``.
    :param sweep: runs when the plugin reads ``cache`` (the store's periodic expiry sweep).
    """

    __slots__ = ("__state__",)

    def __init__(
        self,
        database: str,
        *,
        store: Store,
        cache: PluginCache,
        log: LogSink,
        sync_write: SyncWriter | None = None,
        sweep: Callable[[], None] | None = None,
    ) -> None:
        writer = sync_write or _store_writer(store)
        self.__state__ = _State(database, store, cache, log, writer, sweep)

    # -- logging ------------------------------------------------------------------------------

    def info(self, *args: Any) -> None:
        self.__state__.log("INFO", join_args(args))

    def warn(self, *args: Any) -> None:
        self.__state__.log("WARN", join_args(args))

    def error(self, *args: Any) -> None:
        self.__state__.log("ERROR", join_args(args))

    # -- writes -------------------------------------------------------------------------------

    def write(self, line: Any) -> None:
        state = self.__state__
        state.queue.add(state.database, build_line(line))

    def write_to_db(self, db_name: str, line: Any) -> None:
        self.__state__.queue.add(str(db_name), build_line(line))

    def write_sync(self, line: Any, no_sync: bool) -> None:
        state = self.__state__
        _write_now(state, state.database, line, no_sync)

    def write_sync_to_db(self, db_name: str, line: Any, no_sync: bool) -> None:
        _write_now(self.__state__, str(db_name), line, no_sync)

    # -- queries and cache --------------------------------------------------------------------

    def query(
        self, query: str, args: Mapping[str, str] | None = None, database: str | None = None
    ) -> list[dict[str, Any]]:
        state = self.__state__
        db = state.database if database is None else database
        params = check_params(args)
        try:
            check_database_name(db)
        except InvalidDatabaseNameError as exc:
            raise QueryError(f"invalid database name provided: {exc}") from None
        try:
            return state.store.query(db, query, params)
        except (QueryExecutionError, DatabaseNotFoundError) as exc:
            raise QueryError(f"error: {exc} executing query on {db}: {query}") from None

    @property
    def cache(self) -> PluginCache:
        state = self.__state__
        if state.sweep is not None:
            state.sweep()
        return state.cache


def write_queue(api: PluginApi) -> WriteQueue:
    """The lines ``api``'s plugin queued with ``write``/``write_to_db``; the runner flushes them."""
    return api.__state__.queue


def _write_now(state: _State, database: str, line: Any, no_sync: Any) -> None:
    check_no_sync(no_sync)
    text = build_line(line)
    try:
        check_database_name(database)
        if database == INTERNAL_DATABASE:
            raise InvalidDatabaseNameError(f"cannot write to the {INTERNAL_DATABASE} database")
        state.sync_write(database, text, no_sync)
    except Exception as exc:
        # upstream raises a plain Exception, which plugins catch as such
        raise Exception(f"error writing line protocol to {database}: {exc}") from None


def _store_writer(store: Store) -> SyncWriter:
    def write(database: str, text: str, no_sync: bool) -> None:
        store.write_lp(database, text, accept_partial=False, no_sync=no_sync)

    return write
