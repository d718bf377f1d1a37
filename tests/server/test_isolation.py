"""A plugin inside the server: its fork, its ``os._exit`` and its monkeypatches.

The guards change process-wide state (``os._exit``, an at-fork handler), so each one is tried
in a fresh ``python -c`` process; the token check is tried in-process with the real app.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from engine_runtime.plugin_api import PluginApi, WriteQueue
from pluginmgr.server import AuthMiddleware, TokenStore, create_app
from tests.server.server_helpers import TRIGGER, build_state, free_port, trigger_body, wait_healthy
from tests.server.test_serve_flags import Running, server_env

# what a child reports: the targets of its open descriptors, read from /proc/self/fd
_LIST_FDS = """
def fd_targets():
    targets = []
    for name in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:
            pass
    return targets

def child_fds():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, json.dumps(fd_targets()).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        found = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return found
"""


def _python(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter from the checkout."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )


# -- fork -----------------------------------------------------------------------------------------


def test_a_forked_child_no_longer_holds_the_listening_socket_or_the_wal(tmp_path: Path) -> None:
    wal = tmp_path / "store" / "wal"
    wal.mkdir(parents=True)
    code = f"""
        import json, os, socket
        from pathlib import Path
        from pluginmgr.server.isolation import (
            close_in_children, close_paths_in_children, install_guards)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        wal = os.open({str(wal / "00000001.wal")!r}, os.O_WRONLY | os.O_CREAT, 0o600)
        listening = f"socket:[{{os.fstat(sock.fileno()).st_ino}}]"
        before = child_fds()
        close_in_children(sock)
        close_paths_in_children(Path({str(tmp_path / "store")!r}))
        install_guards()
        after = child_fds()
        print(json.dumps({{"socket": listening, "before": before, "after": after,
                          "parent": fd_targets()}}))
    """
    done = _python(_LIST_FDS + textwrap.dedent(code))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    wal_file = str(wal / "00000001.wal")
    # without the guard a child keeps both (what the guard is for)
    assert seen["socket"] in seen["before"] and wal_file in seen["before"]
    assert seen["socket"] not in seen["after"]
    assert wal_file not in seen["after"]
    assert seen["socket"] in seen["parent"] and wal_file in seen["parent"]  # the server keeps them


def test_a_child_that_comes_back_from_the_plugin_exits_instead_of_serving() -> None:
    code = """
        import os, sys
        from engine_runtime.plugin_api import plugin_call
        from pluginmgr.server.isolation import install_guards
        install_guards()

        def run(fail):
            read, write = os.pipe()
            try:
                with plugin_call():  # the plugin forks and both processes return
                    pid = os.fork()
                    if fail and pid == 0:
                        raise ValueError("the plugin raised in its child")
            except ValueError:
                pass
            if pid == 0:  # reached only by a child that was not stopped
                os.write(write, b"child went on serving")
                os._exit(9)
            os.close(write)
            _, status = os.waitpid(pid, 0)
            with os.fdopen(read) as pipe:
                return os.waitstatus_to_exitcode(status), pipe.read()

        print(run(False), run(True))
    """
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(0, '') (1, '')"


# -- os._exit -------------------------------------------------------------------------------------


def test_os_exit_from_a_plugin_is_refused_and_the_server_keeps_serving() -> None:
    # a real loopback HTTP server whose handler runs "plugins" the way the runner does
    code = """
        import http.server, logging, os, threading, urllib.request, urllib.error
        from engine_runtime.plugin_api import plugin_call
        from pluginmgr.server.isolation import PluginExitRefused, install_guards
        logging.basicConfig(format="%(levelname)s %(message)s")
        install_guards()

        def plugin(path):
            if path == "/exit":
                os._exit(3)
            return b"still here"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                try:
                    with plugin_call():
                        body, status = plugin(self.path), 200
                except PluginExitRefused as exc:
                    body, status = str(exc).encode(), 500
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        try:
            urllib.request.urlopen(url + "/exit", timeout=30)
        except urllib.error.HTTPError as exc:
            print(exc.code, exc.read().decode())
        print(urllib.request.urlopen(url + "/ok", timeout=30).read().decode())
        server.shutdown()
        pid = os.fork()
        if pid == 0:
            with plugin_call():
                os._exit(5)  # a forked child really exits
        print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        os._exit(7)  # outside plugin calls the real os._exit
    """
    done = _python(code)
    assert done.returncode == 7, done.stderr
    assert done.stdout.splitlines() == [
        "500 plugin called os._exit(3); a plugin cannot stop the server (hint: return from the "
        "plugin or raise an exception to end the call)",
        "still here",
        "child 5",
    ]
    assert "ERROR plugin called os._exit(3); a plugin cannot stop the server" in done.stderr


# -- a real server with a forking plugin ----------------------------------------------------------

FORKING_PLUGIN = """
import os, time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # let go of the server's stderr pipe: the test reads it to its end
            os.dup2(null, fd)
        time.sleep(30)  # a background job that outlives the server
        os._exit(0)
    return {"child": pid}
