"""Queries under a deadline: `run_query` runs one on the thread pool under a `QueryGuard`.

The guard stops the query (between DataFusion batches) when ``--query-timeout`` passes, when
the client disconnects (polled every `_POLL_SECONDS` while the query runs) and when the server
shuts down (`QueryRegistry.cancel_all`). A timeout answers at once, without waiting for the
worker thread: 500 (upstream's status for a query that failed to execute) naming the timeout
and the flag; a shutdown answers 503. The guard also holds the request's result budget
(`DEFAULT_QUERY_RESULT_BYTES`, every statement of a ``/query`` together): past
it the request answers 413 naming the limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from starlette.concurrency import run_in_threadpool

from engine_runtime.store._guard import (
    QueryCancelledError,
    QueryGuard,
    QueryResultTooLargeError,
    guarding,
)

from .routes_common import ApiError, server_state

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "DEFAULT_QUERY_RESULT_BYTES",
    "DEFAULT_QUERY_TIMEOUT",
    "QUERY_TIMEOUT_HINT",
    "TIMEOUT_STATUS",
    "QueryRegistry",
    "run_query",
]

_T = TypeVar("_T")
#: ``--query-timeout``'s default, in seconds
DEFAULT_QUERY_TIMEOUT: Final = 60.0
#: what the query results of one HTTP request may take, all statements together: an answer is
#: built in memory, so a batch counts as its Arrow size or 64 bytes a value, whichever is larger
DEFAULT_QUERY_RESULT_BYTES: Final = 256 * 2**20
QUERY_BUDGET_HINT: Final = (
    ": select fewer rows or columns (filter on time, add LIMIT), split the statements over "
    "several requests, or use Arrow Flight, which streams"
)
#: what a request whose results outgrow the budget answers
TOO_LARGE_STATUS: Final = 413
QUERY_TIMEOUT_HINT: Final = (
    " (--query-timeout): make the query cheaper (filter on time, add LIMIT) or raise the timeout"
)
#: what upstream answers for a query that failed to execute
TIMEOUT_STATUS: Final = 500
SHUTDOWN_MESSAGE: Final = "query cancelled: the server is shutting down, retry on another node"
_POLL_SECONDS: Final = 0.2


class QueryRegistry:
    """The server's running queries, so that shutdown can stop them; counts stopped ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[QueryGuard] = set()
        self.timed_out = 0
        self.disconnected = 0

    def add(self, guard: QueryGuard) -> None:
        with self._lock:
            self._running.add(guard)

    def remove(self, guard: QueryGuard) -> None:
        with self._lock:
            self._running.discard(guard)

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def cancel_all(self, reason: str = SHUTDOWN_MESSAGE) -> None:
        """Stop every running query at its next batch (server shutdown)."""
        with self._lock:
            guards = list(self._running)
        for guard in guards:
            guard.cancel(reason)


def _run_guarded(guard: QueryGuard, func: Callable[..., _T], args: Any, kwargs: Any) -> _T:
    with guarding(guard):
        return func(*args, **kwargs)


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning


async def run_query(request: Request, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``func(*args, **kwargs)`` on the thread pool under the server's query deadline.

    :raises ApiError: 500 when ``--query-timeout`` passed, 413 when the results outgrew the
        request's budget, 503 when the server is stopping, 499 (nobody reads it) when the
        client went away.
    """
    state = server_state(request)
    timeout = state.query_timeout or None
    guard = QueryGuard(
        timeout,
        timeout_hint=QUERY_TIMEOUT_HINT,
        result_bytes=state.query_result_bytes,
        budget_hint=QUERY_BUDGET_HINT,
    )
    registry = state.queries
    registry.add(guard)
    task = asyncio.ensure_future(run_in_threadpool(_run_guarded, guard, func, args, kwargs))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_POLL_SECONDS)
            if done:
                return task.result()
            if guard.expired():
                raise QueryCancelledError(guard.timeout_message())
            if guard.cancelled:
                guard.check()
            if await request.is_disconnected():
                registry.count("disconnected")
                guard.cancel("query cancelled: the client disconnected")
                raise ApiError(499, "query cancelled: the client disconnected")
    except QueryResultTooLargeError as exc:
        raise ApiError(TOO_LARGE_STATUS, str(exc)) from None
    except QueryCancelledError as exc:
        if guard.expired():
            registry.count("timed_out")
            guard.cancel(guard.timeout_message())
            raise ApiError(TIMEOUT_STATUS, guard.timeout_message()) from None
        raise ApiError(503, str(exc)) from None
    finally:
        registry.remove(guard)
        if not task.done():
            guard.cancel("query cancelled")
            task.add_done_callback(_forget)
