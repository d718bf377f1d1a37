"""``POST /api/v3/configure/token/admin``: the first admin token without a token, once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from pluginmgr.server import TokenStore, create_app
from pluginmgr.server.routes_tokens import ADMIN_TOKEN_EXISTS_MESSAGE, WITHOUT_AUTH_MESSAGE
from tests.server.server_helpers import build_state

ADMIN = "/api/v3/configure/token/admin"


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


@pytest.fixture
def fresh(tmp_path: Path, plugin_dir: Path, tokens: TokenStore) -> Iterator[TestClient]:
    """Auth on, and no token at all yet."""
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    with TestClient(create_app(state)) as client:
        yield client
    close()


def test_the_first_admin_token_needs_no_token_and_works(
    fresh: TestClient, tokens: TokenStore
) -> None:
    assert fresh.get("/api/v3/configure/database").status_code == 401
    created = fresh.post(ADMIN)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "name", "token", "hash", "created_at", "expiry"}
    assert body["name"] == "_admin" and body["expiry"] is None and body["id"] == 0
    assert body["token"].startswith("apiv3_")
    assert body["hash"] == hashlib.sha256(body["token"].encode()).hexdigest()
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    record = tokens.lookup(body["token"])
    assert record is not None and record.admin and record.name == "_admin"
    assert body["token"] not in (tokens.path.read_text())  # stored hashed
    auth = {"Authorization": f"Bearer {body['token']}"}
    assert fresh.get("/api/v3/configure/database", headers=auth).status_code == 200


def test_a_second_admin_token_is_refused(fresh: TestClient) -> None:
    token = fresh.post(ADMIN).json()["token"]
    without = fresh.post(ADMIN)
    assert without.status_code == 401  # the path is open only while no admin token exists
    again = fresh.post(ADMIN, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 409
    assert again.json()["error"].startswith(ADMIN_TOKEN_EXISTS_MESSAGE)


def test_an_admin_token_made_by_the_cli_closes_the_path(
    fresh: TestClient, tokens: TokenStore
) -> None:
    token = tokens.create("admin")  # `pluginmgr create token --admin --name`, another process
    assert fresh.post(ADMIN).status_code == 401
    # as upstream, the operator token _admin can still be made, once, by an admin
    made = fresh.post(ADMIN, headers={"Authorization": f"Bearer {token}"})
    assert (made.status_code, made.json()["name"]) == (201, "_admin")
    refused = fresh.post(ADMIN, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 409


def test_a_non_admin_token_does_not_close_the_path(fresh: TestClient, tokens: TokenStore) -> None:
    tokens.create("reader", admin=False)
    assert fresh.post(ADMIN).status_code == 201


def test_only_post_is_open(fresh: TestClient) -> None:
    assert fresh.get(ADMIN).status_code == 401  # not bootstrapping: auth first
    assert fresh.delete(ADMIN).status_code == 401


def test_a_server_without_auth_refuses_with_405(client: TestClient) -> None:
    response = client.post(ADMIN)
    assert response.status_code == 405
    assert response.json()["error"] == WITHOUT_AUTH_MESSAGE


def test_concurrent_first_requests_create_exactly_one(
    tmp_path: Path, plugin_dir: Path, tokens: TokenStore
) -> None:
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    statuses: list[int] = []
    with TestClient(create_app(state)) as client:
        barrier = threading.Barrier(8)

        def claim() -> None:
            barrier.wait()
            statuses.append(client.post(ADMIN).status_code)

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    close()
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 401, 409}
    assert [r.name for r in tokens.records()] == ["_admin"]


def test_live_server_bootstraps_over_real_http(live_server: tuple[str, str]) -> None:
    url, token = live_server  # already has an admin token
    assert httpx.post(f"{url}{ADMIN}", timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{url}{ADMIN}", headers=auth, timeout=10).status_code == 201  # _admin
    assert httpx.post(f"{url}{ADMIN}", headers=auth, timeout=10).status_code == 409