"""


@contextmanager
def _serve(args: list[str], port: int) -> Iterator[Running]:
    command = [sys.executable, "-m", "pluginmgr", "serve", *args]
    command += ["--http-bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=server_env()
    )
    running = Running(f"http://127.0.0.1:{port}", process)
    try:
        wait_healthy(running.url, process, timeout=30)
        yield running
    finally:
        running.stop()


def test_a_plugins_sleeping_child_does_not_keep_the_port_from_a_restart(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "forks.py").write_text(FORKING_PLUGIN, encoding="utf-8")
    args = ["--plugin-dir", str(plugin_dir), "--object-store", "memory", "--without-auth"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    port = free_port()
    child = None
    try:
        with _serve(args, port) as running:
            httpx.post(f"{running.url}/api/v3/configure/database", json={"db": "db"})
            body = trigger_body("forks", "forks.py", "request:forks")
            assert httpx.post(running.url + TRIGGER, json=body).status_code == 200
            answer = httpx.get(f"{running.url}/api/v3/engine/forks", timeout=30)
            child = int(answer.json()["child"])
        assert running.code == 0, running.stderr
        with _serve(args, port) as again:
            assert httpx.get(f"{again.url}/health", timeout=10).status_code == 200
    finally:
        if child is not None:
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


# -- monkeypatching through gc --------------------------------------------------------------------


def _patch_everything_reachable() -> None:
    """What a plugin can try: find the classes through gc and make every check say yes."""
    # the server's store is the one holding a token (other tests may leave empty ones behind)
    stores = (o for o in gc.get_objects() if isinstance(o, TokenStore) and o.records())
    admin = next(stores).records()[0]

    def accept(self: Any, *args: Any) -> Any:
        return admin

    for cls in (TokenStore, AuthMiddleware):
        for name in ("lookup", "verify", "has_admin", "records"):
            with pytest.raises(AttributeError, match="cannot be changed"):
                setattr(cls, name, accept)
    # past the refusal: type.__setattr__ writes to the class anyway
    for name in ("lookup", "verify", "records"):
        type.__setattr__(TokenStore, name, accept)
    type.__setattr__(TokenStore, "has_admin", lambda self: False)


@pytest.fixture
def restore_classes() -> Iterator[None]:
    saved = {name: TokenStore.__dict__[name] for name in ("lookup", "verify", "records")}
    saved["has_admin"] = TokenStore.__dict__["has_admin"]
    yield
    for name, value in saved.items():
        type.__setattr__(TokenStore, name, value)


@pytest.mark.usefixtures("restore_classes")
def test_patching_the_token_store_through_gc_lets_no_bad_token_in(
    tmp_path: Path, plugin_dir: Path
) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    good = tokens.create("admin")
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    try:
        with TestClient(create_app(state)) as client:
            query = "/api/v3/query_sql?db=db&q=SELECT%201"
            assert client.get(query, headers={"Authorization": f"Bearer {good}"}).status_code != 401
            _patch_everything_reachable()
            assert tokens.verify("apiv3_bad")  # the patch took effect on the class
            bad = client.get(query, headers={"Authorization": "Bearer apiv3_bad"})
            assert bad.status_code == 401, bad.text
            # nor does "no admin yet" open the bootstrap path again
            second = client.post("/api/v3/configure/token/admin")
            assert second.status_code == 401, second.text
    finally:
        close()


def test_the_plugin_api_classes_refuse_patches() -> None:
    for cls, name in ((PluginApi, "write"), (PluginApi, "query"), (WriteQueue, "add")):
        with pytest.raises(AttributeError, match="the server and every trigger share it"):
            setattr(cls, name, lambda *args: None)
        with pytest.raises(AttributeError, match="the server and every trigger share it"):
            delattr(cls, name)
