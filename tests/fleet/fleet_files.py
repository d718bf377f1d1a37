"""Fleet files and plugins for the fleet tests, written beside each other in a directory."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from tests.fleet.conftest import ROLES

__all__ = ["REQUEST", "SCHEDULE", "WAL", "plugin", "write_fleet"]

WAL: Final = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"
SCHEDULE: Final = "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n"
REQUEST: Final = (
    "def process_request(influxdb3_local, query_parameters, request_headers, request_body,"
    " args=None):\n    return {}\n"
)


def plugin(directory: Path, name: str, code: str, *, requires: Sequence[str] = ()) -> str:
    """Write a plugin (declaring ``requires`` inline, PEP 723) and return its reference."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if requires:
        listed = ", ".join(json.dumps(r) for r in requires)
        code = f"# /// script\n# dependencies = [{listed}]\n# ///\n{code}"
    path.write_text(code, encoding="utf-8")
    return name


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_fleet(
    directory: Path,
    urls: Sequence[str],
    triggers: Sequence[Mapping[str, Any]],
    *,
    databases: Sequence[str],
    top: Mapping[str, Any] | None = None,
    names: Sequence[str] | None = None,
) -> Path:
    """``directory/fleet.toml``: a node per URL (roles ingest, query, process in turn)."""
    lines = [f"{key} = {_value(value)}" for key, value in (top or {}).items()]
    lines.append(f"databases = {_value(list(databases))}")
    for index, url in enumerate(urls):
        name = names[index] if names else f"{ROLES[index % 3]}-{index + 1}"
        role = ROLES[index % 3]
        lines += ["[[nodes]]", f"name = {_value(name)}", f"url = {_value(url)}"]
        lines.append(f"roles = {_value([role])}")
    for trigger in triggers:
        lines.append("[[triggers]]")
        lines += [f"{key} = {_value(value)}" for key, value in trigger.items()]
    path = directory / "fleet.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
