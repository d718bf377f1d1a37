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

Plugins run in a plugin host process (`engine_runtime.host`), never in this one. A run past its
timeout is interrupted there (`PluginTimeout`, logged as before); one that does not stop within
the grace gets its host replaced. A host that exits while running a trigger fails the run with
``plugin host exited with signal SIGABRT while running trigger db/x``; a trigger whose runs saw
`HOST_DEATH_LIMIT` host deaths within `HOST_DEATH_WINDOW` seconds is *failed* (disabled in the
catalog with why), so a crashing plugin cannot keep restarting hosts. Stopping a trigger
(disable, delete) interrupts its running call with ``KeyboardInterrupt``, as InfluxDB 3.10.2+.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final, final

from .dispatch import Event
from .errors import EngineError, HostExitedError, PluginError
from .host_runs import HOST_KINDS, failure_of, payload_of, plugin_location
from .plugins.loader import PluginFailure, describe_failure
from .plugins.responses import (
    HttpResponse,
    error_response,
    request_headers,
    request_parameters,
)
from .run_replies import detail, settle, start_line, timed_out, timeout_text
from .running_trigger import HOST_DEATH_LIMIT, HOST_DEATH_WINDOW, RunningTrigger
from .triggers import format_duration
from .watchdog import PluginTimeout

if TYPE_CHECKING:
    from .host.messages import RunResult
    from .host.pool import HostPool
    from .observability import LogRing
    from .stats import StatsRegistry
    from .trigger_definition import TriggerSettings

__all__ = [
    "TriggerRunner",
    "WriteBack",
]


#: how a plugin's buffered or synchronous lines go back into the engine: (database, text,
#: no_sync); raises `EngineError` when the write is refused
WriteBack = Callable[[str, str, bool], None]

# seconds a request's caller waits past the timeout, so an interrupted run answers it itself
_REPLY_SLACK: Final = 0.25


