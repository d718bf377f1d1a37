"""The plugin host's main loop: runs arrive, each is called on a thread of its own.

Started as ``<venv>/bin/python -I -S -c BOOT CONFIG`` (see the server's
``engine_runtime.host.process``): `main` first sets ``sys.path`` to the standard library, the
venv's site-packages (through ``site.addsitedir``, so ``.pth`` files count), the plugin dir and
this package's directory, in that order. The channel is a socket on an inherited fd, never
stdout: a plugin's ``print`` goes to ``sys.stdout``, which forwards each line to the log of the
trigger whose run printed it (stdout as INFO, stderr as ERROR).

Several runs may be in progress at once (all triggers of a node share a host, as they share
InfluxDB 3's interpreter): every message of a run carries its ``id``, and the plugin's calls back
(query, write_sync, cache) carry a number ``n`` its reply repeats. One thread at a time reads
(`turns.TakeTurns`): a ``run`` is run by the thread that read it, which first hands the reading on;
``reply`` wakes the run that waits for it, ``interrupt`` raises `PluginTimeout` or
`KeyboardInterrupt` in the run's thread (between two bytecodes; a call stuck in C is the
server's to end, by killing the host), ``stop`` ends the process.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import socket
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from .api import PluginApi, RemoteError, queued_writes
from .cache import CacheStore
from .children import CHILDREN
from .errors import describe
from .loader import Loader
from .responses import to_response_parts
from .turns import TakeTurns
from .wire import DEFAULT_MAX_FRAME, FrameError, encode, read_frame

__all__ = ["Link", "PluginTimeout", "main"]

#: seconds between checks for an interrupt while a run waits for the server's reply
_REPLY_POLL = 0.05
# bound now: a plugin's ``os.getpid = ...`` or ``os._exit = ...`` must not stop its run's result
_getpid = os.getpid
_exit = os._exit


class ProtocolError(Exception):
    """The server sent something this side does not understand: the host stops."""


class PluginTimeout(BaseException):
    """The run passed its execution timeout. A BaseException, as in the server's runtime, so a
    plugin's ``except Exception:`` does not swallow it."""


class Run:
    """One run in progress: its thread, its replies, whether plugin code is running now."""

    def __init__(self, run_id: int, trigger: str) -> None:
        self.id = run_id
        self.trigger = trigger
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.calls = 0
        self.active = True
        self.in_plugin = False
        self.thread_id = 0
        self.lock = threading.Lock()


class Link:
    """This side of the channel: sends are serialised, each run waits for its own replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.runs: dict[int, Run] = {}
        self.local = threading.local()

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message``; one the server would refuse as too large raises ValueError here,
        in the plugin's call or run, instead of costing the host its channel."""
        frame = encode(message, max_size=DEFAULT_MAX_FRAME)
        with self.lock:
            self.sock.sendall(frame)

    def call(self, run: Run, message: dict[str, Any]) -> Any:
        """Send one of ``run``'s calls; wait for its reply unless it is a log line."""
        is_log = message.get("op") == "log"
        if not run.active:
            if is_log:
                return None  # a late line from a plugin's thread: nobody is listening
            raise RuntimeError("influxdb3_local used after the plugin's call returned")
        run.calls += 1
        number = run.calls
        message = {**message, "id": run.id, "n": number}
        self.send(message)  # a TypeError (a value the wire cannot carry) is the plugin's
        if is_log:
            return None
        while True:
            try:  # a timed wait: an interrupt lands between two of them
                reply = run.replies.get(timeout=_REPLY_POLL)
            except queue.Empty:
                continue
            if reply.get("n") == number:
                break  # older replies belong to calls an interrupt cut short
        if "error" in reply:
            raise RemoteError(str(reply["error"]))
        return reply.get("value")


class _LogStream:
    """A text stream that sends each complete line to the log of the run printing it."""

    def __init__(self, link: Link, level: str, original: TextIO | None) -> None:
        self.link, self.level = link, level
        self.encoding = "utf-8"
        self.original = original

    def _pending(self) -> tuple[Run | None, list[str]]:
        local = self.link.local
        buffers = local.__dict__.setdefault("buffers", {})
        return getattr(local, "run", None), buffers.setdefault(self.level, [""])

    def write(self, text: str) -> int:
        run, pending = self._pending()
        pending[0] += text
        while "\n" in pending[0]:
            line, _, pending[0] = pending[0].partition("\n")
            if run is not None:
                self.link.call(run, {"op": "log", "level": self.level, "text": line})
        return len(text)

    def flush(self) -> None:
        run, pending = self._pending()
        if pending[0]:
            text, pending[0] = pending[0], ""
            if run is not None:
                self.link.call(run, {"op": "log", "level": self.level, "text": text})

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        if self.original is None:
            raise OSError("no file descriptor")
        return self.original.fileno()


