"""Named admin tokens, token deletion, operator token regeneration, expiry, ``system.tokens`` and
``Allow`` on 405, against a real server (uvicorn on loopback) with upstream's bodies and codes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pluginmgr.server import TokenStore
from pluginmgr.server.routes_tokens import (
    ADMIN_TOKEN_PATH,
    NAMED_ADMIN_TOKEN_PATH,
    REGENERATE_PATH,
    TOKEN_PATH,
    WITHOUT_AUTH_MESSAGE,
)
from pluginmgr.server.token_store import (
    CANNOT_DELETE_OPERATOR_MESSAGE,
    MISSING_ADMIN_MESSAGE,
    NAME_EXISTS_MESSAGE,
    NOT_FOUND_MESSAGE,
)
from tests.cli.live import Live, serving

FIELDS = {"id", "name", "token", "hash", "created_at", "expiry"}


@pytest.fixture
def live(tmp_path: Path, plugin_dir: Path) -> Iterator[Live]:
    with serving(tmp_path, plugin_dir) as running:
        yield running


@pytest.fixture
def operator(live: Live) -> str:
    """The operator token ``_admin``, made by the first-token request."""
    made = httpx.post(f"{live.url}{ADMIN_TOKEN_PATH}", timeout=10)
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def works(live: Live, token: str) -> bool:
    answer = httpx.get(f"{live.url}/api/v3/configure/database", headers=bearer(token), timeout=10)
    return answer.status_code == 200


def named(live: Live, token: str | None, body: Any) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.post(f"{live.url}{NAMED_ADMIN_TOKEN_PATH}", json=body, headers=headers, timeout=10)


def system_tokens(live: Live, token: str) -> list[dict[str, Any]]:
    params = {"db": "_internal", "q": "SELECT * FROM system.tokens", "format": "json"}
    answer = httpx.get(
        f"{live.url}/api/v3/query_sql", params=params, headers=bearer(token), timeout=10
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


# -- POST /api/v3/configure/token/named_admin --------------------------------------------------


def test_a_named_admin_token_is_made_and_works(live: Live, operator: str) -> None:
    made = named(live, operator, {"token_name": "ci"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == FIELDS
    assert (body["id"], body["name"], body["expiry"]) == (1, "ci", None)
    assert body["token"].startswith("apiv3_") and works(live, body["token"])
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_a_named_admin_token_with_expiry_stops_working_after_it(live: Live, operator: str) -> None:
    made = named(live, operator, {"token_name": "short", "expiry_secs": 1}).json()
    created = datetime.fromisoformat(made["created_at"])
    expiry = datetime.fromisoformat(made["expiry"])
    assert 0.9 <= (expiry - created).total_seconds() <= 1.1
    assert works(live, made["token"])
    time.sleep(1.1)
    refused = httpx.get(f"{live.url}/api/v3/configure/database", headers=bearer(made["token"]))
    assert refused.status_code == 401
    assert refused.json()["error"].startswith("token has expired 20")
    assert works(live, operator)  # the operator token never expires


@pytest.mark.parametrize(
    ("body", "status", "start"),
    [
        ({"token_name": "ci"}, 409, NAME_EXISTS_MESSAGE.format(name="ci")),
        ({}, 400, "field 'token_name'"),
        ({"token_name": "x", "expiry_secs": -1}, 400, "field 'expiry_secs'"),
        ({"token_name": "x", "expiry_secs": "1d"}, 400, "field 'expiry_secs'"),
    ],
)
def test_named_admin_errors(
    live: Live, operator: str, body: dict[str, Any], status: int, start: str
) -> None:
    assert named(live, operator, {"token_name": "ci"}).status_code == 201
    refused = named(live, operator, body)
    assert refused.status_code == status
    assert refused.json()["error"].startswith(start)


def test_named_admin_needs_a_token(live: Live, operator: str) -> None:
    refused = named(live, None, {"token_name": "ci"})
    assert refused.status_code == 401
    assert named(live, "apiv3_wrong", {"token_name": "ci"}).status_code == 401


# -- DELETE /api/v3/configure/token -----------------------------------------------------------


def test_a_deleted_token_stops_working_and_is_no_longer_listed(live: Live, operator: str) -> None:
    ci = named(live, operator, {"token_name": "ci"}).json()["token"]
    assert "ci" in [row["name"] for row in system_tokens(live, operator)]
    deleted = httpx.delete(
        f"{live.url}{TOKEN_PATH}", params={"token_name": "ci"}, headers=bearer(operator)
    )
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert not works(live, ci)
    assert [row["name"] for row in system_tokens(live, operator)] == ["_admin"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"token_name": "_admin"}, 405, CANNOT_DELETE_OPERATOR_MESSAGE),
        ({"token_name": "nobody"}, 404, NOT_FOUND_MESSAGE.format(name="nobody")),
        ({}, 400, "missing query parameter 'token_name': the name of the token"),
    ],
)
def test_delete_errors(
    live: Live, operator: str, params: dict[str, str], status: int, message: str
) -> None:
    refused = httpx.delete(f"{live.url}{TOKEN_PATH}", params=params, headers=bearer(operator))
    assert (refused.status_code, refused.json()["error"]) == (status, message)
    if status == 405:
        assert refused.headers["allow"] == "DELETE"
    assert works(live, operator)


def test_delete_needs_a_token(live: Live, operator: str) -> None:
    refused = httpx.delete(f"{live.url}{TOKEN_PATH}", params={"token_name": "_admin"})
    assert refused.status_code == 401


# -- POST /api/v3/configure/token/admin/regenerate --------------------------------------------


def test_regeneration_replaces_the_operator_token(live: Live, operator: str) -> None:
    made = httpx.post(f"{live.url}{REGENERATE_PATH}", headers=bearer(operator), timeout=10)
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == FIELDS and (body["id"], body["name"]) == (0, "_admin")
    assert body["token"] != operator
    assert works(live, body["token"]) and not works(live, operator)
    [row] = system_tokens(live, body["token"])
    assert row["updated_at"] is not None and row["hash"] == body["hash"][:9]


def test_a_named_admin_token_may_regenerate_the_operator_token(live: Live, operator: str) -> None:
    ci = named(live, operator, {"token_name": "ci"}).json()["token"]
    made = httpx.post(f"{live.url}{REGENERATE_PATH}", headers=bearer(ci), timeout=10)
    assert made.status_code == 201
    assert works(live, ci) and not works(live, operator)


def test_regeneration_errors(live: Live) -> None:
    assert live.tokens is not None
    ops = live.tokens.create("ops")  # an admin token, but no operator token
    assert httpx.post(f"{live.url}{REGENERATE_PATH}").status_code == 401
    missing = httpx.post(f"{live.url}{REGENERATE_PATH}", headers=bearer(ops))
    assert (missing.status_code, missing.json()["error"]) == (500, MISSING_ADMIN_MESSAGE)
    wrong = httpx.get(f"{live.url}{REGENERATE_PATH}", headers=bearer(ops))
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")


# -- without auth, Allow, system.tokens, durability --------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", NAMED_ADMIN_TOKEN_PATH),
        ("POST", REGENERATE_PATH),
        ("DELETE", TOKEN_PATH),
        ("POST", ADMIN_TOKEN_PATH),
    ],
)
def test_a_server_without_auth_disables_every_token_endpoint(
    tmp_path: Path, plugin_dir: Path, method: str, path: str
) -> None:
    with serving(tmp_path, plugin_dir, auth=False) as live:
        refused = httpx.request(method, f"{live.url}{path}", json={"token_name": "x"})
    assert (refused.status_code, refused.json()["error"]) == (405, WITHOUT_AUTH_MESSAGE)
    assert refused.headers["allow"] == ""  # no method is served there


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", TOKEN_PATH, "DELETE"),
        ("DELETE", "/ping", "GET, HEAD, POST"),
        ("PATCH", "/api/v3/write_lp", "POST"),
    ],
)
def test_every_405_says_what_the_path_allows(
    live: Live, operator: str, method: str, path: str, allow: str
) -> None:
    refused = httpx.request(method, f"{live.url}{path}", headers=bearer(operator))
    assert refused.status_code == 405
    assert refused.headers["allow"] == allow


def test_system_tokens_lists_every_token_as_upstream(live: Live, operator: str) -> None:
    named(live, operator, {"token_name": "ci", "expiry_secs": 3600})
    rows = system_tokens(live, operator)
    assert [(row["token_id"], row["name"]) for row in rows] == [(0, "_admin"), (1, "ci")]
    assert set(rows[0]) == {
        "token_id", "name", "hash", "created_at", "description", "created_by_token_id",
        "updated_at", "updated_by_token_id", "expiry", "permissions",
    }  # fmt: skip
    assert rows[0]["expiry"] is None and rows[1]["expiry"] is not None
    assert {row["permissions"] for row in rows} == {"*:*:*"}
    assert all(len(row["hash"]) == 9 for row in rows)


def test_tokens_and_their_ids_survive_a_restart(live: Live, operator: str) -> None:
    named(live, operator, {"token_name": "a", "expiry_secs": 3600})
    httpx.delete(f"{live.url}{TOKEN_PATH}", params={"token_name": "a"}, headers=bearer(operator))
    ci = named(live, operator, {"token_name": "ci", "expiry_secs": 3600}).json()
    reopened = TokenStore(live.data_dir / "tokens.json")  # what a restarted server reads
    record = reopened.lookup(ci["token"])
    assert record is not None and (record.id, record.name) == (2, "ci")  # ids are not reused
    assert record.expiry is not None and reopened.verify(operator)
    _token, next_record = reopened.create_record("next")
    assert next_record.id == 3


def test_upstreams_words_are_pinned() -> None:
    from pluginmgr.cli.tokens import OPERATOR_DELETE_MESSAGE, REGENERATE_NAME_MESSAGE

    assert NAME_EXISTS_MESSAGE.format(name="foo_admin") == "token name already exists, foo_admin"
    assert NOT_FOUND_MESSAGE.format(name="x") == "the requested resource was not found: x"
    assert MISSING_ADMIN_MESSAGE == "missing admin token, cannot update"
    assert CANNOT_DELETE_OPERATOR_MESSAGE == "cannot delete operator token"
    assert WITHOUT_AUTH_MESSAGE == "endpoint disabled, started without auth"
    assert REGENERATE_NAME_MESSAGE == (
        "--regenerate cannot be used with --name, --regenerate only applies for operator token"
    )
    # upstream names its own binary; the rest is its sentence
    assert OPERATOR_DELETE_MESSAGE == (
        'The operator token "_admin" is required and cannot be deleted. To regenerate an '
        "operator token, use: pluginmgr create token --admin --regenerate --token [TOKEN]"
    )