@final
class TriggerRunner:
    """Runs events of `RunningTrigger` objects; shared by every trigger of an engine.

    :param hosts: the plugin hosts the runs go to.
    :param write_back: writes a plugin's lines (see `WriteBack`).
    :param disable: disables a trigger whose ``error_behavior`` is ``disable`` after a failure;
        it must not wait for the trigger's worker when called from it.
    :param fail: fails a trigger with the reason (persisted); the same rule as ``disable``.
    :param execution_timeout: seconds a run may take unless its trigger sets its own.
    """

    __slots__ = (
        "_disable",
        "_fail",
        "_hosts",
        "_logs",
        "_stats",
        "_write_back",
        "execution_timeout",
    )

    def __init__(
        self,
        *,
        hosts: HostPool,
        logs: LogRing,
        stats: StatsRegistry,
        write_back: WriteBack,
        disable: Callable[[RunningTrigger], None],
        fail: Callable[[RunningTrigger, str], None],
        execution_timeout: float | None = None,
    ) -> None:
        self._hosts = hosts
        self._logs = logs
        self._stats = stats
        self._write_back = write_back
        self._disable = disable
        self._fail = fail
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
            if failure is None or isinstance(failure, _Gone):
                return
            if event.attempt >= retries:
                break
            delay = settings.retry_backoff * 2**event.attempt
            event.attempt += 1
            text = (
                f"error executing {trigger.context}: {detail(failure)}\nwill retry in "
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
        params = request_parameters(query_params)
        event = Event((params, clean, body), reply=reply, timeout=timeout)
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
        late = timed_out(limit)
        if not settle(reply, late):
            return self.answer_of(reply)
        text = f"error running request plugin: {timeout_text(limit)}: answered 500"
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

    def warm(self, trigger: RunningTrigger) -> None:
        """Start ``trigger``'s plugin host ahead of its first event."""
        self._hosts.warm(trigger.definition)

    def stopped(self, trigger: RunningTrigger) -> None:
        """``trigger``'s worker has stopped: an isolated trigger's host stops too."""
        self._hosts.release(trigger.definition)

    def cancel(self, trigger: RunningTrigger) -> None:
        """Interrupt ``trigger``'s running calls (it is being stopped): ``KeyboardInterrupt``."""
        self._hosts.cancel(trigger.definition, trigger.label)

    def _log(self, trigger: RunningTrigger, level: str, text: str) -> None:
        self._logs.add(*trigger.key, level, text)

    def time_limit(self, settings: TriggerSettings, event: Event) -> float | None:
        """Seconds a run of ``event`` may take: the trigger's own timeout, else the engine's,
        or the event's if shorter; None: no limit."""
        limits = (settings.execution_timeout or self.execution_timeout, event.timeout)
        return min((t for t in limits if t is not None), default=None)

    def _attempt(self, trigger: RunningTrigger, event: Event) -> PluginFailure | _Gone | None:
        """One call of the plugin in its host; the failure when it failed, or `_GONE` when it
        was interrupted because the trigger is stopping (its outcome is dropped)."""
        database, name = trigger.key
        self._log(trigger, "INFO", start_line(trigger, event))
        limit = self.time_limit(trigger.definition.settings, event)
        started_ns = time.time_ns()
        clock = time.perf_counter_ns()
        failure: PluginFailure | None = None
        try:
            path, source = plugin_location(code := trigger.source.load())
            result = self._hosts.host_for(trigger.definition).run(
                trigger.label,
                HOST_KINDS[trigger.kind],
                path,
                trigger.function,
                database=database,
                payload=payload_of(trigger.kind, event),
                args=trigger.args,
                timeout=limit,
                source=source,
                version=code.version,
            )
        except PluginError as exc:  # the code could not be read, or its host failed
            failure = describe_failure(exc)
            if isinstance(exc, HostExitedError):
                self._host_died(trigger, exc.host_pid)
        else:
            if not result.ok:
                if result.interrupted == "cancel" and trigger.stop.is_set():
                    return _GONE
                failure = _run_failure(result, limit)
        elapsed = time.perf_counter_ns() - clock
        if failure is not None:
            self._stats.record(
                database, name, started_ns=started_ns, duration_ns=elapsed, error=failure.message
            )
            return failure
        self._log(trigger, "INFO", f"finished execution in {format_duration(elapsed)}")
        self._stats.record(database, name, started_ns=started_ns, duration_ns=elapsed)
        self._flush(trigger, result.writes)
        if event.reply is not None:
            settle(event.reply, result.response)
        return None

    def _host_died(self, trigger: RunningTrigger, pid: int | None) -> None:
        """Count the death of host ``pid`` in ``trigger``'s runs (once, however many of them
        it ran); too many in the window fail the trigger."""
        now = time.monotonic()
        if trigger.stop.is_set() or (pid is not None and any(pid == p for _, p in trigger.deaths)):
            return  # stopping (failed already?), or this death was counted
        self._stats.host_died(*trigger.key)
        trigger.deaths.append((now, pid))
        recent = [t for t, _ in trigger.deaths if now - t <= HOST_DEATH_WINDOW]
        if len(recent) >= HOST_DEATH_LIMIT:
            window = format_duration(int(HOST_DEATH_WINDOW * 1e9))
            reason = (
                f"its plugin host died {len(recent)} times within {window} while running it: "
                "fix the plugin, then enable the trigger again"
            )
            self._fail(trigger, reason)

    def _flush(self, trigger: RunningTrigger, writes: Mapping[str, list[str]]) -> None:
        for database, lines in writes.items():
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
            self._log(trigger, "ERROR", f"error running request plugin: {detail(failure)}")
        else:
            self._log(trigger, "ERROR", f"error executing {trigger.context}: {detail(failure)}")
            if behavior == "retry":
                text = f"giving up after {attempts} attempts: {failure.message}"
                self._log(trigger, "ERROR", text)
        if behavior == "disable":
            self._log(trigger, "ERROR", f"disabling trigger {trigger.key[1]} due to error")
            self._disable(trigger)
        if event.reply is not None:  # after disabling: the caller sees the trigger gone
            settle(event.reply, error_response(failure.http_body))


def _run_failure(result: RunResult, limit: float | None) -> PluginFailure:
    """A failed run's report; one the host interrupted at its timeout in the words of
    `PluginTimeout`, with the plugin's traceback."""
    if result.interrupted == "timeout" and result.error_type == PluginTimeout.__name__:
        words = describe_failure(PluginTimeout(limit))
        return PluginFailure(words.message, result.traceback, words.http_body)
    return failure_of(result)


@final
class _Gone:
    """What `TriggerRunner._attempt` returns for a run that was abandoned."""

    __slots__ = ()


_GONE: Final = _Gone()
