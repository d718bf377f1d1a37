"""Internal: the words and replies of the runner: a run's first log line (`start_line`), a
failure's detail (`detail`), a timed-out request's 500 (`timed_out`, `timeout_text`), and
settling a request's reply once (`settle`)."""

from __future__ import annotations

from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

from .dispatch import Event
from .plugins.loader import PluginFailure, describe_failure
from .plugins.responses import HttpResponse, error_response
from .watchdog import PluginTimeout

if TYPE_CHECKING:
    from .running_trigger import RunningTrigger

__all__ = ["detail", "settle", "start_line", "timed_out", "timeout_text"]


def timeout_text(seconds: float) -> str:
    """``plugin execution exceeded the 0.5s timeout`` (`PluginTimeout`'s message)."""
    return str(PluginTimeout(seconds))


def timed_out(seconds: float) -> HttpResponse:
    """The 500 a request gets when its run exceeds the timeout, as an interrupted run's."""
    return error_response(describe_failure(PluginTimeout(seconds)).http_body)


def settle(reply: Future[Any], value: object) -> bool:
    """Give ``reply`` its value unless it has one (the caller timed out, or the run ended)."""
    try:
        reply.set_result(value)
    except InvalidStateError:
        return False
    return True


def detail(failure: PluginFailure) -> str:
    return f"{failure.message}\n{failure.traceback}" if failure.traceback else failure.message


def start_line(trigger: RunningTrigger, event: Event) -> str:
    if trigger.kind == "Schedule":
        (call_time,) = event.positional
        return f"starting execution with scheduled time {call_time:%Y-%m-%d %H:%M:%S} UTC"
    return f"starting execution of {trigger.context}."
