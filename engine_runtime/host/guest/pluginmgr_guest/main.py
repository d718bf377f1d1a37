"""The plugin host's main loop: read a ``run``, call the plugin, answer with a ``result``.

Started as ``<venv>/bin/python -I -S -c BOOT CONFIG`` (see the server's
``engine_runtime.host.process``): `main` first sets ``sys.path`` to the standard library, the
venv's site-packages (through ``site.addsitedir``, so ``.pth`` files count), the plugin dir and
this package's directory, in that order. The channel is a socket on an inherited fd, never
stdout: a plugin's ``print`` goes to ``sys.stdout``, which forwards each line to the trigger's
log (stdout as INFO, stderr as ERROR). One run at a time; messages a plugin's own threads send
after its run returned are dropped.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import traceback
from typing import Any, TextIO

from .api import PluginApi, RemoteError, queued_writes
from .loader import Loader
from .responses import to_response_parts
from .wire import FrameError, encode, read_frame, write_frame

__all__ = ["Link", "main"]


class ProtocolError(Exception):
    """The server sent something this side does not understand: the host stops."""


class Link:
    """This side of the channel: sends are serialised, calls wait for the server's reply."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.active = False
        #: set once the channel failed: the run cannot be answered and the host stops
        self.broken = False

    def call(self, message: dict[str, Any]) -> Any:
        with self.lock:
            if not self.active:
                if message.get("op") == "log":
                    return None  # a late line from a plugin's thread: nobody is listening
                raise RuntimeError("influxdb3_local used after the plugin's call returned")
            frame = encode(message)  # a TypeError (unsendable value) is the plugin's
            try:
                self.sock.sendall(frame)
                if message.get("op") == "log":
                    return None  # one-way, kept in order by the channel
                reply = read_frame(self.sock)
            except (OSError, EOFError, FrameError):
                self.broken = True
                raise
            if not isinstance(reply, dict) or reply.get("op") != "reply":
                self.broken = True
                raise ProtocolError(f"expected a reply, got {reply!r:.200}")
        if "error" in reply:
            raise RemoteError(str(reply["error"]))
        return reply.get("value")


class _LogStream:
    """A text stream that sends each complete line to the trigger's log."""

    def __init__(self, link: Link, level: str, original: TextIO | None) -> None:
        self.link, self.level, self.buffer_text = link, level, ""
        self.encoding = "utf-8"
        self.original = original

    def write(self, text: str) -> int:
        self.buffer_text += text
        while "\n" in self.buffer_text:
            line, _, self.buffer_text = self.buffer_text.partition("\n")
            self.link.call({"op": "log", "level": self.level, "text": line})
        return len(text)

    def flush(self) -> None:
        if self.buffer_text:
            text, self.buffer_text = self.buffer_text, ""
            self.link.call({"op": "log", "level": self.level, "text": text})

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


def _plugin_traceback(exc: BaseException) -> str:
    """The traceback without this package's own frames (the plugin's are what matter)."""
    summary = traceback.TracebackException.from_exception(exc)
    here = os.path.dirname(os.path.abspath(__file__))
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if not frame.filename.startswith(here + os.sep)]
    )
    return "".join(summary.format())


def _failure(exc: BaseException, stage: str) -> dict[str, Any]:
    message = str(exc)
    name = type(exc).__name__
    return {
        "op": "result",
        "ok": False,
        "stage": stage,
        "error": f"{name}: {message}" if message else name,
        "error_type": name,
        "traceback": _plugin_traceback(exc),
    }


def _run(link: Link, loader: Loader, message: dict[str, Any]) -> dict[str, Any]:
    api = PluginApi(str(message["trigger"]), str(message["database"]), link.call)
    kind = str(message["kind"])
    pid = os.getpid()
    stage = "load"
    link.active = True
    try:
        entry = loader.entry_point(str(message["path"]), str(message["entry"]))
        stage = "call"
        value = entry(api, *_positional(kind, message["payload"]), message.get("args"))
        result: dict[str, Any] = {"op": "result", "ok": True, "writes": queued_writes(api)}
        if kind == "request":
            stage = "response"
            status, headers, body = to_response_parts(value)
            result["response"] = {"status": status, "headers": headers, "body": body}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the plugin's too
        if link.broken:
            raise  # the channel is gone or confused: nothing to answer
        result = _failure(exc, stage)
    finally:
        if os.getpid() != pid:
            os._exit(0)  # a process the plugin forked came back here: it must not answer
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _LogStream):
                stream.flush()
        with link.lock:
            link.active = False
    return result


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
    try:
        _serve(sock, link)
    finally:  # an error of this loop is reported on the real stderr (the server's)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def _serve(sock: socket.socket, link: Link) -> None:
    loader = Loader()
    while True:
        try:
            message = read_frame(sock)
        except EOFError:
            return
        if not isinstance(message, dict) or message.get("op") not in ("run", "stop"):
            raise ProtocolError(f"expected run or stop, got {message!r:.200}")
        if message["op"] == "stop":
            return
        result = _run(link, loader, message)
        with link.lock:
            write_frame(sock, result)
