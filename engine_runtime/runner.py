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
effects already. It runs on its trigger's worker like the others (`answer` queues it), and its
caller waits at most the run's execution timeout, then gets a 500 saying so.

A run still inside the plugin ``timeout_grace`` seconds after its timeout (stuck in a C call,
which the watchdog cannot interrupt) is *abandoned* (`abandoned`): it is logged and counted as a
failed run at once, its thread counts as stuck in the trigger's stats until (if ever) the call
returns, and the trigger is served by a fresh thread. The engine fails a trigger once
`STUCK_THREAD_LIMIT` of its threads are stuck, so one plugin cannot drain the server of threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any, Final, final

from .dispatch import Event, TriggerWorker
from .errors import EngineError
from .loader import PluginFailure, describe_failure
from .plugin_api import PluginApi, plugin_call, write_queue
from .plugin_threads import attribute
from .responses import HttpResponse, error_response, request_headers, to_http_response
from .triggers import format_duration
from .watchdog import PluginTimeout, format_seconds

if TYPE_CHECKING:
    from .cache import CacheStore
    from .catalog import TriggerDefinition, TriggerSettings
    from .loader import Loader, PluginSource
    from .observability import LogRing, StatsRegistry
    from .store import Store
    from .watchdog import Watch, Watchdog

__all__ = ["ENTRY_POINTS", "STUCK_THREAD_LIMIT", "RunningTrigger", "TriggerRunner", "WriteBack"]

#: plugin type -> (entry point, the context upstream's log lines name)
ENTRY_POINTS: Final = {
    "WalRows": ("process_writes", "wal plugin"),
    "Schedule": ("process_scheduled_call", "schedule plugin"),
    "Request": ("process_request", "request plugin"),
}

#: how a plugin's buffered or synchronous lines go back into the engine: (database, text,
#: no_sync); raises `EngineError` when the write is refused
WriteBack = Callable[[str, str, bool], None]

#: a trigger with this many runs stuck past their timeout (threads held) is failed
STUCK_THREAD_LIMIT: Final = 4

_NO_DEADLINE: Final = contextlib.nullcontext()
# seconds a request's caller waits past the timeout, so an interrupted run answers it itself
_REPLY_SLACK: Final = 0.25


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
        "source",
        "stop",
        "stuck",
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
        #: this start's runs abandoned past their timeout whose thread has not come back
        self.stuck = 0


