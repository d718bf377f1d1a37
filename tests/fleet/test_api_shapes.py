"""The request-shape check itself: it must refuse what InfluxDB 3 Core would not read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fleet.api_shapes import SHAPES, ShapeRecorder, mismatches

BASE = "http://node:8181"
TRIGGER = "/api/v3/configure/processing_engine_trigger"
GOOD_TRIGGER: dict[str, Any] = {
    "db": "sensors",
    "plugin_filename": "a.py",
    "trigger_name": "t",
    "trigger_settings": {"run_async": False, "error_behavior": "log"},
    "trigger_specification": "table:cpu",
    "trigger_arguments": None,
    "disabled": False,
}


def _check(method: str, path: str, **kwargs: Any) -> list[str]:
    recorder = ShapeRecorder()
    recorder(httpx.Request(method, f"{BASE}{path}", **kwargs))
    return mismatches(recorder)


def test_the_fixture_names_every_request_fleet_mode_sends() -> None:
    routes = {(r["method"], r["path"]) for r in SHAPES["requests"]}
    assert ("PUT", "/api/v3/plugins/directory") in routes
    assert ("POST", f"{TRIGGER}/disable") in routes and ("PUT", TRIGGER) in routes
    assert ("DELETE", "/api/v3/plugins/files") in routes and len(routes) == 13


def test_a_well_formed_create_passes() -> None:
    assert _check("POST", TRIGGER, json=GOOD_TRIGGER) == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        ("PATCH", TRIGGER, {"json": GOOD_TRIGGER}, "no such request"),
        ("PUT", TRIGGER, {"json": {"trigger_name": "t"}}, "missing field 'db'"),
        ("POST", TRIGGER, {"json": {**GOOD_TRIGGER, "extra": 1}}, "unknown field 'extra'"),
        (
            "POST",
            TRIGGER,
            {"json": {k: v for k, v in GOOD_TRIGGER.items() if k != "disabled"}},
            "missing field 'disabled'",
        ),
        (
            "POST",
            TRIGGER,
            {"json": {**GOOD_TRIGGER, "trigger_settings": {"run_async": False}}},
            "missing field 'error_behavior'",
        ),
        (
            "POST",
            TRIGGER,
            {"json": {**GOOD_TRIGGER, "trigger_arguments": {"n": 1}}},
            "is not string-map-or-null",
        ),
        (
            "POST",
            TRIGGER,
            {"json": GOOD_TRIGGER, "params": {"db": "x"}},
            "upstream reads the JSON body",
        ),
        (
            "POST",
            f"{TRIGGER}/enable",
            {"json": {"db": "x", "trigger_name": "t"}},
            "upstream reads the query string",
        ),
        (
            "PUT",
            "/api/v3/plugins/directory",
            {"json": {"plugin_name": "t", "files": [{"path": "a"}]}},
            "missing field 'relative_path'",
        ),
        ("GET", "/api/v3/configure/database", {"params": {"format": "yaml"}}, "is not string"),
    ],
)
def test_a_request_core_would_not_read_is_named(
    method: str, path: str, kwargs: dict[str, Any], expected: str
) -> None:
    found = _check(method, path, **kwargs)
    assert any(expected in line for line in found), found
