"""What a token without admin rights may do: every route against the permission table, code
paths (plugin tests from git, triggers, plugin files, installs) refused, and no token reaching
a request plugin's query parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from pluginmgr.server import ServerState, TokenStore
from pluginmgr.server.permissions import ROUTE_PERMISSIONS, Permission, permission_for
from tests.git_helpers import git_cli, write
from tests.server.server_helpers import TRIGGER, build_state, trigger_body, write_plugin

#: a WAL plugin that leaves a file behind when its module is loaded: proof that it ran
_MARKER_PLUGIN = """
from pathlib import Path
Path({marker!r}).write_text("ran")
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("ran")
"""

#: a request plugin that answers what it was given
_ECHO = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"q": query_parameters, "h": request_headers}
"""


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


@pytest.fixture
def state(tmp_path: Path, plugin_dir: Path, tokens: TokenStore) -> Iterator[ServerState]:
    built, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    yield built
    close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _concrete(path: str) -> str:
    """A request path for a route template: each ``{param}`` becomes ``x``."""
    return re.sub(r"\{[^}]*\}", "x", path)


# -- the table --------------------------------------------------------------------------------


def test_every_route_answers_a_non_admin_token_as_the_table_says(
    client: TestClient, tokens: TokenStore
) -> None:
    headers = _bearer(tokens.create("writer", admin=False))
    admin = _bearer(tokens.create("admin"))
    client.post("/api/v3/configure/database", json={"db": "db"}, headers=admin)
    routes = [route for route in client.app.routes if isinstance(route, Route)]  # type: ignore[attr-defined]
    walked = 0
    for route in routes:
        for method in sorted(route.methods or ()):
            # a route without an entry fails here: every new route must be decided
            needed = ROUTE_PERMISSIONS["GET" if method == "HEAD" else method, route.path]
            url = _concrete(route.path) + "?db=db&q=SELECT%201"
            answer = client.request(method, url, headers=headers, json={})
            where = f"{method} {route.path}: {answer.status_code} {answer.text[:200]}"
            if needed is Permission.ADMIN:
                assert answer.status_code == 403, where
                if method != "HEAD":  # no body to a HEAD
                    assert "needs an admin token" in answer.json()["error"], where
            else:
                assert answer.status_code not in (401, 403), where
            walked += 1
    assert walked >= 40  # every method of every route, not a few
    # what the table does not name is for admins only: they get the 404 or 405
    for method, url, status in (("GET", "/api/v3/nope", 404), ("DELETE", "/api/v3/write_lp", 405)):
        assert client.request(method, url, headers=headers).status_code == 403
        assert client.request(method, url, headers=admin).status_code == status


def test_the_table_decides_unknown_paths_and_methods_for_admins_only() -> None:
    assert permission_for("POST", "/api/v3/write_lp") is Permission.WRITE
    assert permission_for("HEAD", "/api/v3/query_sql") is Permission.READ
    assert permission_for("GET", "/api/v3/engine/a/b") is Permission.WRITE
    assert permission_for("POST", "/api/v3/plugin_test/wal") is Permission.ADMIN
    assert permission_for("GET", "/api/v3/no/such/path") is Permission.ADMIN
    assert permission_for("DELETE", "/api/v3/write_lp") is Permission.ADMIN


# -- code paths -------------------------------------------------------------------------------


def _git_plugin(root: Path, marker: Path) -> str:
    """A git repository holding ``p.py`` (which writes ``marker`` when loaded); its reference."""
    repo = root / "repo"
    repo.mkdir()
    git_cli(repo, "init", "-q", "-b", "main")
    write(repo, {"p.py": _MARKER_PLUGIN.format(marker=str(marker)).encode()})
    git_cli(repo, "add", "-A")
    git_cli(repo, "commit", "-q", "-m", "plugin")
    return f"git+{repo.as_uri()}#path=p.py"


def test_plugin_test_from_git_needs_an_admin_token(
    client: TestClient, tokens: TokenStore, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    body = {"filename": _git_plugin(tmp_path, marker), "database": "db", "input_lp": "m v=1"}
    writer = _bearer(tokens.create("writer", admin=False))
    for path in ("/api/v3/plugin_test/wal", "/api/v3/plugin_test/schedule"):
        refused = client.post(path, json=body, headers=writer)
        assert refused.status_code == 403, refused.text
    assert not marker.exists()  # nothing was fetched or run
    ran = client.post("/api/v3/plugin_test/wal", json=body, headers=_bearer(tokens.create("a")))
    assert ran.status_code == 200, ran.text
    assert marker.read_text() == "ran"  # the same request with an admin token runs it


def test_triggers_files_and_installs_need_an_admin_token(
    client: TestClient, tokens: TokenStore, plugin_dir: Path
) -> None:
    admin, writer = _bearer(tokens.create("admin")), _bearer(tokens.create("w", admin=False))
    client.post("/api/v3/configure/database", json={"db": "db"}, headers=admin)
    write_plugin(plugin_dir, "echo.py", _ECHO)
    body = trigger_body("e", "echo.py", "request:e")
    refusals = [
        ("POST", TRIGGER, body),
        ("PUT", TRIGGER, body),
        ("POST", f"{TRIGGER}/enable?db=db&trigger_name=e", None),
        ("POST", f"{TRIGGER}/disable?db=db&trigger_name=e", None),
        ("DELETE", f"{TRIGGER}?db=db&trigger_name=e", None),
        ("POST", "/api/v3/plugins/files", {"plugin_name": "x.py", "content": "x = 1"}),
        ("PUT", "/api/v3/plugins/directory", {"plugin_name": "d", "files": []}),
        ("POST", "/api/v3/configure/plugin_environment/install_packages", {"packages": ["a"]}),
        ("POST", "/api/v3/configure/plugin_environment/install_requirements", {}),
        ("POST", "/api/v3/configure/table", {"db": "db", "table": "t", "tags": []}),
        ("POST", "/api/v3/configure/last_cache", {"db": "db", "table": "t"}),
    ]
    for method, url, json_body in refusals:
        answer = client.request(method, url, json=json_body, headers=writer)
        assert answer.status_code == 403, (method, url, answer.text)
    assert not (plugin_dir / "x.py").exists()
    assert client.get(f"{TRIGGER}?db=db", headers=admin).json() == []


# -- what a request plugin sees ---------------------------------------------------------------


def test_token_parameters_never_reach_a_request_plugin(
    client: TestClient, tokens: TokenStore, plugin_dir: Path
) -> None:
    admin_token = tokens.create("admin")
    admin = _bearer(admin_token)
    client.post("/api/v3/configure/database", json={"db": "db"}, headers=admin)
    write_plugin(plugin_dir, "echo.py", _ECHO)
    created = client.post(TRIGGER, json=trigger_body("e", "echo.py", "request:e"), headers=admin)
    assert created.status_code == 200, created.text
    writer_token = tokens.create("w", admin=False)
    query = f"p={writer_token}&u=me&token={admin_token}&keep=1"
    answer = client.get(f"/api/v3/engine/e?{query}", headers=_bearer(writer_token))
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["q"] == {"keep": "1"}
    assert "authorization" not in seen["h"]
    assert admin_token not in answer.text and writer_token not in answer.text
