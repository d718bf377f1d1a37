"""The engine's started triggers: starting and stopping them, and handing each its events.

A trigger is started from its catalog definition: its plugin is loaded once first (a plugin that
cannot be read is reported as ``failed: <why>`` and not started), then its worker starts and it
joins the index of its kind: write triggers by database, request triggers by path, schedule
triggers in the scheduler. Stopping undoes that, lets the current run finish and, when asked,
drops the trigger's cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, final

from .dispatch import Event, TriggerWorker, WorkerPool
from .running_trigger import RunningTrigger

if TYPE_CHECKING:
    from .observability import LogRing
    from .plugins.loader import PluginSource
    from .runner import TriggerRunner
    from .scheduler import Fire, SchedulerThread
    from .store import WriteResult
    from .trigger_definition import TriggerDefinition

__all__ = ["TriggerSet"]

_Key = tuple[str, str]


@final
class TriggerSet:
    """The running triggers of one engine, indexed for writes, requests and schedules.

    :param source_for: a trigger's plugin code source.
    :param runner: runs the triggers' events.
    :param scheduler: fires schedule triggers (``add``/``remove`` by key).
    :param pool: where asynchronous triggers run.
    """

    __slots__ = (
        "_drop_cache",
        "_failed",
        "_lock",
        "_logs",
        "_pool",
        "_queue_size",
        "_routes",
        "_runner",
        "_scheduler",
        "_source_for",
        "_triggers",
        "_wal",
    )

    def __init__(
        self,
        *,
        source_for: Callable[[TriggerDefinition], PluginSource],
        runner: TriggerRunner,
        scheduler: SchedulerThread,
        pool: WorkerPool,
        drop_cache: Callable[[str, str], None],
        logs: LogRing,
        queue_size: int = 60,
    ) -> None:
        self._source_for = source_for
        self._runner = runner
        self._scheduler = scheduler
        self._pool = pool
        self._drop_cache = drop_cache
        self._logs = logs
        self._queue_size = queue_size
        self._lock = threading.RLock()
        self._triggers: dict[_Key, RunningTrigger] = {}
        self._wal: dict[str, list[RunningTrigger]] = {}
        self._routes: dict[str, RunningTrigger] = {}
        self._failed: dict[_Key, str] = {}

    # -- lookups ------------------------------------------------------------------------------

    def running(self) -> list[RunningTrigger]:
        with self._lock:
            return list(self._triggers.values())

    def is_running(self, key: _Key) -> bool:
        with self._lock:
            return key in self._triggers

    def route(self, path: str) -> RunningTrigger | None:
        """The request trigger serving ``path``."""
        with self._lock:
            return self._routes.get(path)

    def state(self, key: _Key) -> str:
        """``running``, ``disabled`` or ``failed: <why>`` (a plugin that could not be loaded)."""
        with self._lock:
            if key in self._triggers:
                return "running"
            if key in self._failed:
                return f"failed: {self._failed[key]}"
        return "disabled"

    # -- starting and stopping ----------------------------------------------------------------

    def start(self, definition: TriggerDefinition) -> None:
        """Load the plugin, then start the trigger; a failure to load is logged, not raised."""
        key = (definition.database, definition.trigger_name)
        try:
            source = self._source_for(definition)
            source.load()  # read (or fetch) it now: a missing plugin is reported, not started
        except Exception as exc:  # any failure to load must not stop the other triggers
            with self._lock:
                self._failed[key] = str(exc)
            self._logs.add(*key, "ERROR", f"trigger not started: {exc}")
            return
        worker = TriggerWorker(
            f"{definition.database}/{definition.trigger_name}",
            lambda event: self._runner.run(trigger, event),
            run_async=definition.settings.run_async,
            pool=self._pool,
            queue_size=self._queue_size,
        )
        trigger = RunningTrigger(definition, source, worker)
        with self._lock:
            self._failed.pop(key, None)
            self._triggers[key] = trigger
            if trigger.kind == "WalRows":
                self._wal.setdefault(definition.database, []).append(trigger)
            elif trigger.kind == "Request":
                self._routes[definition.spec.value] = trigger
        worker.start()
        self._runner.warm(trigger)
        if trigger.kind == "Schedule":
            self._scheduler.add(key, definition.spec)

    def stop_key(self, key: _Key, *, drop_cache: bool) -> None:
        """Stop the trigger ``key`` if it runs; forget why it failed; maybe drop its cache."""
        with self._lock:
            trigger = self._triggers.get(key)
            self._failed.pop(key, None)
        if trigger is not None:
            self.stop(trigger, drop_cache=drop_cache)
        elif drop_cache:
            self._drop_cache(*key)

    def stop(self, trigger: RunningTrigger, *, drop_cache: bool) -> None:
        """Take ``trigger`` out of every index and stop its worker after the current run."""
        if self._unindex(trigger):
            self._halt(trigger, drop_cache=drop_cache)

    def _unindex(self, trigger: RunningTrigger) -> bool:
        """Take ``trigger`` out of every index, so no new event reaches it; False if it was."""
        key = trigger.key
        with self._lock:
            if self._triggers.get(key) is not trigger:
                return False
            del self._triggers[key]
            wal = self._wal.get(key[0], [])
            if trigger in wal:
                wal.remove(trigger)
            if self._routes.get(trigger.definition.spec.value) is trigger:
                del self._routes[trigger.definition.spec.value]
        self._scheduler.remove(key)
        trigger.stop.set()
        self._runner.cancel(trigger)  # a running call gets KeyboardInterrupt, as upstream
        return True

    def _halt(self, trigger: RunningTrigger, *, drop_cache: bool) -> None:
        trigger.worker.stop(wait=True)
        if drop_cache:
            self._drop_cache(*trigger.key)
        self._runner.stopped(trigger)

    def stop_soon(self, trigger: RunningTrigger) -> None:
        """`stop` it with its cache; from its own worker thread, it leaves the indexes at once
        and its worker stops on another thread (stopping waits for the worker, which would wait
        for itself)."""
        with self._lock:
            self._failed.pop(trigger.key, None)
        if not trigger.worker.on_own_thread():
            self.stop(trigger, drop_cache=True)
        elif self._unindex(trigger):
            threading.Thread(
                target=self._halt,
                args=(trigger,),
                kwargs={"drop_cache": True},
                name=f"stop-{trigger.label}",
                daemon=True,
            ).start()

    # -- events -------------------------------------------------------------------------------

    def dispatch_writes(self, database: str, result: WriteResult) -> None:
        """Queue what was written for each write trigger of ``database``."""
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
                self._logs.add(*trigger.key, "WARN", text)

    def on_fire(self, fire: Fire) -> None:
        """Queue a schedule trigger's fire time (naive UTC, whole seconds, §5.3)."""
        with self._lock:
            trigger = self._triggers.get(fire.key)
        if trigger is not None:
            call_time = fire.at.replace(tzinfo=None, microsecond=0)
            trigger.worker.submit(Event((call_time,), scheduled=True))
