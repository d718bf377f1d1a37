"""One run of a trigger: call the plugin, log and count it, write back what it buffered, and apply
the trigger's ``error_behavior`` when it fails (engine-behavior.md §7.1-§7.2).

* ``log``: the error is logged with the plugin's own traceback, and the next event proceeds.
* ``retry`` (WAL and schedule triggers): the same event runs again after ``retry_backoff``
  seconds, doubled each time, at most ``retry_attempts`` more times (upstream retries forever,
  without a pause). Every failed attempt logs its own traceback: the retry runs *after* the
  failure was handled, so no attempt carries the tracebacks of the earlier ones.
* ``disable``: the trigger is disabled in the catalog and stopped. Unlike upstream this holds
  for request triggers too (the caller still gets its 500), and it survives a restart.

A request trigger is never retried: its caller is waiting, and the plugin may have had side
effects already.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final, final

from .dispatch import Event, TriggerWorker
from .errors import EngineError
from .loader import PluginFailure, describe_failure
from .plugin_api import PluginApi, write_queue
from .responses import HttpResponse, error_response, request_headers, to_http_response
from .triggers import format_duration
from .watchdog import PluginTimeout

if TYPE_CHECKING:
    from .cache import CacheStore
    from .catalog import TriggerDefinition, TriggerSettings
    from .loader import Loader, PluginSource
    from .observability import LogRing, StatsRegistry
    from .store import Store
    from .watchdog import Watchdog

__all__ = ["ENTRY_POINTS", "RunningTrigger", "TriggerRunner", "WriteBack"]

#: plugin type -> (entry point, the context upstream's log lines name)
ENTRY_POINTS: Final = {
    "WalRows": ("process_writes", "wal plugin"),
    "Schedule": ("process_scheduled_call", "schedule plugin"),
    "Request": ("process_request", "request plugin"),
}

#: how a plugin's buffered or synchronous lines go back into the engine: (database, text,
#: no_sync); raises `EngineError` when the write is refused
WriteBack = Callable[[str, str, bool], None]

_NO_DEADLINE: Final = contextlib.nullcontext()


@final
class RunningTrigger:
    """A started trigger: its definition, its code source and the worker that drains its queue."""

    __slots__ = (
        "args",
        "context",
        "definition",
        "function",
        "key",
        "kind",
        "label",
        "one_at_a_time",
        "source",
        "stop",
        "worker",
    )

    def __init__(
        self, definition: TriggerDefinition, source: PluginSource, worker: TriggerWorker
    ) -> None:
        self.definition = definition
        self.key = (definition.database, definition.trigger_name)
        #: ``db/trigger``, how log lines and threads name it
        self.label = f"{definition.database}/{definition.trigger_name}"
        self.kind = definition.spec.plugin_type
        self.function, self.context = ENTRY_POINTS[self.kind]
        self.args = None if definition.arguments is None else dict(definition.arguments)
        self.source = source
        self.worker = worker
        self.stop = threading.Event()
        # a synchronous request trigger answers one request at a time, on the caller's thread
        self.one_at_a_time: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if definition.settings.run_async else threading.Lock()
        )


@final
class TriggerRunner:
    """Runs events of `RunningTrigger` objects; shared by every trigger of an engine.

    :param write_back: writes a plugin's lines (see `WriteBack`).
    :param disable: disables a trigger whose ``error_behavior`` is ``disable`` after a failure;
        it must not wait for the trigger's worker when called from it.
    :param execution_timeout: seconds a run may take unless its trigger sets its own.
    """

    __slots__ = (
        "_caches",
        "_disable",
        "_loader",
        "_logs",
        "_stats",
        "_store",
        "_watchdog",
        "_write_back",
        "execution_timeout",
    )

    def __init__(
        self,
        *,
        store: Store,
        caches: CacheStore,
        loader: Loader,
        logs: LogRing,
        stats: StatsRegistry,
        watchdog: Watchdog,
        write_back: WriteBack,
        disable: Callable[[RunningTrigger], None],
        execution_timeout: float | None = None,
    ) -> None:
        self._store = store
        self._caches = caches
        self._loader = loader
        self._logs = logs
        self._stats = stats
        self._watchdog = watchdog
        self._write_back = write_back
        self._disable = disable
        self.execution_timeout = execution_timeout

    def run(self, trigger: RunningTrigger, event: Event) -> None:
        """Run ``event`` until it succeeds or its retries are spent; never raises for the plugin.

        A request's reply future receives the HTTP response, a 500 when the plugin failed.
        """
        settings = trigger.definition.settings
        retries = settings.retry_attempts if settings.error_behavior == "retry" else 0
        if trigger.kind == "Request":
            retries = 0
        while True:
            failure = self._attempt(trigger, event)
            if failure is None:
                return
            if event.attempt >= retries:
                break
            delay = settings.retry_backoff * 2**event.attempt
            event.attempt += 1
            text = (
                f"error executing {trigger.context}: {_detail(failure)}\nwill retry in "
                f"{delay:g}s (attempt {event.attempt} of {retries})"
            )
            self._log(trigger, "WARN", text)
            if trigger.stop.wait(delay):
                return  # disabled or deleted while waiting: the event is dropped
        self._failed(trigger, event, failure, attempts=event.attempt + 1)

    def answer(
        self,
        trigger: RunningTrigger,
        *,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Run a request trigger on the caller's thread (no second hand-off) and return its
        response; a synchronous trigger still answers one request at a time."""
        reply: Future[Any] = Future()
        clean = request_headers(headers.items())
        event = Event((dict(query_params), clean, body), reply=reply, timeout=timeout)
        with trigger.one_at_a_time:
            if trigger.stop.is_set():
                return error_response(f"trigger {trigger.definition.trigger_name} was stopped")
            self.run(trigger, event)
        response = reply.result(timeout=0)
        assert isinstance(response, HttpResponse)  # noqa: S101 - `run` replies with one
        return response

    def _log(self, trigger: RunningTrigger, level: str, text: str) -> None:
        self._logs.add(*trigger.key, level, text)

    def _api(self, trigger: RunningTrigger) -> PluginApi:
        database, name = trigger.key

        def log(level: str, text: str) -> None:
            self._logs.add(database, name, level, text)

        return PluginApi(
            database,
            store=self._store,
            cache=self._caches.for_trigger(database, name),
            log=log,
            sync_write=self._write_back,
            sweep=self._caches.maybe_sweep,
        )

    def _deadline(
        self, settings: TriggerSettings, event: Event
    ) -> contextlib.AbstractContextManager[Any]:
        limits = (settings.execution_timeout or self.execution_timeout, event.timeout)
        chosen = min((t for t in limits if t is not None), default=None)
        return _NO_DEADLINE if chosen is None else self._watchdog.watch(chosen)

    def _attempt(self, trigger: RunningTrigger, event: Event) -> PluginFailure | None:
        """One call of the plugin; the failure when it raised (after its handler has ended)."""
        database, name = trigger.key
        self._log(trigger, "INFO", _start_line(trigger, event))
        api = self._api(trigger)
        started_ns = time.time_ns()
        clock = time.perf_counter_ns()
        try:
            with self._deadline(trigger.definition.settings, event):
                entry = self._loader.entry_point(trigger.source.load(), trigger.function)
                result = entry(api, *event.positional, trigger.args)
                if trigger.kind == "Request":
                    result = to_http_response(result)
        except (Exception, SystemExit, PluginTimeout) as exc:  # a plugin never takes us down
            elapsed = time.perf_counter_ns() - clock
            failure = describe_failure(exc)
            self._stats.record(
                database, name, started_ns=started_ns, duration_ns=elapsed, error=failure.message
            )
            return failure
        elapsed = time.perf_counter_ns() - clock
        self._log(trigger, "INFO", f"finished execution in {format_duration(elapsed)}")
        self._stats.record(database, name, started_ns=started_ns, duration_ns=elapsed)
        self._flush(trigger, api)
        if event.reply is not None:
            event.reply.set_result(result)
        return None

    def _flush(self, trigger: RunningTrigger, api: PluginApi) -> None:
        for database, lines in write_queue(api).take().items():
            try:
                self._write_back(database, "\n".join(lines), False)
            except EngineError as exc:
                text = (
                    f"error running {trigger.context}: error writing back lines to {database}: "
                    f"{exc}"
                )
                self._log(trigger, "ERROR", text)

    def _failed(
        self, trigger: RunningTrigger, event: Event, failure: PluginFailure, *, attempts: int
    ) -> None:
        behavior = trigger.definition.settings.error_behavior
        if trigger.kind == "Request":
            self._log(trigger, "ERROR", f"error running request plugin: {_detail(failure)}")
            if event.reply is not None:
                event.reply.set_result(error_response(failure.http_body))
        else:
            self._log(trigger, "ERROR", f"error executing {trigger.context}: {_detail(failure)}")
            if behavior == "retry":
                text = f"giving up after {attempts} attempts: {failure.message}"
                self._log(trigger, "ERROR", text)
        if behavior == "disable":
            self._log(trigger, "ERROR", f"disabling trigger {trigger.key[1]} due to error")
            self._disable(trigger)


def _detail(failure: PluginFailure) -> str:
    return f"{failure.message}\n{failure.traceback}" if failure.traceback else failure.message


def _start_line(trigger: RunningTrigger, event: Event) -> str:
    if trigger.kind == "Schedule":
        (call_time,) = event.positional
        return f"starting execution with scheduled time {call_time:%Y-%m-%d %H:%M:%S} UTC"
    return f"starting execution of {trigger.context}."
