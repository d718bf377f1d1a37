"""`QueryGuard`: a deadline and a cancel switch that a running query checks between batches.

The HTTP server makes one per query and publishes it with `guarding` in the worker thread
that runs the query; `MemoryStore` pulls DataFusion's result one batch at a time and calls
`QueryGuard.check` before each, so a query stops when its deadline passes, its client went
away or the server shuts down (dropping DataFusion's stream aborts its running partitions).
A blocking operator (a sort, an aggregate) produces no batch until it has read its whole
input, so such a query stops at its first batch; the memory pool bounds what it can hold.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

from engine_runtime.errors import QueryExecutionError

__all__ = ["QueryCancelledError", "QueryGuard", "current_guard", "guarding"]


class QueryCancelledError(QueryExecutionError):
    """A query stopped by its `QueryGuard`: timed out, client gone, or server stopping."""


class QueryGuard:
    """When a query must stop: ``timeout`` seconds from now (None: never) or on `cancel`."""

    def __init__(self, timeout: float | None = None, *, timeout_hint: str = "") -> None:
        self.timeout = timeout
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

    def check(self) -> None:
        """Raise QueryCancelledError when the query must stop."""
        if self.expired():
            self.cancel(self.timeout_message())
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
