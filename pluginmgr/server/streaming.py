"""Long operations (installs, creating a trigger that installs) answered as a stream of progress.

A client that sends ``Accept: application/x-ndjson`` gets ``200`` at once and a body of JSON
lines, one event each::

    {"event": "progress", "message": "resolving the requirements of 3 plugins…"}
    {"event": "heartbeat"}                        every HEARTBEAT_SECONDS without progress
    {"event": "result", "status": 200, "body": {...}}          the answer upstream would give
    {"event": "error", "status": 404, "error": "package 'x' was not found on PyPI (...)"}

Exactly one ``result`` or ``error`` event ends the stream; its ``status`` and body are what the
plain request would have answered. Any other client (upstream's ``influxdb3``, curl) gets the
plain answer, after the operation, as before. Heartbeats let a client time out on silence
instead of on the operation's length. The operation runs on the thread pool; a client that
goes away does not stop it (an install is not interrupted half way).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse, Response, StreamingResponse

from .routes_common import blocking, error_answer

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["HEARTBEAT_SECONDS", "NDJSON", "answer_with_progress", "wants_progress"]

_LOGGER: Final = logging.getLogger(__name__)
NDJSON: Final = "application/x-ndjson"
#: seconds without a progress line after which the stream sends a heartbeat
HEARTBEAT_SECONDS: Final = 10.0

Progress = Callable[[str], None]


def wants_progress(request: Request) -> bool:
    """Whether the client asked for the NDJSON progress stream."""
    accepted = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() == NDJSON for part in accepted.split(","))


async def answer_with_progress(
    request: Request, operation: Callable[[Progress | None], Any]
) -> Response:
    """Run ``operation(progress)`` (blocking, on the thread pool) and answer its JSON body:
    streamed with progress when the client asked for it, else plainly (``progress`` None).

    Errors before the stream starts (a bad body) should be raised before calling this: they
    answer with their own status either way.
    """
    if not wants_progress(request):
        return JSONResponse(await blocking(operation, None))
    return StreamingResponse(_events(operation, request.url.path), media_type=NDJSON)


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event) + "\n").encode()


async def _events(operation: Callable[[Progress | None], Any], path: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def progress(message: str) -> None:  # called on the worker thread
        loop.call_soon_threadsafe(queue.put_nowait, message)

    def finished(done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            done.exception()  # retrieved here too: a client that left must not leave it unread
        # queued after every progress line of the worker (the loop runs callbacks in order)
        queue.put_nowait(None)

    task = asyncio.ensure_future(blocking(operation, progress))
    task.add_done_callback(finished)
    # one pending get across heartbeats: cancelling a get on each timeout could lose a line
    getter: asyncio.Future[str | None] | None = None
    try:
        while True:
            getter = getter or asyncio.ensure_future(queue.get())
            done, _pending = await asyncio.wait({getter}, timeout=HEARTBEAT_SECONDS)
            if not done:
                yield _line({"event": "heartbeat"})
                continue
            message, getter = getter.result(), None
            if message is None:
                break
            yield _line({"event": "progress", "message": message})
    finally:
        if getter is not None:
            getter.cancel()  # the client left
    yield _line(_final(task, path))


def _final(task: asyncio.Future[Any], path: str) -> dict[str, Any]:
    exc = task.exception()
    if exc is None:
        return {"event": "result", "status": 200, "body": task.result()}
    if not isinstance(exc, Exception):
        raise exc
    status, message, data = error_answer(exc)
    _LOGGER.warning("%s failed (%d): %s", path, status, message, exc_info=status == 500)
    event: dict[str, Any] = {"event": "error", "status": status, "error": message}
    if data is not None:
        event["data"] = data
    return event
