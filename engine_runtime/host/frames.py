"""The frames the server sends one plugin host process, and what it reads back outside a run's
flow: a ``run`` (with the plugin's source once per version and host), a ``control`` request and
its answer, and the reply to a plugin's call.

Apart from `host.host`, which decides which process gets a run and when a process is retired or
replaced: these only talk to the process they are given.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from .channel import PluginHostError
from .guest.pluginmgr_guest.wire import encode, encode_for_host
from .messages import HostCallbacks, Refused, service
from .process import Ended, HostProcess, RunSlot

__all__ = [
    "PAYLOAD_KEYS",
    "TriggerKind",
    "control",
    "interrupt",
    "next_run_id",
    "reply_to_call",
    "run_frame",
    "run_message",
    "save_host_cache",
    "send_run",
]

TriggerKind = Literal["wal", "schedule", "request"]

#: what each kind of run passes to its entry point after ``influxdb3_local``, in order
PAYLOAD_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "wal": ("table_batches",),
    "schedule": ("call_time",),
    "request": ("query_parameters", "request_headers", "request_body"),
}

_RUN_IDS = itertools.count(1)


def next_run_id() -> int:
    """A new id for a run or a control request, unique in this process."""
    return next(_RUN_IDS)


def run_message(
    run_id: int,
    trigger: str,
    kind: TriggerKind,
    path: Path,
    entry: str,
    *,
    database: str,
    payload: dict[str, Any],
    args: Mapping[str, str] | None,
    version: str | None,
    test_cache: str | None,
) -> dict[str, Any]:
    """The ``run`` message (without the plugin's source: `send_run` adds it when needed)."""
    return {
        "op": "run",
        "id": run_id,
        "trigger": trigger,
        "kind": kind,
        "path": str(path),
        "entry": entry,
        "database": database,
        "payload": payload,
        "args": None if args is None else dict(args),
        "version": version,
        "test_cache": test_cache,
    }


def run_frame(message: dict[str, Any], trigger: str, max_frame: int) -> bytes:
    """The run's frame; `PluginHostError` when it is over what the host accepts (it would
    refuse it and lose its channel)."""
    try:
        return encode_for_host(message, max_size=max_frame)
    except ValueError as exc:
        raise PluginHostError(f"trigger {trigger}'s event cannot be sent: {exc}") from None


def send_run(
    process: HostProcess,
    message: dict[str, Any],
    frame: bytes,
    source: str | None,
    max_frame: int,
) -> bool:
    """Send a run's frame, with the plugin's source if ``process`` has not had this
    version yet; False when the host is gone (nothing of the run reached it)."""
    code_key = (str(message["path"]), str(message["version"] or ""))
    if source is not None and code_key not in process.sent_code:
        message["source"] = source  # once per version and host: encoded again
        frame = run_frame(message, str(message["trigger"]), max_frame)
    try:
        process.send_frame(frame)
    except OSError:
        return False
    if "source" in message:
        process.sent_code.add(code_key)
    return True


def control(process: HostProcess, fields: dict[str, Any], timeout: float = 60.0) -> Any:
    """Send a control request (``fields`` name its ``action``) and return its answer's value;
    `PluginHostError` when the host refuses, exits or does not answer within ``timeout``."""
    deadline = time.monotonic() + timeout
    slot = RunSlot(next_run_id(), "(control)", deadline)
    if not process.open_run(slot):
        raise PluginHostError("the plugin host is gone")
    try:
        process.send({"op": "control", "id": slot.id, **fields})
        while True:
            try:  # one deadline for the answer, however many wake-ups come first
                message = slot.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise PluginHostError(f"no answer to {fields['action']} in {timeout:g} s") from None
            if isinstance(message, Ended):
                raise PluginHostError("the plugin host exited")
            if message is not None and message["op"] == "result":
                if not message["ok"]:
                    raise PluginHostError(str(message.get("error")))
                return message.get("value")
    except OSError:
        raise PluginHostError("the plugin host is gone") from None
    finally:
        process.close_run(slot)


def save_host_cache(process: HostProcess, path: Path) -> list[tuple[str, str, str]]:
    """Have ``process`` save its plugin cache to ``path``; what it skipped (namespace, key,
    why), or why it could not save."""
    try:
        value = control(process, {"action": "save_cache", "path": str(path)})
    except PluginHostError as exc:
        return [("", "*", f"the plugin host could not save its cache: {exc}")]
    skipped = value.get("skipped", []) if isinstance(value, dict) else []
    return [tuple(str(part) for part in item)[:3] for item in skipped]  # type: ignore[misc]


def interrupt(process: HostProcess, slot: RunSlot, reason: str, text: str, grace: float) -> None:
    """Ask ``process`` to interrupt ``slot``'s run (``reason``: ``timeout`` or ``cancel``); the
    run has ``grace`` seconds from now to stop."""
    slot.interrupted = reason
    slot.deadline = time.monotonic() + grace
    try:
        process.send({"op": "interrupt", "id": slot.id, "reason": reason, "text": text})
    except OSError:
        pass  # the host is gone: its reader tells the run


def reply_to_call(
    process: HostProcess,
    slot: RunSlot,
    callbacks: HostCallbacks,
    message: dict[str, Any],
    max_frame: int,
) -> None:
    """Serve a plugin's call (query, write_sync, cache) through ``callbacks`` and send the
    reply, or the error when it is refused or its value cannot be sent."""
    try:
        value = service(callbacks, slot.trigger, message)
        reply = {"op": "reply", "id": slot.id, "n": message["n"], "value": value}
        encoded = encode_for_host(reply, max_size=max_frame)
    # refused, or a value the wire cannot carry (TypeError) or too large (ValueError)
    except (Refused, TypeError, ValueError) as exc:
        encoded = encode({"op": "reply", "id": slot.id, "n": message["n"], "error": str(exc)})
    try:
        process.send_frame(encoded)
    except OSError:
        pass  # the host is gone: its reader tells this run next
