"""The server's end of the channel to a plugin host: frames with a deadline, shapes checked.

What the host sends is untrusted: frames are bounded (`max_frame`), decoded by the data-only
`wire` format (JSON plus tagged bytes/datetimes/non-finite floats: nothing is unpickled or
evaluated), and each message is checked for the fields its ``op`` needs before anything uses it.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Final

from ..errors import HostProtocolError, PluginHostError
from .guest.pluginmgr_guest.wire import DEFAULT_MAX_FRAME, FrameError, read_frame, write_frame

__all__ = ["HOST_OPS", "Channel", "HostProtocolError", "PluginHostError", "field"]

#: what a host may send during a run, and the fields (with their types) each needs
HOST_OPS: Final[dict[str, dict[str, type | tuple[type, ...]]]] = {
    "log": {"id": int, "level": str, "text": str},
    "query": {"id": int, "n": int, "sql": str, "database": str, "params": (dict, type(None))},
    "write_sync": {"id": int, "n": int, "database": str, "lines": str, "no_sync": bool},
    "result": {"id": int, "ok": bool},
}


def field(message: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``message[name]``, checked to be of ``kind``; raises `HostProtocolError`."""
    value = message.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        op = message.get("op")
        raise HostProtocolError(f"plugin host sent {op!r} with a bad {name!r}: {value!r:.100}")
    return value


class Channel:
    """Framed messages over a connected socket; `receive` waits until a deadline at most."""

    def __init__(self, sock: socket.socket, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.sock = sock
        self.max_frame = max_frame

    def send(self, message: dict[str, Any]) -> None:
        """Send one message; raises OSError when the host is gone."""
        self.sock.settimeout(None)
        write_frame(self.sock, message)

    def send_frame(self, frame: bytes) -> None:
        """Send a frame made by ``wire.encode``; raises OSError when the host is gone."""
        self.sock.settimeout(None)
        self.sock.sendall(frame)

    def receive(self, deadline: float | None) -> dict[str, Any]:
        """The host's next message, of a known op with its fields.

        Raises TimeoutError past ``deadline`` (a ``time.monotonic()`` value), EOFError when
        the host closed its end (it exited), `HostProtocolError` for anything malformed.
        """
        if deadline is None:
            self.sock.settimeout(None)
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed")
            self.sock.settimeout(remaining)
        try:
            message = read_frame(self.sock, self.max_frame)
        except FrameError as exc:
            raise HostProtocolError(f"plugin host sent a bad frame: {exc}") from None
        except ConnectionResetError:
            raise EOFError("the plugin host closed the channel") from None
        if not isinstance(message, dict):
            raise HostProtocolError(f"plugin host sent a non-object message: {message!r:.100}")
        op = message.get("op")
        if not isinstance(op, str) or op not in HOST_OPS:
            raise HostProtocolError(f"plugin host sent an unknown op {op!r:.100}")
        for name, kind in HOST_OPS[op].items():
            field(message, name, kind)
        return message

    def close(self) -> None:
        self.sock.close()
