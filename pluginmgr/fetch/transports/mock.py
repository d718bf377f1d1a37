"""`MockTransport`: answers requests with a plain function, for unit tests of the layers above."""

from __future__ import annotations

from collections.abc import Callable

from .base import FetchRequest, FetchResponse, Transport

__all__ = ["MockTransport"]


class MockTransport(Transport):
    """A transport whose answers come from ``handler(request)``; it records every request."""

    def __init__(self, handler: Callable[[FetchRequest], FetchResponse]) -> None:
        self._handler = handler
        self.requests: list[FetchRequest] = []

    def handle(self, request: FetchRequest) -> FetchResponse:
        self.requests.append(request)
        return self._handler(request)
