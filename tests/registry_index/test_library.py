"""`read_plugin_library`: the Explorer catalogue file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_index import LibraryEntry, MetadataError, RequiredPlugin, read_plugin_library

LIBRARY = Path(__file__).resolve().parents[2] / "fixtures/repo/influxdata/library"
ENTRY = {
    "name": "mad_check",
    "path": "influxdata/mad_check/mad_check.py",
    "description": "d",
    "author": "a",
    "docs_file_link": "influxdata/mad_check/README.md",
    "required_plugins": [{"name": "notifier", "path": "influxdata/notifier/notifier_plugin.py"}],
    "required_libraries": ["requests"],
    "last_update": "2026-01-01",
    "trigger_types_supported": ["scheduler", "data_writes"],
}


def _library(*entries: object) -> str:
    return json.dumps({"plugin_library": {"version": "1.0.0", "plugins": list(entries)}})


def test_reads_fixture_library() -> None:
    path = LIBRARY / "plugin_library.json"
    entries = read_plugin_library(path.read_text(), path=str(path))
    assert [entry.name for entry in entries] == ["downsampler", "notifier"]
    assert entries[0].trigger_types_supported == ("scheduler",)
    assert entries[1].path == "influxdata/notifier/notifier_plugin.py"


def test_reads_required_plugins_and_libraries() -> None:
    (entry,) = read_plugin_library(_library(ENTRY), path="lib.json")
    assert entry == LibraryEntry(
        name="mad_check",
        path="influxdata/mad_check/mad_check.py",
        description="d",
        author="a",
        docs_file_link="influxdata/mad_check/README.md",
        required_plugins=(RequiredPlugin("notifier", "influxdata/notifier/notifier_plugin.py"),),
        required_libraries=("requests",),
        last_update="2026-01-01",
        trigger_types_supported=("scheduler", "data_writes"),
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "invalid JSON"),
        ("[]", "the JSON must be an object"),
        ("{}", "plugin_library is missing"),
        ('{"plugin_library": {}}', "missing required key plugin_library.plugins"),
        (_library({**ENTRY, "path": None}), "missing required key plugin_library.plugins[0]"),
        (_library({**ENTRY, "trigger_types_supported": ["cron"]}), "unknown ['cron']"),
        (_library({**ENTRY, "required_libraries": ["req uests"]}), "is not a PEP 508"),
        (_library({**ENTRY, "required_plugins": ["notifier"]}), "required_plugins[0] must be"),
        (_library("x"), "plugin_library.plugins[0] must be an object"),
    ],
)
def test_malformed_library_names_file_and_reason(text: str, reason: str) -> None:
    with pytest.raises(MetadataError) as caught:
        read_plugin_library(text, path="influxdata/library/plugin_library.json")
    assert caught.value.path == "influxdata/library/plugin_library.json"
    assert reason in caught.value.reason