def _positional(kind: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "wal":
        return (payload["table_batches"],)
    if kind == "schedule":
        return (payload["call_time"],)
    if kind == "request":
        return (payload["query_parameters"], payload["request_headers"], payload["request_body"])
    raise ProtocolError(f"unknown trigger kind {kind!r}")


def _raise_in(run: Run, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in ``run``'s thread at its next bytecode; None clears a pending one."""
    set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_async(ctypes.c_ulong(run.thread_id), ctypes.py_object(exc_type) if exc_type else None)


def _interrupt(run: Run, reason: str, text: str) -> None:
    exc_type: type[BaseException] = KeyboardInterrupt
    if reason == "timeout":
        exc_type = type("PluginTimeout", (PluginTimeout,), {"__str__": lambda _self: text})
    with run.lock:
        if run.in_plugin:
            _raise_in(run, exc_type)


#: every cache namespace of this host's triggers
CACHES = CacheStore()


def _call_plugin(link: Link, run: Run, loader: Loader, message: dict[str, Any]) -> dict[str, Any]:
    database = str(message["database"])
    name = run.trigger.partition("/")[2] or run.trigger
    test_cache = message.get("test_cache")
    cache = (
        CACHES.for_trigger(database, name)
        if test_cache is None
        else CACHES.for_test(str(test_cache) or None)
    )
    api = PluginApi(run.trigger, database, lambda m: link.call(run, m), cache, CACHES.maybe_sweep)
    kind = str(message["kind"])
    stage = "load"
    with run.lock:
        run.in_plugin = True
    try:
        try:
            entry = loader.entry_point(message)
            stage = "call"
            value = entry(api, *_positional(kind, message["payload"]), message.get("args"))
        finally:
            with run.lock:  # no interrupt may land in this module's code after the plugin's
                run.in_plugin = False
                _raise_in(run, None)
        result: dict[str, Any] = {"op": "result", "ok": True, "writes": queued_writes(api)}
        if kind == "request":
            stage = "response"
            status, headers, body = to_response_parts(value)
            result["response"] = {"status": status, "headers": headers, "body": body}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the plugin's too
        result = {"op": "result", "ok": False, "stage": stage, **describe(exc)}
        if stage == "response":  # the engine's words, not the plugin's exception
            result.update(error=str(exc), traceback=None)
    return result


def _run_thread(
    link: Link,
    loader: Loader,
    run: Run,
    message: dict[str, Any],
    before_result: Callable[[], None],
) -> None:
    """Run ``run`` on this thread and send its result, calling ``before_result`` first (the
    server may send the next run as soon as it has the result)."""
    pid = _getpid()
    run.thread_id = threading.get_ident()
    link.local.run = run
    CHILDREN.begin()
    try:
        result = _call_plugin(link, run, loader, message)
    finally:
        if _getpid() != pid:
            _exit(0)  # a process the plugin forked came back here: it must not answer
        CHILDREN.end(run.trigger)  # what it started is reaped, and killed with the trigger
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _LogStream):
                try:
                    stream.flush()
                except (TypeError, OSError):
                    pass
        run.active = False
        link.local.run = None
    result["id"] = run.id
    before_result()
    try:
        link.send(result)
    except (TypeError, ValueError) as exc:  # a result the wire cannot carry, or too large
        link.send({"op": "result", "id": run.id, "ok": False, "stage": "call", **describe(exc)})
    except OSError:
        _exit(1)  # the server is gone
    finally:
        link.runs.pop(run.id, None)


def _control(link: Link, message: dict[str, Any]) -> None:
    """A request of the server's about the host itself (the cache); answered as a result."""
    action = message.get("action")
    try:
        if action == "save_cache":
            report = CACHES.save(Path(str(message["path"])))
            value: Any = {"saved": report.saved, "skipped": [list(s) for s in report.skipped]}
        elif action == "load_cache":
            loaded = CACHES.load(Path(str(message["path"])))
            value = {"restored": loaded.restored, "skipped": [list(s) for s in loaded.skipped]}
        elif action == "drop_trigger":
            value = CACHES.drop_trigger(str(message["database"]), str(message["trigger"]))
        elif action == "drop_database":
            value = CACHES.drop_database(str(message["database"]))
        elif action == "end_children":
            value = CHILDREN.end_trigger(str(message["trigger"]))
        else:
            raise ProtocolError(f"unknown control action {action!r:.50}")
        result: dict[str, Any] = {"op": "result", "id": message["id"], "ok": True, "value": value}
    except Exception as exc:  # a file that cannot be written: the server logs it
        result = {"op": "result", "id": message["id"], "ok": False, **describe(exc)}
    try:
        link.send(result)
    except OSError:
        _exit(1)


def _venv_prefix() -> str:
    """The venv this interpreter belongs to, found as ``site`` does (-S skipped that step):
    the directory holding ``pyvenv.cfg``, beside the executable or one level up. Its prefix
    becomes ``sys.prefix``, as in a normal start; never the base interpreter's site-packages."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    for candidate in (exe_dir, os.path.dirname(exe_dir)):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            sys.prefix = sys.exec_prefix = candidate
            return candidate
    raise ProtocolError(f"{sys.executable} is not a venv's interpreter (no pyvenv.cfg)")


def _set_path(config: dict[str, Any]) -> None:
    guest = str(config["guest"])
    sys.path[:] = [entry for entry in sys.path if entry != guest]
    import site  # under -S nothing ran it; importing it now only defines its functions

    dirs = config.get("site_packages")
    if dirs is None:
        dirs = site.getsitepackages([_venv_prefix()])
    for entry in dirs:
        site.addsitedir(str(entry))
    if config.get("plugin_dir"):
        sys.path.append(str(config["plugin_dir"]))
    sys.path.append(guest)


def main(argv: list[str]) -> None:
    """Serve runs on the channel fd named in the JSON config ``argv[0]`` until told to stop."""
    config = json.loads(argv[0])
    _set_path(config)
    sock = socket.socket(fileno=int(config["fd"]))
    link = Link(sock)
    sys.stdout = _LogStream(link, "INFO", sys.__stdout__)
    sys.stderr = _LogStream(link, "ERROR", sys.__stderr__)
    loader = Loader()
    CHILDREN.adopt_orphans()
    CHILDREN.start_reaper()

    def run(job: tuple[Run, dict[str, Any]], before_result: Callable[[], None]) -> None:
        threading.current_thread().name = f"run-{job[0].trigger}"
        _run_thread(link, loader, *job, before_result)

    try:
        TakeTurns(partial(_read_until_run, sock, link), run).serve()
    finally:  # an error of this loop is reported on the real stderr (the server's)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        CHILDREN.end_all()  # killed and reaped here: no zombie is left to whoever adopts them
    _exit(0)  # threads a plugin left running must not keep the host alive


def _read_until_run(sock: socket.socket, link: Link) -> tuple[Run, dict[str, Any]] | None:
    """Handle the server's messages up to the next ``run``, which is returned; None when the
    server said stop or closed the channel."""
    while True:
        try:
            message = read_frame(sock, allow_marshal=True)  # the server's frames
        except (EOFError, OSError):
            return None
        except FrameError as exc:
            raise ProtocolError(str(exc)) from None
        op = message.get("op") if isinstance(message, dict) else None
        if op == "stop":
            return None
        run = link.runs.get(message.get("id", -1)) if op in ("reply", "interrupt") else None
        if op == "run":
            run = Run(int(message["id"]), str(message["trigger"]))
            link.runs[run.id] = run
            return run, message
        if op == "reply":
            if run is not None:
                run.replies.put(message)
        elif op == "control":
            if message.get("action") in ("save_cache", "load_cache", "end_children"):  # slow
                threading.Thread(target=_control, args=(link, message), daemon=True).start()
            else:  # in order: a drop lands before a save the server sends after it
                _control(link, message)
        elif op == "interrupt":
            if run is not None:
                _interrupt(run, str(message.get("reason")), str(message.get("text", "")))
        else:
            raise ProtocolError(f"expected run, reply, interrupt or stop, got {message!r:.200}")
