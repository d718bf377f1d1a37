"""Check requests against InfluxDB 3 Core's request shapes (``fixtures/influxdb3_api``).

`ShapeRecorder` is an httpx request hook: it keeps every request fleet mode sends, and
`mismatches` says, for each, what InfluxDB 3 Core would not accept as sent: an unknown path
or method, a missing or unknown field, a field of the wrong type, or a query string on a
request whose fields upstream reads from the body (upstream reads the query string instead
whenever there is one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx

__all__ = ["SHAPES", "ShapeRecorder", "mismatches"]

FIXTURE: Final = (
    Path(__file__).resolve().parents[2] / "fixtures" / "influxdb3_api" / "requests.json"
)
SHAPES: Final = json.loads(FIXTURE.read_text(encoding="utf-8"))
_BY_ROUTE: Final = {(r["method"], r["path"]): r for r in SHAPES["requests"]}


class ShapeRecorder:
    """An httpx ``request`` event hook that records (method, path, query, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []

    def __call__(self, request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else None
        query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        self.requests.append((request.method, request.url.path, query, body))

    def routes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _q, _b in self.requests]

    def count(self, method: str, path: str) -> int:
        return self.routes().count((method, path))


def _type_ok(kind: str, value: Any, spec: dict[str, Any]) -> bool:
    def string_map(v: Any) -> bool:
        return isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(x, str) for k, x in v.items()
        )

    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "bool-string": lambda v: v in ("true", "false"),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string-map": string_map,
        "string-map-or-null": lambda v: v is None or string_map(v),
    }
    ok = checks[kind](value)
    return ok and ("one_of" not in spec or value in spec["one_of"])


def _fields(where: str, fields: dict[str, Any], got: Any) -> list[str]:
    if not isinstance(got, dict):
        return [f"{where}: expected an object, got {got!r}"]
    wrong = [f"{where}: unknown field {k!r}" for k in got if k not in fields]
    for name, spec in fields.items():
        if name not in got:
            if spec.get("required"):
                wrong.append(f"{where}: missing field {name!r}")
            continue
        value = got[name]
        if not _type_ok(spec["type"], value, spec):
            wrong.append(f"{where}: field {name!r} = {value!r} is not {spec['type']}")
        elif "fields" in spec:
            wrong += _fields(f"{where}.{name}", spec["fields"], value)
        elif "items" in spec:
            for index, item in enumerate(value):
                wrong += _fields(f"{where}.{name}[{index}]", spec["items"], item)
        elif "item_type" in spec and not all(_type_ok(spec["item_type"], v, {}) for v in value):
            wrong.append(f"{where}: field {name!r} holds a non-{spec['item_type']}")
    return wrong


def mismatches(recorder: ShapeRecorder) -> list[str]:
    """Every way the recorded requests differ from InfluxDB 3 Core's shapes (empty: none)."""
    wrong: list[str] = []
    for method, path, query, body in recorder.requests:
        shape = _BY_ROUTE.get((method, path))
        where = f"{method} {path}"
        if shape is None:
            wrong.append(f"{where}: InfluxDB 3 Core has no such request")
            continue
        if "body" in shape:
            if query:
                wrong.append(f"{where}: a query string, but upstream reads the JSON body")
            wrong += _fields(f"{where} body", shape["body"], body)
        else:
            if body is not None:
                wrong.append(f"{where}: a body, but upstream reads the query string")
            wrong += _fields(f"{where} query", shape["query"], query)
    return wrong
