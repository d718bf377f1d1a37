"""``pluginmgr serve --disable-authz`` and ``--admin-token-recovery-http-bind`` as real processes:
InfluxDB 3 Core's default (``/health``, ``/ping``, ``/metrics`` need a token), upstream's parsing
and messages, and the recovery endpoint that regenerates the operator token once, then closes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pluginmgr.cli._serve_auth import INVALID_VALUE_MESSAGE, TOO_MANY_MESSAGE
from pluginmgr.server import TokenStore
from pluginmgr.server.routes_tokens import REGENERATE_PATH
from tests.helpers import run_cli, wait_for
from tests.server.server_helpers import free_port
from tests.server.test_serve_flags import server_env, serving

OPEN_PATHS = ("/health", "/api/v1/health", "/ping", "/metrics")


def _args(root: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(root / "data"), "--cache-dir", str(root / "cache"), *extra]


def _operator(root: Path) -> str:
    """The operator token, written to the data dir before the server starts."""
    made = TokenStore(root / "data" / "tokens.json").create_first_admin("_admin")
    assert made is not None
    return made[0]


def _statuses(url: str, token: str | None = None) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {path: httpx.get(f"{url}{path}", headers=headers).status_code for path in OPEN_PATHS}


def test_by_default_health_ping_and_metrics_need_a_token(tmp_path: Path) -> None:
    token = _operator(tmp_path)
    with serving(_args(tmp_path), server_env()) as running:
        assert set(_statuses(running.url).values()) == {401}
        assert set(_statuses(running.url, token).values()) == {200}
        assert running.startup[-1] == "  auth:       token required"


def test_disable_authz_opens_the_named_resources_only(tmp_path: Path) -> None:
    _operator(tmp_path)
    args = _args(tmp_path, "--disable-authz", " health , ping")  # items are trimmed, as upstream
    with serving(args, server_env()) as running:
        assert _statuses(running.url) == {
            "/health": 200,
            "/api/v1/health": 200,
            "/ping": 200,
            "/metrics": 401,
        }
        assert httpx.get(f"{running.url}/api/v3/configure/database").status_code == 401
        assert running.startup[-1] == (
            "  auth:       token required (except /api/v1/health, /health, /ping: --disable-authz)"
        )


def test_disable_authz_from_the_environment(tmp_path: Path) -> None:
    _operator(tmp_path)
    env = server_env(INFLUXDB3_DISABLE_AUTHZ="metrics,ready,pprof")
    with serving(_args(tmp_path), env) as running:
        statuses = _statuses(running.url)
    assert statuses == {"/health": 401, "/api/v1/health": 401, "/ping": 401, "/metrics": 200}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("health,foo,metrics", INVALID_VALUE_MESSAGE),
        ("health,", INVALID_VALUE_MESSAGE),
        ("health,metrics,ping,health,ready,pprof,node_stop", TOO_MANY_MESSAGE),
    ],
)
def test_a_bad_disable_authz_is_upstreams_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, message: str
) -> None:
    done = run_cli(capsys, "serve", *_args(tmp_path), "--disable-authz", value)
    assert done.code == 1
    assert done.err.startswith(f"error: {message} (hint: ")
    assert len(done.err.splitlines()) == 1
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_upstreams_messages_are_pinned() -> None:
    assert TOO_MANY_MESSAGE == "--disable-authz cannot take more than 6 items"
    assert INVALID_VALUE_MESSAGE == (
        "invalid value passed in for --disable-authz, allowed values are health, ping, metrics, "
        "ready, pprof, and node_stop"
    )


def test_recovery_regenerates_the_operator_token_once_then_closes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old = _operator(tmp_path)
    port = free_port()
    recovery = f"http://127.0.0.1:{port}"
    args = _args(tmp_path, "--admin-token-recovery-http-bind", f"127.0.0.1:{port}")
    with serving(args, server_env()) as running:
        assert httpx.post(f"{recovery}/api/v3/configure/database").status_code == 404
        wrong = httpx.get(f"{recovery}{REGENERATE_PATH}")
        assert (wrong.status_code, wrong.json()) == (404, {"error": "not found"})
        made = run_cli(
            capsys, "create", "token", "--admin", "--regenerate", "-H", recovery, "--yes"
        )
        assert made.code == 0, made.err
        new = next(line for line in made.out.splitlines() if line.startswith("Token: "))[7:]
        database = f"{running.url}/api/v3/configure/database"
        assert httpx.get(database, headers={"Authorization": f"Bearer {new}"}).status_code == 200
        assert httpx.get(database, headers={"Authorization": f"Bearer {old}"}).status_code == 401

        def closed() -> bool:
            try:
                httpx.post(f"{recovery}{REGENERATE_PATH}", timeout=1)
            except httpx.TransportError:
                return True
            return False

        assert wait_for(closed, timeout=10)
    assert "warning: admin token recovery open on http://127.0.0.1:" in running.stderr


def test_recovery_without_auth_is_refused_at_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["--without-auth", "--admin-token-recovery-http-bind"]  # the flag alone: 8182
    done = run_cli(capsys, "serve", *_args(tmp_path), *args)
    assert done.code == 1
    assert done.err.startswith(
        "error: --admin-token-recovery-http-bind needs auth: with --without-auth no token exists"
    )


def test_tokens_ids_and_expiry_survive_a_restart(tmp_path: Path) -> None:
    operator = _operator(tmp_path)
    auth = {"Authorization": f"Bearer {operator}"}
    body = {"token_name": "ci", "expiry_secs": 3600}
    with serving(_args(tmp_path), server_env()) as running:
        named = f"{running.url}/api/v3/configure/token/named_admin"
        made = httpx.post(named, json=body, headers=auth).json()
    with serving(_args(tmp_path), server_env()) as running:
        ci = {"Authorization": f"Bearer {made['token']}"}
        assert httpx.get(f"{running.url}/health", headers=ci).status_code == 200
        params = {"db": "_internal", "q": "SELECT name, token_id, expiry FROM system.tokens"}
        rows = httpx.get(f"{running.url}/api/v3/query_sql", params=params, headers=ci).json()
    assert [(row["name"], row["token_id"]) for row in rows] == [("_admin", 0), ("ci", 1)]
    assert rows[0].get("expiry") is None and rows[1]["expiry"].startswith(made["expiry"][:16])
