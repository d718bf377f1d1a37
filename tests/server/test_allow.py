"""``Allow`` on 405: the union of every route's methods for the path, whoever answered."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from pluginmgr.server.allow import AllowMiddleware


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def refuse(request: Request) -> Response:
    return JSONResponse({"error": "not this one"}, status_code=405)


async def own_allow(request: Request) -> Response:
    return JSONResponse({"error": "no"}, status_code=405, headers={"Allow": "OPTIONS"})


ROUTES = [
    Route("/thing", ok, methods=["GET"]),  # one module serves GET ...
    Route("/thing", refuse, methods=["DELETE"]),  # ... another DELETE, and refuses it
    Route("/own", own_allow, methods=["POST"]),
    Route("/api/v3/engine/{path:path}", refuse, methods=["GET", "POST"]),
]


def client() -> TestClient:
    middleware = [Middleware(AllowMiddleware, routes=ROUTES)]
    return TestClient(Starlette(routes=ROUTES, middleware=middleware))


def test_a_method_no_route_takes_lists_every_routes_methods() -> None:
    answer = client().put("/thing")
    assert (answer.status_code, answer.headers["allow"]) == (405, "DELETE, GET, HEAD")


def test_a_405_from_a_handler_gets_the_paths_methods() -> None:
    answer = client().delete("/thing")
    assert answer.json() == {"error": "not this one"}
    assert answer.headers["allow"] == "DELETE, GET, HEAD"


def test_an_allow_already_set_and_a_plugins_answer_are_left_alone() -> None:
    assert client().post("/own").headers["allow"] == "OPTIONS"
    assert "allow" not in client().get("/api/v3/engine/x").headers


def test_other_answers_get_no_allow() -> None:
    assert "allow" not in client().get("/thing").headers
    assert client().get("/nowhere").status_code == 404
