"""The processing engine: triggers from the catalog, running on writes, schedules and requests.

Data flows one way: `write_lp` writes to the store (rows queryable at once), then hands each
enabled write trigger of that database the ``table_batches`` it asked for; the scheduler thread
hands schedule triggers their fire times; `handle_request` routes ``/api/v3/engine/<path>``.
Each trigger drains its own bounded queue (`TriggerWorker`). Plugins' buffered writes go back
through `write_lp`, so other triggers see them, as in InfluxDB 3.

The engine is the front: the catalog operations (inherited from `engine_catalog`) and the data
path. The started triggers live in a `TriggerSet` (`trigger_set`), and a `TriggerRunner` (`runner`)
runs their events and applies their ``error_behavior``: ``log`` records the error with the plugin's
traceback; ``retry`` re-runs the same event a bounded number of times with exponential back-off,
each attempt logged with its own traceback; ``disable`` disables the trigger *in the catalog*,
request triggers included (it stays disabled after a restart, unlike upstream). Plugins run in
plugin host processes (`hosts`, a `HostPool`): one shared by the node's triggers on the plugins'
venv, and one per isolated trigger. A per-trigger execution timeout interrupts a runaway plugin
there; a trigger whose host keeps dying is *failed*: disabled in the catalog with the reason, shown
as ``failed: <why>`` until it is enabled again. Request triggers run on their trigger's worker too,
never on the caller's thread, and a caller waits at most the timeout. Nothing a plugin does stops
the engine: it is not in the engine's process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from .catalog import INTERNAL_DATABASE, Catalog
from .dispatch import WorkerPool
from .engine_catalog import INTERNAL_WRITE_MESSAGE, CatalogOperations
from .errors import (
    EngineError,
    InvalidDatabaseNameError,
    PluginError,
    WriteError,
)
from .host.pool import HostPool
from .host_runs import EngineCallbacks
from .observability import LogRing
from .plugins.loader import LocalPluginSource
from .plugins.responses import HttpResponse
from .runner import TriggerRunner
from .scheduler import SchedulerThread
from .stats import DataStats, StatsRegistry
from .store import MemoryStore, WriteResult, batches_to_rows, validate_database_name
from .system_tables import publish_system_tables
from .trigger_definition import TriggerDefinition
from .trigger_set import TriggerSet
from .value_caches.registry import ValueCaches

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from .plugins.loader import PluginSource
    from .running_trigger import RunningTrigger
    from .store import Store

__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "ProcessingEngine",
    "SourceFactory",
]

#: seconds a plugin run may take when the server is not told otherwise (``0`` there: no limit)
DEFAULT_EXECUTION_TIMEOUT: Final = 60.0

#: turns a trigger's plugin reference into code the loader can run (pluginmgr wires its resolver)
SourceFactory = Callable[[TriggerDefinition], "PluginSource"]

_NOT_FOUND: Final = HttpResponse(
    404, {"Content-Type": "application/json"}, b'{"error": "not found"}'
)


@final
class ProcessingEngine(CatalogOperations):
    """Runs the catalog's triggers against a store.

    :param catalog: databases and triggers (persisted when it has a path).
    :param store: where writes land and queries run; a fresh `MemoryStore` by default.
    :param source_for: the plugin code of a trigger; default: files under ``plugin_dir``.
    :param data_dir: where the cache is saved on shutdown and every ``cache_save_interval``.
    :param execution_timeout: seconds a run may take unless its trigger sets its own; None: no
        limit.
    :param timeout_grace: seconds an interrupted run (timeout, disable) has to stop before its
        plugin host is replaced.
    :param venv: the plugins' venv, whose interpreter runs the shared plugin host; default:
        ``<plugin_dir>/venv``.
    :param plugin_memory_limit: bytes of address space each plugin host may use.
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
        venv: Path | None = None,
        plugin_memory_limit: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.store: Store = store if store is not None else MemoryStore()
        self.plugin_dir = plugin_dir
        self.data_dir = data_dir
        self.logs = LogRing()
        self.stats = StatsRegistry()
        #: writes and queries that reached the engine (a metrics exporter reads it)
        self.data_stats = DataStats()
        #: last-value and distinct-value caches, fed by `_write`
        self.value_caches = ValueCaches(catalog, self.store)
        callbacks = EngineCallbacks(
            self.store, self.logs, self._plugin_write, query_timeout=self._plugin_query_timeout
        )
        self.hosts = HostPool(
            plugin_dir,
            callbacks,
            cache_dir=data_dir,
            venv=venv,
            memory_limit=plugin_memory_limit,
            grace=timeout_grace,
        )
        self._pool = WorkerPool(max_async, name="trigger-async")
        self._scheduler = SchedulerThread(
            lambda fire: self._triggers.on_fire(fire),
            clock=clock,
            on_idle=self._idle,
            idle_interval=cache_save_interval,
        )
        self._runner = TriggerRunner(
            hosts=self.hosts,
            logs=self.logs,
            stats=self.stats,
            write_back=self._plugin_write,
            disable=self._disable_failed,
            fail=self._fail_soon,
            execution_timeout=execution_timeout,
        )
        self._execution_timeout = execution_timeout
        set_retention = getattr(self.store, "set_retention", None)
        if set_retention is not None:  # the catalog's periods, read by every query
            set_retention(self.catalog.retention_ns)
        self._triggers = TriggerSet(
            source_for=source_for or self._local_source,
            runner=self._runner,
            scheduler=self._scheduler,
            pool=self._pool,
            drop_cache=self.hosts.drop_cache,
            logs=self.logs,
            queue_size=queue_size,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def _plugin_query_timeout(self, trigger: str) -> float | None:
        """The execution timeout of ``trigger`` (``database/name``): how long its queries run."""
        database, _, name = trigger.partition("/")
        try:
            own = self.catalog.get_trigger(database, name).settings.execution_timeout
        except EngineError:  # a dry run's or a deleted trigger's: the node's default
            own = None
        return own or self._execution_timeout

    def start(self) -> None:
        """Start every enabled trigger (failures are logged), then schedules; a plugin host
        restores its saved cache when it starts."""
        if self.plugin_dir is not None:  # this node's, also over one inherited from a parent
            os.environ["PLUGIN_DIR"] = str(self.plugin_dir)
        # exists and is queryable, as upstream; nothing in it needs a flush before serving
        self.store.create_database(INTERNAL_DATABASE, no_sync=True)
        publish_system_tables(self)
        self.value_caches.start()
        for definition in self.catalog.triggers():
            if not definition.disabled:
                self._triggers.start(definition)
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop schedules, let running plugins finish, save the cache."""
        self._scheduler.stop()
        for trigger in self._triggers.running():
            self._triggers.stop(trigger, drop_cache=False)
        self._pool.shutdown()
        self.save_cache()  # the cache lives in the hosts: saved before they stop
        self.hosts.close()

    def _idle(self) -> None:
        """Periodic work: save the cache; drop expired rows from a store kept in memory (a
        durable store drops them at its persists)."""
        self.save_cache()
        drop_expired = getattr(self.store, "drop_expired", None)
        if drop_expired is not None:
            drop_expired()

    def save_cache(self) -> None:
        if self.data_dir is not None:
            for namespace, key, reason in self.hosts.save_caches():
                self.logs.add("", namespace, "WARN", f"cache entry {key!r} not saved: {reason}")

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
            if origin == "client":  # Core's HTTP rules; plugins' writes are checked as Core's
                validate_database_name(database)  # write buffer does (`check_database_name`)
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
        self.value_caches.on_write(database, result)
        self._triggers.dispatch_writes(database, result)
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
        trigger = self._triggers.route(path)
        if trigger is None:
            return _NOT_FOUND
        return self._runner.answer(
            trigger, query_params=query_params, headers=headers, body=body, timeout=timeout
        )

    async def handle_request_async(
        self,
        path: str,
        *,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        timeout: float | None = None,
    ) -> HttpResponse:
        """`handle_request` for an event loop: waits for the trigger's worker without a thread."""
        trigger = self._triggers.route(path)
        if trigger is None:
            return _NOT_FOUND
        return await self._runner.answer_async(
            trigger, query_params=query_params, headers=headers, body=body, timeout=timeout
        )

    # -- wiring -------------------------------------------------------------------------------

    def _local_source(self, definition: TriggerDefinition) -> PluginSource:
        if self.plugin_dir is None:
            message = f"trigger {definition.trigger_name}: no plugin directory is configured"
            raise PluginError(message)
        return LocalPluginSource(self.plugin_dir, definition.plugin_filename)

    def _plugin_write(self, database: str, text: str, no_sync: bool) -> None:
        self._write(database, text, origin="plugin", accept_partial=False, no_sync=no_sync)

    def _fail_soon(self, trigger: RunningTrigger, reason: str) -> None:
        """Fail ``trigger`` (from its own worker: the stop, which waits for it, runs apart)."""
        name = f"fail-{trigger.label}"
        threading.Thread(target=self._fail, args=(trigger, reason), name=name, daemon=True).start()

    def _fail(self, trigger: RunningTrigger, reason: str) -> None:
        """Failed in the catalog (disabled, with why), then stopped."""
        try:
            self.catalog.fail_trigger(*trigger.key, reason)
        except EngineError as exc:  # deleted meanwhile, or the catalog cannot be written
            self.logs.add(*trigger.key, "ERROR", f"could not fail the trigger: {exc}")
        self.logs.add(*trigger.key, "ERROR", f"trigger failed: {reason}")
        self._triggers.stop_key(trigger.key, drop_cache=True)

    def _disable_failed(self, trigger: RunningTrigger) -> None:
        """``error_behavior=disable``: persisted in the catalog, then the trigger stops."""
        try:
            self.catalog.disable_trigger(*trigger.key)
        except EngineError as exc:  # deleted meanwhile, or the catalog cannot be written
            self.logs.add(*trigger.key, "ERROR", f"could not disable the trigger: {exc}")
        self._triggers.stop_soon(trigger)
