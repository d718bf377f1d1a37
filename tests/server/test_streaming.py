"""The progress stream over real HTTP (uvicorn on a loopback port): heartbeats keep a silent
operation alive past the client's read timeout, a dead-silent server times out, and errors
carry the status the plain request answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pluginmgr.cli.client import ServerClient
from pluginmgr.cli.progress_stream import post_with_progress
from pluginmgr.errors import ServerError
from pluginmgr.server import streaming
from pluginmgr.server.routes_common import ApiError, endpoint
from tests.helpers import wait_for

Operation = Callable[[Callable[[str], None] | None], Any]


@contextmanager
def serving(operation: Operation) -> Iterator[str]:
    @endpoint
    async def run(request: Request) -> Response:
        return await streaming.answer_with_progress(request, operation)

    app = Starlette(routes=[Route("/op", run, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=10)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def slow(progress: Callable[[str], None] | None) -> dict[str, bool]:
    """Silent for 0.7 s, one progress line, silent for 0.7 s more."""
    time.sleep(0.7)
    if progress is not None:
        progress("half way")
    time.sleep(0.7)
    return {"done": True}


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr("pluginmgr.cli.progress_stream.SILENCE_TIMEOUT", 0.5)


@pytest.mark.usefixtures("short_timeouts")
def test_heartbeats_keep_an_operation_longer_than_the_read_timeout_alive() -> None:
    lines: list[str] = []
    with serving(slow) as url, httpx.Client() as client:
        answer = post_with_progress(
            client, url + "/op", host=url, json_body={}, on_progress=lines.append
        )
    assert (answer.status, answer.body) == (200, {"done": True})
    assert lines == ["half way"]


def test_a_server_silent_longer_than_the_read_timeout_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streaming, "HEARTBEAT_SECONDS", 30.0)
    monkeypatch.setattr("pluginmgr.cli.progress_stream.SILENCE_TIMEOUT", 0.3)
    with serving(slow) as url, httpx.Client() as client, pytest.raises(ServerError) as caught:
        post_with_progress(client, url + "/op", host=url, json_body={}, on_progress=print)
    assert caught.value.message == f"the server at {url} sent nothing for 0.3s"


@pytest.mark.usefixtures("short_timeouts")
def test_without_the_accept_header_the_answer_is_plain_json() -> None:
    with serving(slow) as url:
        answer = httpx.post(url + "/op", json={}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"done": True}


def test_an_error_carries_the_status_and_message_of_the_plain_answer() -> None:
    def taken(progress: Callable[[str], None] | None) -> None:
        if progress is not None:
            progress("checking")
        raise ApiError(409, "trigger t already exists", data={"name": "t"})

    lines: list[str] = []
    with serving(taken) as url:
        plain = httpx.post(url + "/op", json={}, timeout=10)
        with ServerClient(url) as client, pytest.raises(ServerError) as caught:
            client.post_with_progress("/op", json_body={}, on_progress=lines.append)
    assert plain.status_code == 409
    assert plain.json() == {"error": "trigger t already exists", "data": {"name": "t"}}
    assert (caught.value.status, caught.value.message) == (409, "trigger t already exists")
    assert caught.value.data == {"name": "t"}
    assert lines == ["checking"]


@pytest.mark.usefixtures("short_timeouts")
def test_a_client_that_leaves_does_not_stop_the_operation() -> None:
    finished = threading.Event()

    def install(progress: Callable[[str], None] | None) -> dict[str, bool]:
        if progress is not None:
            progress("installing")
        time.sleep(0.5)
        finished.set()  # an install is never cut half way
        return {"done": True}

    headers = {"Accept": streaming.NDJSON}
    with serving(install) as url, httpx.Client() as client:
        with client.stream("POST", url + "/op", json={}, headers=headers) as response:
            first = next(response.iter_lines())
        assert '"installing"' in first
        assert finished.wait(5)
        again = client.post(url + "/op", json={}, timeout=10)  # the server still serves
        assert again.json() == {"done": True}
