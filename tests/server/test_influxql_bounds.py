"""Hostile InfluxQL on a real loopback server: an ``OR`` chain of thousands of terms, deep
parentheses, a long ``AND`` chain and a thousand statements in one request. Each answers a
clear 400 (or a result), never 500 ``RecursionError``; over Flight, INVALID_ARGUMENT."""

from __future__ import annotations

import httpx
import pytest

TERMS = 1_000


def _query(url: str, token: str, q: str, *, path: str = "/query") -> httpx.Response:
    """POST ``q`` as /query's form or /api/v3/query_influxql's JSON body."""
    body = {"db": "bounds", "q": q}
    sent = {"json": body} if path.startswith("/api/v3/") else {"data": body}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}{path}", headers=headers, timeout=30, **sent)  # type: ignore[arg-type]


@pytest.fixture
def server(live_server: tuple[str, str]) -> tuple[str, str]:
    url, token = live_server
    lines = "\n".join(f"m,host=h{i % 3} v={i} {i}" for i in range(30))
    answer = httpx.post(
        f"{url}/api/v3/write_lp?db=bounds",
        content=lines,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 204, answer.text
    return url, token


@pytest.mark.parametrize("path", ["/query", "/api/v3/query_influxql"])
def test_long_or_and_and_chains_are_answered(server: tuple[str, str], path: str) -> None:
    url, token = server
    ors = " OR ".join(f"v = {i}" for i in range(TERMS))
    ands = " AND ".join(f"v >= {-i}" for i in range(TERMS))
    for where in (ors, ands):
        answer = _query(url, token, f"SELECT count(v) FROM m WHERE {where}", path=path)
        assert answer.status_code == 200, answer.text[:300]
        assert "30" in answer.text, answer.text[:300]


def _nested(kind: str, levels: int) -> str:
    """A WHERE condition nesting ``levels`` deep one way."""
    return {
        "parentheses": "(" * levels + "v = 1" + ")" * levels,
        "unary-minus": "v = " + "- " * levels + "v",
        "plus-chain": "v = " + " + ".join(["0"] * (levels + 1)),
        "calls": "v = " + "abs(" * levels + "1" + ")" * levels,
    }[kind]


NESTINGS = ["parentheses", "unary-minus", "plus-chain", "calls"]


@pytest.mark.parametrize("path", ["/query", "/api/v3/query_influxql"])
@pytest.mark.parametrize("kind", NESTINGS)
def test_deep_nesting_answers_400(server: tuple[str, str], path: str, kind: str) -> None:
    url, token = server
    answer = _query(url, token, f"SELECT v FROM m WHERE {_nested(kind, 300)}", path=path)
    assert answer.status_code == 400, answer.text[:300]
    assert "InfluxQL: expression nested too deeply" in answer.json()["error"]


def test_too_many_terms_answers_400(server: tuple[str, str]) -> None:
    url, token = server
    ors = " OR ".join(f"v = {i}" for i in range(10_001))
    answer = _query(url, token, f"SELECT v FROM m WHERE {ors}")
    assert answer.status_code == 400, answer.text[:300]
    assert "InfluxQL: expression nested too deeply" in answer.json()["error"]
    assert "10000 terms" in answer.json()["error"]
    assert len(answer.json()["error"].splitlines()) == 1


def test_a_thousand_statements_answer_400_before_any_runs(server: tuple[str, str]) -> None:
    url, token = server
    answer = _query(url, token, "; ".join(["SELECT v FROM m"] * 1_000))
    assert answer.status_code == 400, answer.text[:300]
    error = answer.json()["error"]
    assert "more than 100 statements in one request" in error, error
    ok = _query(url, token, "; ".join(["SELECT count(v) FROM m"] * 100))
    assert ok.status_code == 200
    assert len(ok.json()["results"]) == 100


@pytest.mark.parametrize("kind", NESTINGS)
def test_nesting_within_the_bound_is_answered(server: tuple[str, str], kind: str) -> None:
    url, token = server
    answer = _query(url, token, f"SELECT v FROM m WHERE {_nested(kind, 98)}")
    # a result, or the statement's own error (DataFusion's SQL parser has a depth limit too)
    assert answer.status_code == 200, answer.text[:300]
    assert "RecursionError" not in answer.text
