"""The plugin host's wire format, and the guest package's standard-library-only rule."""

from __future__ import annotations

import ast
import datetime
import math
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine_runtime.host import GUEST_PATH
from engine_runtime.host.channel import Channel, HostProtocolError
from engine_runtime.host.guest.pluginmgr_guest import turns, wire
from engine_runtime.host.guest.pluginmgr_guest.line_builder import LineBuilder
from engine_runtime.plugins.line_builder import LineBuilder as EngineLineBuilder


def _roundtrip(value: object) -> object:
    frame = wire.encode(value)
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    return wire.decode(frame[4:])


def test_values_json_lacks_round_trip() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    value = {
        "bytes": b"\x00\xff",
        "when": when,
        "day": datetime.date(2026, 1, 2),
        "ns": 2**63 - 1,
        "big": 2**80,
        "inf": math.inf,
        "-inf": -math.inf,
        "nested": [{"$looks-like-a-tag": 1}, {1: "int key"}, (1, 2)],
    }
    back = _roundtrip(value)
    assert isinstance(back, dict)
    nan = _roundtrip(math.nan)
    assert isinstance(nan, float) and math.isnan(nan)
    assert back == {**value, "nested": [{"$looks-like-a-tag": 1}, {1: "int key"}, [1, 2]]}
    assert type(back["ns"]) is int


def test_unsendable_values_raise_type_error() -> None:
    with pytest.raises(TypeError, match="cannot send a 'object' over the plugin channel"):
        wire.encode({"x": object()})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"NaN", "bare NaN"),
        (b'{"$unknown": 1}', "unknown or malformed tag '$unknown'"),
        (b'{"$bytes": "***"}', "bad $bytes value"),
        (b'{"$map": [[[1], 2]]}', "a $map key is a list or dict"),
        (b"\xff\xfe", "not a JSON message"),
        (b"[" * 100_000, "not a JSON message"),
    ],
)
def test_malformed_bodies_are_frame_errors(body: bytes, words: str) -> None:
    with pytest.raises(wire.FrameError) as info:
        wire.decode(body)
    assert words in str(info.value)


def test_the_server_channel_bounds_frames_and_checks_shapes() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        channel = Channel(ours, max_frame=64)
        theirs.sendall(wire.encode({"op": "log", "id": 1, "level": "INFO", "text": "hi"}))
        assert channel.receive(None) == {"op": "log", "id": 1, "level": "INFO", "text": "hi"}
        theirs.sendall(wire.encode({"op": "result", "id": 1, "ok": "yes"}))
        with pytest.raises(HostProtocolError, match="'result' with a bad 'ok'"):
            channel.receive(None)
        theirs.sendall(wire.encode({"op": "eval", "code": "1"}))
        with pytest.raises(HostProtocolError, match="unknown op 'eval'"):
            channel.receive(None)
        theirs.sendall(struct.pack(">I", 65))
        with pytest.raises(HostProtocolError, match="a frame of 65 bytes is over the limit of 64"):
            channel.receive(None)
        with pytest.raises(TimeoutError):
            channel.receive(0.0)
        theirs.close()
        with pytest.raises(EOFError):
            channel.receive(None)


def test_line_builder_has_one_implementation() -> None:
    assert EngineLineBuilder is LineBuilder


def _imports(path: Path) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_the_guest_package_imports_only_the_standard_library() -> None:
    files = sorted((GUEST_PATH / "pluginmgr_guest").glob("*.py"))
    assert {f.name for f in files} >= {"api.py", "main.py", "wire.py", "line_builder.py"}
    imports = [(f.name, name, level) for f in files for name, level in _imports(f)]
    assert any(level == 1 for _, _, level in imports)  # its own modules: relative imports
    outside = [
        (file, name)
        for file, name, level in imports
        if level == 0 and name.partition(".")[0] not in sys.stdlib_module_names
    ]
    assert outside == []


def test_the_servers_marshal_frames_reach_only_the_host() -> None:
    rows = [{"host": "a", "usage": 0.5, "n": 2**70, "nan": math.nan, "raw": b"\x00"}]
    frame = wire.encode_for_host({"op": "run", "payload": {"table_batches": rows}})
    assert frame[4:5] == b"\x00"  # marshal: what the host reads with allow_marshal
    back = wire.decode(frame[4:], allow_marshal=True)
    assert isinstance(back, dict)
    (row,) = back["payload"]["table_batches"]
    assert row["nan"] != row["nan"] and {**row, "nan": 0} == {**rows[0], "nan": 0}
    with pytest.raises(wire.FrameError, match="only JSON frames are accepted here"):
        wire.decode(frame[4:])  # the server never unmarshals what a host sends
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(frame)
        with pytest.raises(HostProtocolError, match="a marshal frame"):
            Channel(ours).receive(None)
    with pytest.raises(wire.FrameError, match="not a marshal message"):
        wire.decode(b"\x00\xff", allow_marshal=True)


def test_values_marshal_lacks_go_as_json_frames() -> None:
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    frame = wire.encode_for_host({"call_time": when})
    assert frame[4:5] == b"{"  # a datetime: the tagged JSON
    assert wire.decode(frame[4:], allow_marshal=True) == {"call_time": when}
    with pytest.raises(TypeError, match="cannot send a 'object'"):
        wire.encode_for_host({"x": object()})


def test_take_turns_leaves_a_reader_while_every_job_waits_for_a_later_message() -> None:
    released = {"a": threading.Event(), "b": threading.Event()}
    finished: list[str] = []
    frames = iter(["a", "b", "release", "end"])

    def read() -> str | None:
        while (frame := next(frames)) == "release":  # a reply: handled by the reader itself
            for event in released.values():
                event.set()
        if frame == "end":
            assert all(event.is_set() for event in released.values())
            deadline = time.monotonic() + 5
            while len(finished) < 2 and time.monotonic() < deadline:
                time.sleep(0.001)
            return None
        return frame

    def run(job: str, before_result: Callable[[], None]) -> None:
        assert released[job].wait(5), f"nobody read on while {job} waited"
        before_result()
        finished.append(job)

    turns.TakeTurns(read, run).serve()

    assert sorted(finished) == ["a", "b"]
