"""`InPlaceUpdater` against a loopback stand-in for a node before InfluxDB 3.11 (which answers
the trigger ``PUT`` with 404): the trigger is re-created (disable, delete, create), and the
node is not asked again; any other error of the ``PUT`` is the node's error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from pluginmgr.errors import NodeError
from pluginmgr.fleet import FleetNode, FleetTrigger, InPlaceUpdater, NodeClient

TRIGGER_PATH = "/api/v3/configure/processing_engine_trigger"


class _OldNode(BaseHTTPRequestHandler):
    """Answers ``PUT`` on the trigger path with ``put_status``, everything else 200."""

    put_status: ClassVar[int] = 404
    seen: ClassVar[list[tuple[str, str, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.seen.append((self.command, self.path.partition("?")[0], body))
        status = self.put_status if self.command == "PUT" else 200
        payload = b'{"error": "not found"}' if status >= 400 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def old_node() -> Iterator[str]:
    _OldNode.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OldNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _want(arguments: dict[str, str]) -> FleetTrigger:
    return FleetTrigger("wal", "db", "table:cpu", "p.py", arguments, frozenset({"ingest"}))


def test_a_node_without_the_update_gets_the_trigger_recreated_and_is_not_asked_again(
    old_node: str,
) -> None:
    updater = InPlaceUpdater()
    node = FleetNode("old", old_node, frozenset({"ingest"}), "INFLUXDB3_AUTH_TOKEN")
    with NodeClient(node) as client:
        updater.update(client, _want({"window": "5m"}), "p.py")
        updater.update(client, _want({"window": "1m"}), "p.py")
    routes = [(method, path) for method, path, _ in _OldNode.seen]
    recreate = [
        ("POST", f"{TRIGGER_PATH}/disable"),
        ("DELETE", TRIGGER_PATH),
        ("POST", TRIGGER_PATH),
    ]
    assert routes == [("PUT", TRIGGER_PATH), *recreate, *recreate]
    created = [body for method, path, body in _OldNode.seen if (method, path) == routes[3]]
    assert [body["trigger_arguments"] for body in created] == [{"window": "5m"}, {"window": "1m"}]


def test_another_error_of_the_update_is_the_nodes_error(old_node: str) -> None:
    _OldNode.put_status = 400
    try:
        node = FleetNode("old", old_node, frozenset({"ingest"}), "INFLUXDB3_AUTH_TOKEN")
        with NodeClient(node) as client, pytest.raises(NodeError) as caught:
            InPlaceUpdater().update(client, _want({"window": "5m"}), "p.py")
    finally:
        _OldNode.put_status = 404
    assert caught.value.status == 400
    assert [method for method, _, _ in _OldNode.seen] == ["PUT"]  # nothing deleted
