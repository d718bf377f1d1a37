"""API tokens: hashed storage, revocation, and the middleware's refusals."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pluginmgr.server import HEALTH_PATHS, AuthError, ServerState, TokenStore, create_app
from tests.server.server_helpers import ECHO, TRIGGER, build_state, trigger_body, write_plugin

# -- the store --------------------------------------------------------------------------------


def test_token_is_returned_once_and_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tokens.json"
    store = TokenStore(path)
    token = store.create("admin")
    assert token.startswith("apiv3_") and len(token) > 40
    text = path.read_text()
    assert token not in text
    assert json.loads(text)["tokens"][0]["name"] == "admin"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.verify(token)
    assert not store.verify(token + "x")
    assert not store.verify("")
    left = sorted(p.name for p in path.parent.iterdir())
    assert left == ["tokens.json", "tokens.json.lock"]  # no temp file left


def test_revoke_is_seen_by_another_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    server, cli = TokenStore(path), TokenStore(path)
    token = cli.create("ci", admin=False)
    record = server.lookup(token)
    assert record is not None and record.name == "ci" and not record.admin
    assert cli.revoke("ci") is True
    assert cli.revoke("ci") is False
    assert not server.verify(token)


def test_names_are_unique_and_a_broken_file_is_an_error(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.create("admin")
    with pytest.raises(AuthError, match="already exists"):
        store.create("admin")
    with pytest.raises(AuthError, match="empty"):
        store.create(" ")
    (tmp_path / "tokens.json").write_text("{oops")
    with pytest.raises(AuthError, match="cannot read the token file"):
        TokenStore(tmp_path / "tokens.json").verify("anything")


# -- the middleware ---------------------------------------------------------------------------


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


def _client(tmp_path: Path, plugin_dir: Path, **kwargs: object) -> Iterator[TestClient]:
    state, close = build_state(tmp_path, plugin_dir, **kwargs)  # type: ignore[arg-type]
    try:
        with TestClient(create_app(state)) as client:
            yield client
    finally:
        close()


@pytest.fixture
def client(tmp_path: Path, plugin_dir: Path, tokens: TokenStore) -> Iterator[TestClient]:
    yield from _client(tmp_path, plugin_dir, tokens=tokens)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Authorization header"),
        ("Basic bm90LWJhc2U2NA==", "malformed Authorization header"),  # no user:password
        ("Basic dXNlcjpwYXNz", "invalid or revoked token"),  # user:pass, a wrong token
        ("Bearer", "malformed Authorization header"),
        ("Bearer a b", "malformed Authorization header"),
        ("Bearer apiv3_wrong", "invalid or revoked token"),
    ],
)
def test_refusals_are_401_with_a_reason(
    client: TestClient, header: str | None, reason: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, url in [
        ("POST", "/api/v3/write_lp?db=db"),
        ("GET", "/api/v3/query_sql?db=db&q=SELECT%201"),
        ("GET", "/api/v3/engine/anything"),
        ("POST", TRIGGER),
    ]:
        response = client.request(method, url, headers=headers, content=b"cpu v=1")
        assert response.status_code == 401, (method, url)
        assert response.json()["error"].startswith(reason)
        assert "Bearer" in response.json()["error"]  # says what to send


def test_valid_tokens_in_both_schemes_and_revocation(
    client: TestClient, tokens: TokenStore
) -> None:
    token = tokens.create("admin")
    for scheme in ("Bearer", "Token", "bearer"):
        headers = {"Authorization": f"{scheme} {token}"}
        response = client.post("/api/v3/write_lp?db=db", content="cpu v=1 1", headers=headers)
        assert response.status_code == 204, scheme
    tokens.revoke("admin")
    revoked = client.post(
        "/api/v3/write_lp?db=db", content="cpu v=1", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 401
    assert revoked.json()["error"].startswith("invalid or revoked token")


def test_non_admin_token_cannot_configure(client: TestClient, tokens: TokenStore) -> None:
    headers = {"Authorization": f"Bearer {tokens.create('writer', admin=False)}"}
    assert client.post("/api/v3/write_lp?db=db", content="m v=1", headers=headers).is_success
    refused = client.post("/api/v3/configure/database", json={"db": "x"}, headers=headers)
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    upload = client.post(
        "/api/v3/plugins/files", json={"plugin_name": "a.py", "content": ""}, headers=headers
    )
    assert upload.status_code == 403


def test_health_exempt_or_not(tmp_path: Path, plugin_dir: Path, tokens: TokenStore) -> None:
    for exempt, expected in ((HEALTH_PATHS, 200), ((), 401)):
        for client in _client(tmp_path, plugin_dir, tokens=tokens, authz_disabled=exempt):
            assert client.get("/health").status_code == expected
            assert client.get("/ping").status_code == expected


def test_without_auth_everything_is_open(tmp_path: Path, plugin_dir: Path) -> None:
    for client in _client(tmp_path, plugin_dir, tokens=None):
        assert client.post("/api/v3/write_lp?db=db", content="m v=1").status_code == 204


def test_authorization_never_reaches_a_plugin(
    client: TestClient, tokens: TokenStore, plugin_dir: Path
) -> None:
    headers = {"Authorization": f"Token {tokens.create('admin')}"}
    client.post("/api/v3/configure/database", json={"db": "db"}, headers=headers)
    write_plugin(plugin_dir, "echo.py", ECHO)
    created = client.post(TRIGGER, json=trigger_body("e", "echo.py", "request:e"), headers=headers)
    assert created.status_code == 200, created.text
    answer = client.get("/api/v3/engine/e", headers={**headers, "X-Seen": "yes"})
    assert answer.status_code == 200
    seen = answer.json()["h"]
    assert seen["x-seen"] == "yes" and "authorization" not in seen


def test_state_is_passed_through(client: TestClient, tokens: TokenStore) -> None:
    state: ServerState = client.app.state.server  # type: ignore[attr-defined]
    assert state.tokens is tokens
