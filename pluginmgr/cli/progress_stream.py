"""POST a long operation (an install, a trigger that installs) and print its progress as it comes.

The request asks for ``Accept: application/x-ndjson``. A pluginmgr server answers 200 at once
and sends JSON lines: ``progress`` events (printed by the caller, on stderr), ``heartbeat``
events while it works silently, then one ``result`` or ``error`` event carrying the status and
body the plain request would have had. The read timeout is the longest silence between two
lines (`SILENCE_TIMEOUT`), not a limit on the whole operation, which takes as long as it needs.
A server that does not stream (upstream InfluxDB 3) answers plainly; that answer is returned
the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import ServerError

if TYPE_CHECKING:
    import httpx

__all__ = ["NDJSON", "SILENCE_TIMEOUT", "Answer", "post_with_progress"]

NDJSON: Final = "application/x-ndjson"
#: seconds without a line (the server sends a heartbeat every 10 s while it works) before giving
#: up; a server that does not stream sends nothing until it is done, so this is generous
SILENCE_TIMEOUT: Final = 900.0
_CONNECT_TIMEOUT: Final = 10.0
_LOG_HINT: Final = "see the server's log; the operation may have finished there"


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome: ``status`` as the plain request would have answered, ``message`` the error
    (the server's ``{"error": …}`` or its body text), ``body`` the decoded JSON or None."""

    status: int
    reason: str
    message: str
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _decoded(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _plain(response: httpx.Response) -> Answer:
    response.read()
    text, body = response.text, _decoded(response.text)
    message = text.strip()
    if isinstance(body, dict) and body.get("error") is not None:
        message = str(body["error"])
    return Answer(response.status_code, response.reason_phrase, message, body)


def _final(event: dict[str, Any]) -> Answer:
    from httpx import codes

    status = int(event.get("status") or 500)
    reason = codes.get_reason_phrase(status)
    if event.get("event") == "result":
        return Answer(status, reason, "", event.get("body"))
    message = str(event.get("error") or reason)
    body: dict[str, Any] = {"error": message}
    if event.get("data") is not None:
        body["data"] = event["data"]
    return Answer(status, reason, message, body)


def _streamed(response: httpx.Response, host: str, on_progress: Callable[[str], None]) -> Answer:
    for line in response.iter_lines():
        event = _decoded(line)
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "progress":
            on_progress(str(event.get("message", "")))
        elif kind in ("result", "error"):
            return _final(event)
    message = f"the server at {host} ended its answer before the operation finished"
    raise ServerError(message, hint=_LOG_HINT)


def post_with_progress(
    client: httpx.Client,
    url: str,
    *,
    host: str,
    json_body: Any,
    on_progress: Callable[[str], None],
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """POST ``json_body`` to ``url`` asking for progress; call ``on_progress`` with each line.

    :raises httpx.TransportError: the server could not be reached (for the caller to word).
    :raises ServerError: the server fell silent for `SILENCE_TIMEOUT`, or its stream broke off.
    """
    import httpx

    timeout = httpx.Timeout(SILENCE_TIMEOUT, connect=_CONNECT_TIMEOUT)
    sent = {**(headers or {}), "Accept": f"{NDJSON}, application/json"}
    try:
        with client.stream("POST", url, json=json_body, headers=sent, timeout=timeout) as response:
            if not response.headers.get("content-type", "").startswith(NDJSON):
                return _plain(response)
            try:
                return _streamed(response, host, on_progress)
            except httpx.ReadTimeout as exc:
                message = f"the server at {host} sent nothing for {SILENCE_TIMEOUT:g}s"
                raise ServerError(message, hint=_LOG_HINT) from exc
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                message = f"the server at {host} broke off its answer: {exc}"
                raise ServerError(message, hint=_LOG_HINT) from exc
    except httpx.ReadTimeout as exc:  # a server that does not stream, silent all along
        message = f"the server at {host} did not answer within {SILENCE_TIMEOUT:g}s"
        raise ServerError(message, hint=_LOG_HINT) from exc
