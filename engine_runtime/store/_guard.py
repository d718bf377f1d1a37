"""`QueryGuard`: a deadline and a cancel switch that a running query checks between batches.

The HTTP server makes one per query and publishes it with `guarding` in the worker thread
that runs the query; `MemoryStore` pulls DataFusion's result one batch at a time and calls
`QueryGuard.check` before each, so a query stops when its deadline passes, its client went
away or the server shuts down (dropping DataFusion's stream aborts its running partitions).
A blocking operator (a sort, an aggregate) produces no batch until it has read its whole
input: `_execution.batches` awaits it and looks at the guard while it computes. A guard with a
``result_bytes`` budget also counts the Arrow bytes of every batch its queries return (all the
statements of one request together) and stops them past it with `QueryResultTooLargeError`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

from engine_runtime.errors import QueryExecutionError

__all__ = [
    "QueryCancelledError",
    "QueryGuard",
    "QueryResultTooLargeError",
    "current_guard",
    "guarding",
]


class QueryCancelledError(QueryExecutionError):
    """A query stopped by its `QueryGuard`: timed out, client gone, or server stopping."""


class QueryResultTooLargeError(QueryCancelledError):
    """The results of one request outgrew their guard's ``result_bytes`` budget."""


class QueryGuard:
    """When a query must stop: ``timeout`` seconds from now (None: never), on `cancel`, or
    once its results hold more than ``result_bytes`` (None: no budget)."""

    def __init__(
        self,
        timeout: float | None = None,
        *,
        timeout_hint: str = "",
        result_bytes: int | None = None,
        budget_hint: str = "",
    ) -> None:
        self.timeout = timeout
        self.result_bytes = result_bytes
        self.used_bytes = 0
        self._budget_hint = budget_hint
        self._too_large: QueryResultTooLargeError | None = None
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self._timeout_hint = timeout_hint
        self._reason: str | None = None
        self._cancelled = threading.Event()

    def cancel(self, reason: str) -> None:
        """Stop the query at its next batch with ``reason`` as the error (first reason wins)."""
        if self._reason is None:
            self._reason = reason
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def timeout_message(self) -> str:
        return f"query exceeded the query timeout of {self.timeout:g}s{self._timeout_hint}"

    def charge(self, nbytes: int) -> None:
        """Count ``nbytes`` more of results; past the budget, stop every query of the guard."""
        self.used_bytes += nbytes
        if self.result_bytes is not None and self.used_bytes > self.result_bytes:
            mib = self.result_bytes / 2**20
            hint = self._budget_hint
            message = f"query results exceed the limit of {mib:g} MiB per request{hint}"
            self._too_large = QueryResultTooLargeError(message)
            self.cancel(message)
            raise self._too_large

    def check(self) -> None:
        """Raise QueryCancelledError when the query must stop."""
        if self.expired():
            self.cancel(self.timeout_message())
        if self._too_large is not None:
            raise QueryResultTooLargeError(str(self._too_large))
        if self._cancelled.is_set():
            raise QueryCancelledError(self._reason or "query cancelled")


_CURRENT: Final[ContextVar[QueryGuard | None]] = ContextVar("query_guard", default=None)


def current_guard() -> QueryGuard | None:
    """The guard of the query running in this thread (context), if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def guarding(guard: QueryGuard | None) -> Iterator[None]:
    """Publish ``guard`` to the store's queries run inside the block."""
    token = _CURRENT.set(guard)
    try:
        yield
    finally:
        _CURRENT.reset(token)
