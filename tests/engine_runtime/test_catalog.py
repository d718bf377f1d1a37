"""The trigger catalog: upstream's lifecycle and error strings, persistence, system-table rows."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from engine_runtime.catalog import ALREADY_EXISTS_MESSAGE, Catalog
from engine_runtime.catalog_file import FORMAT_VERSION
from engine_runtime.errors import (
    AlreadyExistsError,
    CatalogError,
    CatalogFileError,
    DatabaseNotFoundError,
    InvalidDatabaseNameError,
    InvalidTriggerError,
    NotFoundError,
    TriggerRunningError,
)
from engine_runtime.trigger_definition import TriggerSettings, trigger_specification_json
from engine_runtime.triggers import TriggerSpecError, parse_trigger_spec


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "catalog.json"


@pytest.fixture
def catalog(path: Path) -> Catalog:
    catalog = Catalog(path)
    catalog.create_database("mydb")
    return catalog


def test_upstream_strings_are_pinned() -> None:
    from engine_runtime import catalog as module

    assert module.DATABASE_NOT_FOUND_MESSAGE == "Database not found {db}"
    assert module.INTERNAL_DB_MESSAGE == "cannot modify internal db"
    assert ALREADY_EXISTS_MESSAGE == "attempted to create a resource that already exists"
    assert module.NOT_FOUND_MESSAGE == "the requested resource was not found: {name}"
    assert module.TRIGGER_RUNNING_MESSAGE == (
        "Cannot delete running plugin {name}. Disable it first or use --force."
    )


def test_trigger_lifecycle(catalog: Catalog) -> None:
    created = catalog.create_trigger("mydb", "t1", "plugin.py", "every:10s")
    assert created.trigger_id == 1
    assert created.spec == parse_trigger_spec("every:10s")
    assert created.arguments is None
    assert not created.disabled
    assert catalog.get_trigger("mydb", "t1") == created
    assert catalog.disable_trigger("mydb", "t1") is True
    assert catalog.get_trigger("mydb", "t1").disabled
    assert catalog.disable_trigger("mydb", "t1") is False  # already disabled: no error
    assert catalog.enable_trigger("mydb", "t1") is True
    assert catalog.enable_trigger("mydb", "t1") is False  # already enabled: no error
    assert catalog.disable_trigger("mydb", "t1") is True
    assert catalog.delete_trigger("mydb", "t1").trigger_name == "t1"
    assert catalog.triggers() == []
    with pytest.raises(NotFoundError):
        catalog.get_trigger("mydb", "t1")


def test_create_disabled_trigger(catalog: Catalog) -> None:
    trigger = catalog.create_trigger("mydb", "t", "p.py", "all_tables", disabled=True)
    assert trigger.disabled
    assert catalog.delete_trigger("mydb", "t") == trigger  # disabled: no force needed


def test_enable_nonexistent_trigger(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError) as info:
        catalog.enable_trigger("mydb", "nope")
    assert str(info.value) == "the requested resource was not found: nope"
    with pytest.raises(NotFoundError):
        catalog.delete_trigger("mydb", "nope", force=True)


def test_duplicate_trigger_name_already_exists(catalog: Catalog) -> None:
    catalog.create_trigger("mydb", "t", "p.py", "all_tables")
    with pytest.raises(AlreadyExistsError) as info:
        catalog.create_trigger("mydb", "t", "q.py", "table:cpu")
    assert str(info.value).startswith(ALREADY_EXISTS_MESSAGE)
    assert "trigger t in database mydb" in str(info.value)
    catalog.create_database("other")
    catalog.create_trigger("other", "t", "p.py", "all_tables")  # unique per database only


def test_delete_enabled_trigger_needs_force(catalog: Catalog) -> None:
    catalog.create_trigger("mydb", "test_trigger", "p.py", "all_tables")
    with pytest.raises(TriggerRunningError) as info:
        catalog.delete_trigger("mydb", "test_trigger")
    assert str(info.value) == (
        "Cannot delete running plugin test_trigger. Disable it first or use --force."
    )
    assert catalog.get_trigger("mydb", "test_trigger")
    assert catalog.delete_trigger("mydb", "test_trigger", force=True).trigger_name == "test_trigger"
    assert catalog.triggers("mydb") == []


def test_unknown_and_internal_databases(catalog: Catalog) -> None:
    with pytest.raises(DatabaseNotFoundError) as info:
        catalog.create_trigger("nope", "t", "p.py", "all_tables")
    assert str(info.value) == "Database not found nope"
    for call in (
        lambda: catalog.create_trigger("_internal", "t", "p.py", "all_tables"),
        lambda: catalog.create_database("_internal"),
        lambda: catalog.delete_database("_internal"),
    ):
        with pytest.raises(CatalogError) as caught:
            call()
        assert str(caught.value) == "cannot modify internal db"
    with pytest.raises(DatabaseNotFoundError):
        catalog.get_trigger("nope", "t")


def test_databases(catalog: Catalog) -> None:
    assert catalog.create_database("mydb") is False
    assert catalog.create_database("a/b") is True
    assert catalog.databases() == ["a/b", "mydb"]
    assert catalog.has_database("a/b")
    with pytest.raises(InvalidDatabaseNameError):
        catalog.create_database("bad db")
    with pytest.raises(DatabaseNotFoundError):
        catalog.delete_database("nope")


def test_delete_database_returns_its_triggers(catalog: Catalog) -> None:
    catalog.create_database("other")
    a = catalog.create_trigger("mydb", "a", "p.py", "all_tables")
    b = catalog.create_trigger("mydb", "b", "p.py", "every:1s", disabled=True)
    kept = catalog.create_trigger("other", "c", "p.py", "all_tables")
    assert catalog.delete_database("mydb") == [a, b]
    assert catalog.databases() == ["other"]
    assert catalog.triggers() == [kept]
    assert Catalog(catalog.path).triggers() == [kept]


def test_invalid_triggers(catalog: Catalog) -> None:
    with pytest.raises(TriggerSpecError, match="failed to parse trigger from bogus"):
        catalog.create_trigger("mydb", "t", "p.py", "bogus")
    with pytest.raises(InvalidTriggerError, match="name is empty"):
        catalog.create_trigger("mydb", " ", "p.py", "all_tables")
    with pytest.raises(InvalidTriggerError, match="plugin filename"):
        catalog.create_trigger("mydb", "t", "", "all_tables")
    with pytest.raises(InvalidTriggerError, match="strings to strings"):
        catalog.create_trigger("mydb", "t", "p.py", "all_tables", arguments={"k": 1})  # type: ignore[dict-item]
    assert catalog.triggers() == []


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"error_behavior": "Log"}, "'Log'"),
        ({"retry_attempts": -1}, "-1"),
        ({"retry_attempts": True}, "True"),
        ({"retry_backoff": -0.5}, "-0.5"),
        ({"retry_backoff": float("nan")}, "nan"),
        ({"execution_timeout": 0}, "0"),
        ({"run_async": "yes"}, "'yes'"),
        ({"isolated": 1}, "1"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, object], bad: str) -> None:
    with pytest.raises(InvalidTriggerError) as info:
        TriggerSettings(**kwargs)  # type: ignore[arg-type]
    assert f"{next(iter(kwargs))} must be" in str(info.value)
    assert str(info.value).endswith(bad)


def test_duplicate_request_path_refused(catalog: Catalog) -> None:
    catalog.create_database("other")
    catalog.create_trigger("mydb", "first", "p.py", "request:foo", disabled=True)
    with pytest.raises(AlreadyExistsError) as info:
        catalog.create_trigger("other", "second", "p.py", "request: foo")
    assert "request path foo is already used by trigger first in database mydb" in str(info.value)
    catalog.create_trigger("other", "third", "p.py", "request:/foo")  # verbatim, not normalized


def test_persistence_across_instances(catalog: Catalog, path: Path) -> None:
    settings = TriggerSettings(
        run_async=True,
        error_behavior="retry",
        retry_attempts=5,
        execution_timeout=2.5,
        isolated=True,
    )
    one = catalog.create_trigger(
        "mydb", "one", "gh:examples/wal_plugin/wal_plugin.py", "table:cpu", settings=settings
    )
    two = catalog.create_trigger(
        "mydb", "two", "dir_plugin", "cron:0 */5 * * * *", arguments={"a": "x=1"}, disabled=True
    )
    three = catalog.create_trigger("mydb", "three", "p.py", "every:1500ms", arguments={})
    catalog.delete_trigger("mydb", "three", force=True)
    reloaded = Catalog(path)
    assert reloaded.databases() == ["mydb"]
    assert reloaded.triggers() == [one, two]
    assert reloaded.get_trigger("mydb", "one").settings == settings
    assert reloaded.get_trigger("mydb", "one").arguments is None
    assert dict(reloaded.get_trigger("mydb", "two").arguments or {}) == {"a": "x=1"}
    assert reloaded.get_trigger("mydb", "two").disabled
    empty = reloaded.create_trigger("mydb", "four", "p.py", "all_tables", arguments={})
    assert empty.trigger_id == three.trigger_id + 1  # ids are never reused
    assert Catalog(path).get_trigger("mydb", "four").arguments == {}
    document = json.loads(path.read_text())
    assert document["format_version"] == FORMAT_VERSION == 1
    assert document["next_trigger_id"] == 5
    assert [t["trigger_specification"] for t in document["triggers"]] == [
        "table:cpu",
        "cron:0 */5 * * * *",
        "all_tables",
    ]


def test_arguments_are_read_only(catalog: Catalog) -> None:
    given = {"k": "v"}
    trigger = catalog.create_trigger("mydb", "t", "p.py", "all_tables", arguments=given)
    given["k"] = "changed"
    assert trigger.arguments == {"k": "v"}
    with pytest.raises(TypeError):
        trigger.arguments["k"] = "x"  # type: ignore[index]


def test_in_memory_catalog_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = Catalog(None)
    catalog.create_database("db")
    catalog.create_trigger("db", "t", "p.py", "all_tables")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_no_temp_files(catalog: Catalog, path: Path) -> None:
    for index in range(5):
        catalog.create_trigger("mydb", f"t{index}", "p.py", "all_tables")
    assert [p.name for p in path.parent.iterdir()] == ["catalog.json"]


def test_failed_write_keeps_file_and_memory(
    catalog: Catalog, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.create_trigger("mydb", "t", "p.py", "all_tables")
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CatalogFileError) as info:
        catalog.create_trigger("mydb", "u", "p.py", "all_tables")
    assert str(path) in str(info.value)
    with pytest.raises(CatalogFileError):
        catalog.disable_trigger("mydb", "t")
    with pytest.raises(CatalogFileError):
        catalog.delete_database("mydb")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["catalog.json"]
    assert [t.trigger_name for t in catalog.triggers()] == ["t"]
    assert not catalog.get_trigger("mydb", "t").disabled
    assert catalog.databases() == ["mydb"]
    monkeypatch.undo()
    assert catalog.create_trigger("mydb", "u", "p.py", "all_tables").trigger_id == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(catalog: Catalog, path: Path) -> None:
    path.parent.chmod(0o500)
    try:
        with pytest.raises(CatalogFileError, match="cannot write the catalog file"):
            catalog.create_database("other")
    finally:
        path.parent.chmod(0o700)
    assert catalog.databases() == ["mydb"]
    assert Catalog(path).databases() == ["mydb"]


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", '{"format_version": 1}', '{"format_version": 0}', "\xff"],
)
def test_corrupt_file_is_a_clear_error(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="latin-1")
    with pytest.raises(CatalogFileError) as info:
        Catalog(path)
    assert str(path) in str(info.value)
    assert info.value.hint and "move it aside" in info.value.hint
    assert path.read_text(encoding="latin-1") == content  # never silently reset


def test_corrupt_trigger_entry(catalog: Catalog, path: Path) -> None:
    catalog.create_trigger("mydb", "t", "p.py", "all_tables")
    document = json.loads(path.read_text())
    document["triggers"][0]["trigger_specification"] = "bogus"
    del document["checksum"]  # as a file from before checksums: the entry itself is checked
    path.write_text(json.dumps(document))
    with pytest.raises(CatalogFileError, match="is malformed"):
        Catalog(path)


def test_newer_format_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format_version": 2, "whatever": []}))
    with pytest.raises(CatalogFileError, match="written by a newer version") as info:
        Catalog(path)
    assert str(path) in str(info.value)
    assert info.value.hint == "upgrade pluginmgr to open it"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("all_tables", '"all_tables_wal_write"'),
        ("table:cpu", '{"single_table_wal_write":{"table_name":"cpu"}}'),
        ("cron:* * * * * *", '{"schedule":{"schedule":"* * * * * *"}}'),
        ("every:10s", '{"every":{"duration":{"secs":10,"nanos":0}}}'),
        ("every:1500ms", '{"every":{"duration":{"secs":1,"nanos":500000000}}}'),
        ("request:foo", '{"request_path":{"path":"foo"}}'),
    ],
)
def test_trigger_specification_json(spec: str, expected: str) -> None:
    assert trigger_specification_json(parse_trigger_spec(spec)) == expected


def test_trigger_rows(catalog: Catalog) -> None:
    catalog.create_database("other")
    catalog.create_trigger("mydb", "t", "p.py", "every:10s", disabled=True)
    retry = TriggerSettings(error_behavior="retry")
    catalog.create_trigger("mydb", "r", "gh:x/y.py", "request:foo", settings=retry)
    catalog.create_trigger("other", "o", "p.py", "all_tables")
    rows = catalog.trigger_rows("mydb")
    assert rows == [
        {
            "trigger_name": "t",
            "plugin_filename": "p.py",
            "trigger_specification": '{"every":{"duration":{"secs":10,"nanos":0}}}',
            "disabled": True,
            "error_behavior": "log",
        },
        {
            "trigger_name": "r",
            "plugin_filename": "gh:x/y.py",
            "trigger_specification": '{"request_path":{"path":"foo"}}',
            "disabled": False,
            "error_behavior": "retry",
        },
    ]
    assert list(rows[0]) == [
        "trigger_name",
        "plugin_filename",
        "trigger_specification",
        "disabled",
        "error_behavior",
    ]


def test_argument_rows(catalog: Catalog) -> None:
    catalog.create_trigger("mydb", "a", "p.py", "all_tables", arguments={"k1": "v1", "k2": "v2"})
    catalog.create_trigger("mydb", "b", "p.py", "all_tables")
    catalog.create_trigger("mydb", "c", "p.py", "table:x", arguments={})
    assert catalog.argument_rows("mydb") == [
        {"trigger_name": "a", "argument_key": "k1", "argument_value": "v1"},
        {"trigger_name": "a", "argument_key": "k2", "argument_value": "v2"},
    ]
    assert catalog.argument_rows("other") == []


def test_concurrent_creates_get_distinct_ids(catalog: Catalog, path: Path) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def create(worker: int) -> None:
        barrier.wait()
        try:
            for index in range(10):
                catalog.create_trigger("mydb", f"w{worker}-{index}", "p.py", "all_tables")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = [t.trigger_id for t in catalog.triggers()]
    assert sorted(ids) == list(range(1, 81)) == ids
    assert [t.trigger_id for t in Catalog(path).triggers()] == ids


def test_catalog_errors_follow_the_tree() -> None:
    from engine_runtime import errors

    for cls in (NotFoundError, AlreadyExistsError, TriggerRunningError, InvalidTriggerError):
        assert issubclass(cls, CatalogError)
        assert cls.__name__ in errors.__all__
        assert cls.__name__ in (errors.__doc__ or "")
    assert issubclass(CatalogFileError, CatalogError)
    assert issubclass(CatalogError, errors.EngineError)


def test_a_catalog_written_before_isolated_existed_reads_it_as_false(path: Path) -> None:
    catalog = Catalog(path)
    catalog.create_database("mydb")
    catalog.create_trigger("mydb", "old", "p.py", "all_tables")
    document = json.loads(path.read_text())
    assert document["triggers"][0]["settings"].pop("isolated") is False
    del document["checksum"]  # that version wrote none
    path.write_text(json.dumps(document))
    assert Catalog(path).get_trigger("mydb", "old").settings.isolated is False
