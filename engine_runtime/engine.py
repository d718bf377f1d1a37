"""The processing engine: triggers from the catalog, running on writes, schedules and requests.

Data flows one way: `write_lp` writes to the store (rows queryable at once), then hands each
enabled write trigger of that database the ``table_batches`` it asked for; the scheduler thread
hands schedule triggers their fire times; `handle_request` routes ``/api/v3/engine/<path>``.
Each trigger drains its own bounded queue (`TriggerWorker`). Plugins' buffered writes go back
through `write_lp`, so other triggers see them, as in InfluxDB 3.

Errors follow the trigger's ``error_behavior``: ``log`` records the error with its traceback;
``retry`` re-runs the same event a bounded number of times with exponential back-off; ``disable``
disables the trigger *in the catalog* (it stays disabled after a restart, unlike upstream). A
per-trigger execution timeout interrupts a runaway plugin; a plugin stuck in a C call gets its
thread abandoned and the trigger a fresh one. Nothing a plugin does stops the engine.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from .cache import CacheStore
from .catalog import (
    DATABASE_NOT_FOUND_MESSAGE,
    INTERNAL_DATABASE,
    Catalog,
    TriggerDefinition,
    TriggerSettings,
)
from .dispatch import Event, TriggerWorker
from .errors import (
    DatabaseNotFoundError,
    EngineError,
    InvalidDatabaseNameError,
    PluginError,
    WriteError,
)
from .loader import Loader, LocalPluginSource, PluginFailure, describe_failure
from .observability import DataStats, LogRing, StatsRegistry
from .plugin_api import PluginApi, write_queue
from .responses import HttpResponse, error_response, request_headers, to_http_response
from .scheduler import Fire, SchedulerThread
from .store import MemoryStore, WriteResult, batches_to_rows
from .system_tables import publish_system_tables
from .triggers import TriggerSpec, format_duration
from .watchdog import PluginTimeout, Watchdog

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from .loader import PluginSource
    from .store import Store

__all__ = ["INTERNAL_WRITE_MESSAGE", "ProcessingEngine", "SourceFactory"]

#: why a write to ``_internal`` is refused (upstream refuses it as a database name)
INTERNAL_WRITE_MESSAGE: Final = (
    f"invalid database name: {INTERNAL_DATABASE} is the server's internal database and cannot "
    "be written to"
)

#: turns a trigger's plugin reference into code the loader can run (pluginmgr wires its resolver)
SourceFactory = Callable[[TriggerDefinition], "PluginSource"]

_Key = tuple[str, str]
_CACHE_FILE: Final = "cache.pickle"
_NOT_FOUND: Final = HttpResponse(
    404, {"Content-Type": "application/json"}, b'{"error": "not found"}'
)
_NO_DEADLINE: Final = contextlib.nullcontext()
_ENTRY: Final = {
    "WalRows": ("process_writes", "wal plugin"),
    "Schedule": ("process_scheduled_call", "schedule plugin"),
    "Request": ("process_request", "request plugin"),
}


@final
class _Trigger:
    """A running trigger: its definition, code source and worker."""

    __slots__ = (
        "args",
        "definition",
        "function",
        "key",
        "kind",
        "one_at_a_time",
        "source",
        "stop",
        "worker",
    )

    def __init__(
        self, definition: TriggerDefinition, source: PluginSource, worker: TriggerWorker
    ) -> None:
        self.definition = definition
        self.key: _Key = (definition.database, definition.trigger_name)
        self.kind = definition.spec.plugin_type
        self.function = _ENTRY[self.kind][0]
        self.args = None if definition.arguments is None else dict(definition.arguments)
        self.source = source
        self.worker = worker
        self.stop = threading.Event()
        # a synchronous request trigger answers one request at a time, on the caller's thread
        self.one_at_a_time = (
            contextlib.nullcontext() if definition.settings.run_async else (threading.Lock())
        )


@final
class ProcessingEngine:
    """Runs the catalog's triggers against a store.

    :param catalog: databases and triggers (persisted when it has a path).
    :param store: where writes land and queries run; a fresh `MemoryStore` by default.
    :param source_for: the plugin code of a trigger; default: files under ``plugin_dir``.
    :param data_dir: where the cache is saved on shutdown and every ``cache_save_interval``.
    :param execution_timeout: seconds a run may take unless its trigger sets its own; None: no
        limit.
    :param timeout_grace: seconds after a timeout before a thread stuck in a C call is given up
        and its trigger gets a fresh one.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        store: Store | None = None,
        source_for: SourceFactory | None = None,
        plugin_dir: Path | None = None,
        data_dir: Path | None = None,
        execution_timeout: float | None = None,
        queue_size: int = 60,
        clock: Callable[[], float] = time.time,
        cache_save_interval: float = 60.0,
        max_async: int = 32,
        timeout_grace: float = 2.0,
    ) -> None:
        self.catalog = catalog
        self.store: Store = store if store is not None else MemoryStore()
        self.plugin_dir = plugin_dir
        self.data_dir = data_dir
        self.execution_timeout = execution_timeout
        self.caches = CacheStore()
        self.loader = Loader()
        self.logs = LogRing()
        self.stats = StatsRegistry()
        #: writes and queries that reached the engine (a metrics exporter reads it)
        self.data_stats = DataStats()
        self.watchdog = Watchdog(on_abandon=self._abandoned, grace=timeout_grace)
        self._source_for = source_for or self._local_source
        self._queue_size = queue_size
        self._lock = threading.RLock()
        self._triggers: dict[_Key, _Trigger] = {}
        self._wal: dict[str, list[_Trigger]] = {}
        self._routes: dict[str, _Trigger] = {}
        self._failed: dict[_Key, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_async, thread_name_prefix="trigger-async")
        self._scheduler = SchedulerThread(
            self._on_fire, clock=clock, on_idle=self.save_cache, idle_interval=cache_save_interval
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Restore the cache, start every enabled trigger (failures are logged), then schedules."""
        if self.plugin_dir is not None:
            os.environ.setdefault("PLUGIN_DIR", str(self.plugin_dir))
        self._restore_cache()
        # exists and is queryable, as upstream; nothing in it needs a flush before serving
        self.store.create_database(INTERNAL_DATABASE, no_sync=True)
        publish_system_tables(self)
        for definition in self.catalog.triggers():
            if not definition.disabled:
                self._start(definition)
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop schedules, let running plugins finish, save the cache."""
        self._scheduler.stop()
        with self._lock:
            triggers = list(self._triggers.values())
        for trigger in triggers:
            self._stop(trigger, drop_cache=False)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.save_cache()

    def save_cache(self) -> None:
        if self.data_dir is not None:
            report = self.caches.save(self.data_dir / _CACHE_FILE)
            for namespace, key, reason in report.skipped:
                self.logs.add("", namespace, "WARN", f"cache entry {key!r} not saved: {reason}")

    def _restore_cache(self) -> None:
        if self.data_dir is not None:
            self.caches.load(self.data_dir / _CACHE_FILE)

    # -- catalog operations -------------------------------------------------------------------

    def create_database(self, name: str) -> bool:
        self.store.create_database(name)
        return self.catalog.create_database(name)

    def databases(self) -> list[str]:
        """Every database, ``_internal`` included, sorted (``SHOW DATABASES``, the listing)."""
        return sorted({INTERNAL_DATABASE, *self.catalog.databases()})

    def create_table(
        self,
        database: str,
        table: str,
        *,
        tags: Sequence[str] = (),
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Declare an empty table with fixed column types; creates the database if needed.

        ``fields`` are ``(name, kind)``, kind ``i64``/``u64``/``f64``/``bool``/``string``. Raises
        as `Store.create_table`, or InvalidDatabaseNameError for ``_internal``.
        """
        if database == INTERNAL_DATABASE:
            raise InvalidDatabaseNameError(INTERNAL_WRITE_MESSAGE)
        self.store.create_table(database, table, tags=tags, fields=fields)
        if not self.catalog.has_database(database):
            self.catalog.create_database(database)

    def delete_table(self, database: str, table: str) -> None:
        """Delete a table and its rows; raises DatabaseNotFoundError or NotFoundError."""
        if not self.catalog.has_database(database):
            raise DatabaseNotFoundError(DATABASE_NOT_FOUND_MESSAGE.format(db=database))
        self.store.delete_table(database, table)

    def delete_database(self, name: str) -> None:
        """Stop the database's triggers, drop their caches, remove it from the catalog.

        The rows stay in the store until the server's durable store handles deletes (issue 6).
        """
        for definition in self.catalog.delete_database(name):
            self._stop_key((name, definition.trigger_name), drop_cache=True)
            self.stats.drop(name, definition.trigger_name)

    def create_trigger(
        self,
        database: str,
        name: str,
        plugin_filename: str,
        spec: TriggerSpec | str,
        *,
        settings: TriggerSettings | None = None,
        arguments: Mapping[str, str] | None = None,
        disabled: bool = False,
    ) -> TriggerDefinition:
        """Add a trigger to the catalog and, unless disabled, start it."""
        definition = self.catalog.create_trigger(
            database,
            name,
            plugin_filename,
            spec,
            settings=settings or TriggerSettings(),
            arguments=arguments,
            disabled=disabled,
        )
        if not disabled:
            self._start(definition)
        return definition

    def check_trigger(
        self,
        database: str,
        name: str,
        plugin_filename: str,
        spec: TriggerSpec | str,
        *,
        arguments: Mapping[str, str] | None = None,
    ) -> TriggerSpec:
        """Raise what `create_trigger` would (database, name, path, spec), changing nothing."""
        return self.catalog.check_new_trigger(
            database, name, plugin_filename, spec, arguments=arguments
        )

    def enable_trigger(self, database: str, name: str) -> None:
        """Enable (persisted) and start it — also when it was enabled but not running."""
        self.catalog.enable_trigger(database, name)
        with self._lock:
            running = (database, name) in self._triggers
        if not running:
            self._start(self.catalog.get_trigger(database, name))

    def disable_trigger(self, database: str, name: str) -> None:
        """Disable (persisted), stop after the current run, and drop its cache."""
        self.catalog.disable_trigger(database, name)
        self._stop_key((database, name), drop_cache=True)

    def delete_trigger(self, database: str, name: str, *, force: bool = False) -> None:
        self.catalog.delete_trigger(database, name, force=force)
        self._stop_key((database, name), drop_cache=True)
        self.stats.drop(database, name)

    def trigger_state(self, database: str, name: str) -> str:
        """``running``, ``disabled`` or ``failed: <why>`` (a plugin that could not be loaded)."""
        key = (database, name)
        with self._lock:
            if key in self._triggers:
                return "running"
            if key in self._failed:
                return f"failed: {self._failed[key]}"
        return "disabled"

    # -- the data path ------------------------------------------------------------------------

    def write_lp(
        self,
        database: str,
        text: str,
        *,
        precision: str = "ns",
        accept_partial: bool = True,
        default_time_ns: int | None = None,
        no_sync: bool = False,
    ) -> WriteResult:
        """Write line protocol, then run the database's write triggers on what was written.

        ``no_sync`` acknowledges before the WAL flush, as upstream (`Store.write_lp`). A write to
        ``_internal`` raises InvalidDatabaseNameError and changes nothing.
        """
        return self._write(
            database,
            text,
            origin="client",
            precision=precision,
            accept_partial=accept_partial,
            default_time_ns=default_time_ns,
            no_sync=no_sync,
        )

    def _write(self, database: str, text: str, *, origin: str, **options: Any) -> WriteResult:
        """`write_lp`, counted in `data_stats` under ``origin`` (``client`` or ``plugin``)."""
        try:
            if database == INTERNAL_DATABASE:
                raise InvalidDatabaseNameError(INTERNAL_WRITE_MESSAGE)
            result = self.store.write_lp(database, text, **options)
        except WriteError as exc:
            self.data_stats.record_write(origin, written=0, rejected=len(exc.line_errors))
            raise
        except EngineError:
            self.data_stats.record_write(origin, written=0, rejected=0)
            raise
        written, rejected = result.lines_written, len(result.errors)
        self.data_stats.record_write(origin, written=written, rejected=rejected)
        if not self.catalog.has_database(database):
            self.catalog.create_database(database)
        self._dispatch_writes(database, result)
        return result

    def query(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        with self.data_stats.counting_query():
            return self.store.query(database, sql, params)

    def query_for_http(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """`query` as InfluxDB 3's HTTP API answers it: timestamps as ISO 8601 strings."""
        batches = getattr(self.store, "query_batches", None)
        with self.data_stats.counting_query():
            if batches is None:
                return self.store.query(database, sql, params)
            return batches_to_rows(batches(database, sql, params), iso_timestamps=True)

    def query_stream(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """`query` as Arrow, as InfluxDB 3's Flight API answers it: the schema, then the batches
        one at a time (see `MemoryStore.query_stream`). Counted in `data_stats` when planned."""
        stream = getattr(self.store, "query_stream", None)
        with self.data_stats.counting_query():
            if stream is not None:
                result: tuple[pa.Schema, Iterator[pa.RecordBatch]] = stream(database, sql, params)
                return result
            import pyarrow as pa  # only stores without Arrow results need it here

            table = pa.Table.from_pylist(self.store.query(database, sql, params))
            return table.schema, iter(table.to_batches())

    def handle_request(
        self,
        path: str,
        *,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Run the request trigger at ``path`` and convert its answer (§5.5); 404 if none.

        :param timeout: seconds the plugin may run (over the trigger's own limit, if shorter).
        """
        with self._lock:
            trigger = self._routes.get(path)
        if trigger is None:
            return _NOT_FOUND
        reply: Future[Any] = Future()
        clean = request_headers(headers.items())
        event = Event((dict(query_params), clean, body), reply=reply, timeout=timeout)
        # run on the caller's (the HTTP server's worker) thread: no second hand-off; a
        # synchronous trigger still answers one request at a time
        with trigger.one_at_a_time:
            if trigger.stop.is_set():
                return error_response(f"trigger {trigger.definition.trigger_name} was stopped")
            self._run_event(trigger, event)
        response = reply.result(timeout=0)
        assert isinstance(response, HttpResponse)  # noqa: S101 - _run_event replies with one
        return response

    # -- starting and stopping ----------------------------------------------------------------

    def _local_source(self, definition: TriggerDefinition) -> PluginSource:
        if self.plugin_dir is None:
            message = f"trigger {definition.trigger_name}: no plugin directory is configured"
            raise PluginError(message)
        return LocalPluginSource(self.plugin_dir, definition.plugin_filename)

    def _start(self, definition: TriggerDefinition) -> None:
        key = (definition.database, definition.trigger_name)
        try:
            source = self._source_for(definition)
            source.load()  # read (or fetch) it now: a missing plugin is reported, not started
        except Exception as exc:  # any failure to load must not stop the other triggers
            with self._lock:
                self._failed[key] = str(exc)
            self.logs.add(*key, "ERROR", f"trigger not started: {exc}")
            return
        worker = TriggerWorker(
            definition.trigger_name,
            lambda event: self._run_event(trigger, event),
            run_async=definition.settings.run_async,
            pool=self._pool,
            queue_size=self._queue_size,
        )
        trigger = _Trigger(definition, source, worker)
        with self._lock:
            self._failed.pop(key, None)
            self._triggers[key] = trigger
            if trigger.kind == "WalRows":
                self._wal.setdefault(definition.database, []).append(trigger)
            elif trigger.kind == "Request":
                self._routes[definition.spec.value] = trigger
        worker.start()
        if trigger.kind == "Schedule":
            self._scheduler.add(key, definition.spec)

    def _stop_key(self, key: _Key, *, drop_cache: bool) -> None:
        with self._lock:
            trigger = self._triggers.get(key)
            self._failed.pop(key, None)
        if trigger is not None:
            self._stop(trigger, drop_cache=drop_cache)
        elif drop_cache:
            self.caches.drop_trigger(*key)

    def _stop(self, trigger: _Trigger, *, drop_cache: bool) -> None:
        key = trigger.key
        with self._lock:
            if self._triggers.get(key) is not trigger:
                return
            del self._triggers[key]
            wal = self._wal.get(key[0], [])
            if trigger in wal:
                wal.remove(trigger)
            if self._routes.get(trigger.definition.spec.value) is trigger:
                del self._routes[trigger.definition.spec.value]
        self._scheduler.remove(key)
        trigger.stop.set()
        trigger.worker.stop(wait=True)
        if drop_cache:
            self.caches.drop_trigger(*key)

    def _abandoned(self, thread_ident: int) -> None:
        with self._lock:
            triggers = list(self._triggers.values())
        for trigger in triggers:
            trigger.worker.replace_thread(thread_ident)

    # -- events -------------------------------------------------------------------------------

    def _dispatch_writes(self, database: str, result: WriteResult) -> None:
        with self._lock:
            triggers = list(self._wal.get(database, ()))
        if not triggers or not result.table_batches:
            return
        for trigger in triggers:
            spec = trigger.definition.spec
            batches = result.table_batches
            if spec.kind == "table":
                # upstream calls a table: trigger with [] for writes to other tables; we skip them
                batches = [b for b in batches if b["table_name"] == spec.value]
                if not batches:
                    continue
            if not trigger.worker.submit(Event((batches,))):
                text = "write event dropped: the trigger's queue is full or it is stopping"
                self.logs.add(*trigger.key, "WARN", text)

    def _on_fire(self, fire: Fire) -> None:
        with self._lock:
            trigger = self._triggers.get(fire.key)
        if trigger is not None:
            call_time = fire.at.replace(tzinfo=None, microsecond=0)  # naive UTC, §5.3
            trigger.worker.submit(Event((call_time,), scheduled=True))

    def _sync_write(self, database: str, text: str, no_sync: bool) -> None:
        self._write(database, text, origin="plugin", accept_partial=False, no_sync=no_sync)

    def _deadline(
        self, settings: TriggerSettings, event: Event
    ) -> contextlib.AbstractContextManager[Any]:
        limits = (settings.execution_timeout or self.execution_timeout, event.timeout)
        chosen = min((t for t in limits if t is not None), default=None)
        return _NO_DEADLINE if chosen is None else self.watchdog.watch(chosen)

    def _run_event(self, trigger: _Trigger, event: Event) -> None:
        database, name = trigger.key
        definition = trigger.definition

        def log(level: str, text: str) -> None:
            self.logs.add(database, name, level, text)

        log("INFO", _start_line(trigger.kind, event))
        api = PluginApi(
            database,
            store=self.store,
            cache=self.caches.for_trigger(database, name),
            log=log,
            sync_write=self._sync_write,
            sweep=self.caches.maybe_sweep,
        )
        started_ns = time.time_ns()
        clock = time.perf_counter_ns()
        try:
            with self._deadline(definition.settings, event):
                entry = self.loader.entry_point(trigger.source.load(), trigger.function)
                result = entry(api, *event.positional, trigger.args)
                if trigger.kind == "Request":
                    result = to_http_response(result)
        except (Exception, SystemExit, PluginTimeout) as exc:  # a plugin never takes us down
            elapsed = time.perf_counter_ns() - clock
            failure = describe_failure(exc)
            self.stats.record(
                database, name, started_ns=started_ns, duration_ns=elapsed, error=failure.message
            )
            self._failed_run(trigger, event, failure)
            return
        elapsed = time.perf_counter_ns() - clock
        log("INFO", f"finished execution in {format_duration(elapsed)}")
        self.stats.record(database, name, started_ns=started_ns, duration_ns=elapsed)
        self._flush(trigger, api)
        if event.reply is not None:
            event.reply.set_result(result)

    def _flush(self, trigger: _Trigger, api: PluginApi) -> None:
        context = _ENTRY[trigger.kind][1]
        for database, lines in write_queue(api).take().items():
            try:
                self._write(database, "\n".join(lines), origin="plugin", accept_partial=False)
            except EngineError as exc:
                text = f"error running {context}: error writing back lines to {database}: {exc}"
                self.logs.add(*trigger.key, "ERROR", text)

    def _failed_run(self, trigger: _Trigger, event: Event, failure: PluginFailure) -> None:
        database, name = trigger.key
        message, traceback = failure.message, failure.traceback
        detail = f"{message}\n{traceback}" if traceback else message
        if trigger.kind == "Request":  # error_behavior does not apply: always a 500
            self.logs.add(database, name, "ERROR", f"error running request plugin: {detail}")
            if event.reply is not None:
                event.reply.set_result(error_response(failure.http_body))
            return
        context = _ENTRY[trigger.kind][1]
        settings = trigger.definition.settings
        if settings.error_behavior == "retry" and event.attempt < settings.retry_attempts:
            delay = settings.retry_backoff * 2**event.attempt
            event.attempt += 1
            text = (
                f"error executing {context}: {detail}\nwill retry in {delay:g}s "
                f"(attempt {event.attempt} of {settings.retry_attempts})"
            )
            self.logs.add(database, name, "WARN", text)
            if not trigger.stop.wait(delay):
                self._run_event(trigger, event)
            return
        self.logs.add(database, name, "ERROR", f"error executing {context}: {detail}")
        if settings.error_behavior == "retry":
            text = f"giving up after {settings.retry_attempts + 1} attempts: {message}"
            self.logs.add(database, name, "ERROR", text)
        elif settings.error_behavior == "disable":
            self.logs.add(database, name, "ERROR", f"disabling trigger {name} due to error")
            self.catalog.disable_trigger(database, name)
            threading.Thread(
                target=self._stop_key, args=(trigger.key,), kwargs={"drop_cache": True}
            ).start()  # not on this thread: stopping waits for the worker, which is us


def _start_line(kind: str, event: Event) -> str:
    if kind == "Schedule":
        (call_time,) = event.positional
        return f"starting execution with scheduled time {call_time:%Y-%m-%d %H:%M:%S} UTC"
    return f"starting execution of {_ENTRY[kind][1]}."