@final
class _Run:
    """A run in progress on one thread, for the watchdog's abandon callback."""

    __slots__ = ("counted", "event", "returned", "started_ns", "trigger", "watch")

    def __init__(
        self, trigger: RunningTrigger, event: Event, watch: Watch | None, started_ns: int
    ) -> None:
        self.trigger = trigger
        self.event = event
        self.watch = watch
        self.started_ns = started_ns
        self.counted = False  # counted as stuck
        self.returned = False  # the plugin call came back


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
        "_current",
        "_disable",
        "_loader",
        "_logs",
        "_runs_lock",
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
        self._current: dict[int, _Run] = {}  # thread ident -> its run
        self._runs_lock = threading.Lock()

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
            if failure is None or isinstance(failure, _Gone):
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
        """Queue a request for the trigger's worker and return its response.

        The caller waits at most the run's execution timeout (from now, queueing included),
        then gets a 500 saying the timeout was exceeded; a request still queued then is dropped.
        """
        queued = self._queue_request(trigger, query_params, headers, body, timeout, wait=True)
        if isinstance(queued, HttpResponse):
            return queued
        reply, limit = queued
        done, _ = futures.wait([reply], timeout=None if limit is None else limit + _REPLY_SLACK)
        if not done:
            assert limit is not None  # noqa: S101 - only a limited wait times out
            return self._late(trigger, reply, limit)
        return self.answer_of(reply)

    async def answer_async(
        self,
        trigger: RunningTrigger,
        *,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        timeout: float | None = None,
    ) -> HttpResponse:
        """`answer` for an event loop: the caller waits without holding a thread, so callers of
        a hung plugin cannot use up the server's worker threads while their deadlines run; a
        full queue answers at once instead of waiting for room."""
        queued = self._queue_request(trigger, query_params, headers, body, timeout, wait=False)
        if isinstance(queued, HttpResponse):
            return queued
        reply, limit = queued
        waiter = asyncio.wrap_future(reply)
        done, _ = await asyncio.wait(
            {waiter}, timeout=None if limit is None else limit + _REPLY_SLACK
        )
        if not done:
            assert limit is not None  # noqa: S101 - only a limited wait times out
            return self._late(trigger, reply, limit)
        return self.answer_of(reply)

    def _queue_request(
        self,
        trigger: RunningTrigger,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        timeout: float | None,
        *,
        wait: bool,
    ) -> tuple[Future[Any], float | None] | HttpResponse:
        """The request queued for the trigger's worker (its reply and time limit), or the
        answer when it cannot be queued."""
        reply: Future[Any] = Future()
        clean = request_headers(headers.items())
        event = Event((dict(query_params), clean, body), reply=reply, timeout=timeout)
        limit = self.time_limit(trigger.definition.settings, event)
        name = trigger.definition.trigger_name
        if trigger.stop.is_set():
            return error_response(f"trigger {name} was stopped")
        if not trigger.worker.submit(event, wait=limit if wait else 0):
            text = f"trigger {name} is stopping or its queue is full: try again later"
            return error_response(text)
        return reply, limit

    def _late(self, trigger: RunningTrigger, reply: Future[Any], limit: float) -> HttpResponse:
        """The 500 of a request past its deadline, unless it was answered in the meantime."""
        late = _timed_out(limit)
        if not _settle(reply, late):
            return self.answer_of(reply)
        text = f"error running request plugin: {_timeout_text(limit)}: answered 500"
        self._log(trigger, "ERROR", text)
        return late

    @staticmethod
    def answer_of(reply: Future[Any]) -> HttpResponse:
        """The response a settled ``reply`` holds (a 500 for an exception)."""
        try:
            response = reply.result(timeout=0)
        except Exception as exc:
            return error_response(str(exc))
        assert isinstance(response, HttpResponse)  # noqa: S101 - replies hold one
        return response

    def abandoned(self, thread_ident: int) -> tuple[RunningTrigger, int] | None:
        """The watchdog gave up on ``thread_ident``: count its run as stuck and failed, log it,
        and answer a request still waiting. Called on the watchdog's thread; does not block.

        :returns: the run's trigger and how many of its runs are now stuck, or None when that
            thread no longer runs an abandoned plugin call.
        """
        with self._runs_lock:
            run = self._current.get(thread_ident)
            watch = None if run is None else run.watch
            if run is None or watch is None or not watch.abandoned or run.returned or run.counted:
                return None
            run.counted = True
            trigger = run.trigger
            trigger.stuck += 1
            stuck = trigger.stuck
        database, name = trigger.key
        total = self._stats.stuck(database, name, 1)
        message = f"{PluginTimeout.__name__}: {_timeout_text(watch.timeout)}"
        elapsed = time.time_ns() - run.started_ns
        self._stats.record(
            database, name, started_ns=run.started_ns, duration_ns=elapsed, error=message
        )
        prefix = (
            "error running request plugin"
            if trigger.kind == "Request"
            else f"error executing {trigger.context}"
        )
        running = format_seconds(round(elapsed / 1e9, 1))
        text = (
            f"{prefix}: {message}; still running after {running} (stuck in a C call?), its "
            f"thread is abandoned and a fresh one serves the trigger ({total} stuck)"
        )
        self._log(trigger, "ERROR", text)
        if run.event.reply is not None:
            _settle(run.event.reply, _timed_out(watch.timeout))
        return trigger, stuck

    def _came_back(self, run: _Run, elapsed_ns: int) -> None:
        """An abandoned run's plugin call returned at last: its thread is no longer stuck."""
        with self._runs_lock:
            run.returned = True
            counted = run.counted
            if counted:
                run.trigger.stuck -= 1
        if counted:
            total = self._stats.stuck(*run.trigger.key, -1)
            text = (
                f"an abandoned run came back after {format_duration(elapsed_ns)}; its result is "
                f"dropped ({total} stuck)"
            )
            self._log(run.trigger, "WARN", text)

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

    def time_limit(self, settings: TriggerSettings, event: Event) -> float | None:
        """Seconds a run of ``event`` may take: the trigger's own timeout, else the engine's,
        or the event's if shorter; None: no limit."""
        limits = (settings.execution_timeout or self.execution_timeout, event.timeout)
        return min((t for t in limits if t is not None), default=None)

    def _attempt(self, trigger: RunningTrigger, event: Event) -> PluginFailure | _Gone | None:
        """One call of the plugin; the failure when it raised (after its handler has ended), or
        `_GONE` when it was abandoned (already counted and logged then)."""
        database, name = trigger.key
        self._log(trigger, "INFO", _start_line(trigger, event))
        api = self._api(trigger)
        limit = self.time_limit(trigger.definition.settings, event)
        watch = None if limit is None else self._watchdog.watch(limit)
        started_ns = time.time_ns()
        clock = time.perf_counter_ns()
        run = _Run(trigger, event, watch, started_ns)
        ident = threading.get_ident()
        self._current[ident] = run
        tally = self._stats.threads(database, name)
        previous = attribute(None)
        try:
            with _NO_DEADLINE if watch is None else watch:
                entry = self._loader.entry_point(trigger.source.load(), trigger.function)
                attribute(tally)  # inside the watch: its monitor thread is the engine's
                with plugin_call():  # a forked child exits here; os._exit is refused
                    result = entry(api, *event.positional, trigger.args)
                attribute(None)
                if trigger.kind == "Request":
                    result = to_http_response(result)
        except (Exception, SystemExit, PluginTimeout) as exc:  # a plugin never takes us down
            elapsed = time.perf_counter_ns() - clock
            if watch is not None and watch.abandoned:
                self._came_back(run, elapsed)
                return _GONE
            failure = describe_failure(exc)
            self._stats.record(
                database, name, started_ns=started_ns, duration_ns=elapsed, error=failure.message
            )
            return failure
        finally:
            attribute(previous)
            self._current.pop(ident, None)
        elapsed = time.perf_counter_ns() - clock
        if watch is not None and watch.abandoned:
            self._came_back(run, elapsed)
            return _GONE
        self._log(trigger, "INFO", f"finished execution in {format_duration(elapsed)}")
        self._stats.record(database, name, started_ns=started_ns, duration_ns=elapsed)
        self._flush(trigger, api)
        if event.reply is not None:
            _settle(event.reply, result)
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
        else:
            self._log(trigger, "ERROR", f"error executing {trigger.context}: {_detail(failure)}")
            if behavior == "retry":
                text = f"giving up after {attempts} attempts: {failure.message}"
                self._log(trigger, "ERROR", text)
        if behavior == "disable":
            self._log(trigger, "ERROR", f"disabling trigger {trigger.key[1]} due to error")
            self._disable(trigger)
        if event.reply is not None:  # after disabling: the caller sees the trigger gone
            _settle(event.reply, error_response(failure.http_body))


@final
class _Gone:
    """What `TriggerRunner._attempt` returns for a run that was abandoned."""

    __slots__ = ()


_GONE: Final = _Gone()


def _timeout_text(seconds: float) -> str:
    """``plugin execution exceeded the 0.5s timeout`` (`PluginTimeout`'s message)."""
    return str(PluginTimeout(seconds))


def _timed_out(seconds: float) -> HttpResponse:
    """The 500 a request gets when its run exceeds the timeout, as an interrupted run's."""
    return error_response(describe_failure(PluginTimeout(seconds)).http_body)


def _settle(reply: Future[Any], value: object) -> bool:
    """Give ``reply`` its value unless it has one (the caller timed out, or the run ended)."""
    try:
        reply.set_result(value)
    except InvalidStateError:
        return False
    return True


def _detail(failure: PluginFailure) -> str:
    return f"{failure.message}\n{failure.traceback}" if failure.traceback else failure.message


def _start_line(trigger: RunningTrigger, event: Event) -> str:
    if trigger.kind == "Schedule":
        (call_time,) = event.positional
        return f"starting execution with scheduled time {call_time:%Y-%m-%d %H:%M:%S} UTC"
    return f"starting execution of {trigger.context}."
