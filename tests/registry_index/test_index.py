"""`read_index` / `write_index`: schema verification and the canonical round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_index import (
    Dependencies,
    IndexEntry,
    IndexFormatError,
    PluginDependency,
    RegistryIndex,
    read_index,
    write_index,
)

HASH = "sha256:" + "ab" * 32
ENTRY: dict[str, Any] = {
    "name": "notifier",
    "version": "1.2.0",
    "published_at": "2026-11-22T00:00:00Z",
    "description": "Receive notifications.",
    "triggers": ["process_request"],
    "dependencies": {"database_version": ">=3.0.0", "python": []},
    "hash": HASH,
}


def _index(*entries: object, schema: str = "2.0") -> str:
    return json.dumps(
        {"index_schema_version": schema, "artifacts_url": "file:///m", "plugins": list(entries)}
    )


def test_reads_a_schema_2_0_index() -> None:
    index = read_index(_index(ENTRY, {**ENTRY, "version": "1.3.0", "yanked": True}), source="i")
    assert index.schema_version == "2.0"
    first, second = index.plugins
    assert first == IndexEntry(
        name="notifier",
        version="1.2.0",
        published_at="2026-11-22T00:00:00Z",
        description="Receive notifications.",
        triggers=("process_request",),
        hash=HASH,
        dependencies=Dependencies(database_version=">=3.0.0"),
    )
    assert second.yanked and not first.yanked
    assert first.sha256 == "ab" * 32
    assert index.artifact_url(first) == "file:///m/notifier-1.2.0.tar.gz"
    assert [e.version for e in index.versions("notifier")] == ["1.2.0", "1.3.0"]


def test_schema_2_1_reads_plugin_dependencies() -> None:
    deps = {"python": [], "plugins": [{"name": "notifier", "version": ">=1,<2"}]}
    entry = {**ENTRY, "name": "mad_check", "dependencies": deps}
    index = read_index(_index(entry, schema="2.1"), source="i")
    assert index.plugins[0].dependencies.plugins == (PluginDependency("notifier", ">=1,<2"),)
    with pytest.raises(IndexFormatError, match=r"i \(plugin mad_check 1.2.0\): .*newer schema"):
        read_index(_index(entry, schema="2.0"), source="i")


def test_write_is_canonical_and_sorted() -> None:
    entries = [{**ENTRY, "version": v} for v in ("1.10.0", "1.2.0")] + [{**ENTRY, "name": "alpha"}]
    text = write_index(read_index(_index(*entries), source="i"))
    assert text.endswith("}\n")
    data = json.loads(text)
    assert [(p["name"], p["version"]) for p in data["plugins"]] == [
        ("alpha", "1.2.0"),
        ("notifier", "1.2.0"),
        ("notifier", "1.10.0"),
    ]
    assert list(data) == sorted(data)
    assert write_index(read_index(text, source="again")) == text


@pytest.mark.parametrize(
    ("text", "reason", "entry"),
    [
        ("nope", "invalid JSON", None),
        ("[]", "the index must be a JSON object", None),
        (_index(ENTRY, schema="3.0"), "unknown index_schema_version '3.0'", None),
        (
            _index(ENTRY).replace('"artifacts_url"', '"x"'),
            "missing required key artifacts_url",
            None,
        ),
        (_index({**ENTRY, "hash": "sha256:abc"}), "hash 'sha256:abc' is not", "notifier 1.2.0"),
        (_index({**ENTRY, "hash": "md5:" + "a" * 32}), "is not 'sha256:'", "notifier 1.2.0"),
        (_index({**ENTRY, "hash": HASH.upper()}), "lowercase hex", "notifier 1.2.0"),
        (
            _index({k: v for k, v in ENTRY.items() if k != "hash"}),
            "missing required key hash",
            "notifier 1.2.0",
        ),
        (_index({**ENTRY, "version": "latest"}), "version 'latest' is not", "notifier latest"),
        (_index({**ENTRY, "triggers": ["cron"]}), "unknown trigger(s)", "notifier 1.2.0"),
        (_index({**ENTRY, "published_at": "yesterday"}), "published_at", "notifier 1.2.0"),
        (_index({**ENTRY, "yanked": "yes"}), "yanked must be true or false", "notifier 1.2.0"),
        (_index({**ENTRY, "dependencies": None}), "dependencies is missing", "notifier 1.2.0"),
        (_index(ENTRY, {**ENTRY, "version": "1.2"}), "duplicate (name, version)", "notifier 1.2"),
        (_index("x"), "entry must be an object", "plugins[0]"),
    ],
)
def test_bad_index_is_index_format_error(text: str, reason: str, entry: str | None) -> None:
    with pytest.raises(IndexFormatError) as caught:
        read_index(text, source="https://example.invalid/index.json")
    assert caught.value.source == "https://example.invalid/index.json"
    assert reason in caught.value.reason
    if entry is None:
        assert caught.value.entry is None
    else:
        assert caught.value.entry == entry
        assert f"(plugin {entry})" in str(caught.value)


def test_missing_hash_names_the_entry() -> None:
    entry = {k: v for k, v in ENTRY.items() if k != "hash"}
    with pytest.raises(IndexFormatError, match=r"\(plugin notifier 1.2.0\)"):
        read_index(_index(entry), source="i")


def test_writing_plugin_dependencies_under_2_0_is_refused() -> None:
    deps = Dependencies(plugins=(PluginDependency("notifier", ">=1"),))
    entry = IndexEntry("a", "1.0.0", "2026-01-01T00:00:00Z", "d", (), HASH, deps)
    with pytest.raises(IndexFormatError, match=r"needs index_schema_version 2\.1"):
        write_index(RegistryIndex("2.0", "file:///m", (entry,)))


# --- property: any valid index written then read is equal ----------------------------------

_names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_versions = st.tuples(*(st.integers(0, 30),) * 3).map(lambda v: ".".join(map(str, v)))
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
_url = st.none() | st.just("https://example.invalid/x")
_specs = st.sampled_from([">=1.0.0", ">=1.0.0,<2.0.0", "==2.3.1", "~=1.4"])
_requirements = st.lists(st.sampled_from(["pint>=0.20", "requests<3", "numpy"]), max_size=3)
_plugin_deps = st.builds(
    PluginDependency, name=_names, version=_specs, index_url=_url.map(lambda u: u and u + ".json")
)
_dependencies = st.builds(
    Dependencies,
    database_version=st.none() | _specs,
    python=_requirements.map(tuple),
    plugins=st.lists(_plugin_deps, max_size=2).map(tuple),
)
_triggers = st.lists(
    st.sampled_from(["process_writes", "process_scheduled_call", "process_request"]),
    unique=True,
    max_size=3,
).map(tuple)
_entries = st.builds(
    IndexEntry,
    name=_names,
    version=_versions,
    published_at=st.datetimes().map(lambda d: d.isoformat() + "Z"),
    description=_text,
    triggers=_triggers,
    hash=st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
    dependencies=_dependencies,
    homepage=_url,
    repository=_url,
    documentation=_url,
    yanked=st.booleans(),
)


def _canonical(entries: list[IndexEntry]) -> tuple[IndexEntry, ...]:
    unique = {(entry.name, entry.version): entry for entry in entries}
    return tuple(
        unique[key] for key in sorted(unique, key=lambda k: (k[0], [*map(int, k[1].split("."))]))
    )


@given(
    artifacts_url=st.sampled_from(["file:///mirror", "https://r.example/a"]),
    entries=st.lists(_entries, max_size=6),
)
def test_any_valid_index_round_trips(artifacts_url: str, entries: list[IndexEntry]) -> None:
    index = RegistryIndex("2.1", artifacts_url, _canonical(entries))
    text = write_index(index)
    assert read_index(text, source="prop") == index
    assert write_index(read_index(text, source="prop")) == text
