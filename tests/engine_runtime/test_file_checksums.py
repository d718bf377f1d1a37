"""Every file whose word decides what a node keeps or deletes carries its own checksum: a changed
digit or name refuses the start and nothing is deleted; files written before checksums load
once and are rewritten with one. The store's files on real disk; the catalog, token and cache
files through their owners."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import Catalog
from engine_runtime.cache import CacheStore, check_cache_files
from engine_runtime.errors import CatalogFileError, DamagedFileError
from engine_runtime.file_checksum import check_checksum, document_checksum, with_checksum
from engine_runtime.store import DurableStore, MemoryStore, StoreCorruptionError
from engine_runtime.store._snapshot import write_snapshot
from engine_runtime.store._wal import list_segments, segment_path
from pluginmgr.server.token_store import AuthError, TokenStore

ROWS = 1000


def rows_of(store: DurableStore, table: str = "m") -> int:
    query = f"SELECT count(*) AS n FROM {table}"  # noqa: S608 - the test's own table names
    return int(store.query("db", query)[0]["n"])


def write_rows(store: DurableStore, start: int = 0) -> None:
    for batch in range(ROWS // 100):
        lines = (
            f"m,host=h{n} v={n}i {n}" for n in range(start + batch * 100, start + (batch + 1) * 100)
        )
        store.write_lp("db", "\n".join(lines))


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=1))


def everything_under(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# --- the checksum itself -----------------------------------------------------------------------


def test_the_checksum_ignores_layout_and_key_order_but_not_one_digit() -> None:
    document = with_checksum({"wal_seq": 1, "databases": {"db": {"dir": "d0"}}})
    reordered = json.loads(json.dumps(dict(reversed(list(document.items()))), indent=4))
    assert check_checksum(reordered) is True
    assert check_checksum({**document, "wal_seq": 2}) is False
    assert check_checksum({**document, "checksum": 12}) is False
    assert check_checksum({"wal_seq": 1}) is None
    assert document["checksum"] == document_checksum(
        {"databases": {"db": {"dir": "d0"}}, "wal_seq": 1}
    )


# --- the store's file catalog (files.json) -----------------------------------------------------


def store_with_log(open_store: Callable[..., DurableStore]) -> tuple[Path, dict[str, bytes]]:
    """ROWS persisted rows (files.json covers the first segment), then ROWS more acknowledged
    in the next segment only (a crash before the persist): its data dir and files."""
    store = open_store()
    write_rows(store)
    store.close()
    store = open_store(store.data_dir)
    write_rows(store, start=ROWS)
    store._abandon()
    return store.data_dir, everything_under(store.data_dir)


def test_raising_wal_seq_in_files_json_refuses_the_start_and_deletes_nothing(
    open_store: Callable[..., DurableStore],
) -> None:
    data_dir, before = store_with_log(open_store)
    catalog = data_dir / "files.json"
    original = catalog.read_bytes()
    covered = json.loads(original)["wal_seq"]
    last = list_segments(data_dir / "wal")[-1][0]  # the segment that holds the second ROWS
    assert last < 10  # one digit changed, as in the issue
    raised = original.replace(f'"wal_seq":{covered},'.encode(), f'"wal_seq":{last},'.encode())
    assert raised != original
    catalog.write_bytes(raised)
    with pytest.raises(StoreCorruptionError) as caught:
        open_store(data_dir)
    assert str(caught.value) == (
        f"the store's file catalog {catalog} does not match its checksum: it was changed or "
        "damaged (hint: restore files.json from a backup of the data dir taken while the server "
        "was stopped; nothing was deleted)"
    )
    after = everything_under(data_dir)
    assert after.pop("files.json") == raised
    before.pop("files.json")
    assert after == before  # the WAL segment and every file are still there
    catalog.write_bytes(original)  # restored
    assert rows_of(open_store(data_dir)) == 2 * ROWS


@pytest.mark.parametrize(("old", "new"), [(b'"db":', b'"dc":'), (b'"m":', b'"n":')])
def test_one_changed_character_of_a_name_in_files_json_refuses_the_start(
    open_store: Callable[..., DurableStore], old: bytes, new: bytes
) -> None:
    data_dir, _ = store_with_log(open_store)
    catalog = data_dir / "files.json"
    assert old in catalog.read_bytes()
    catalog.write_bytes(catalog.read_bytes().replace(old, new))
    with pytest.raises(StoreCorruptionError, match="does not match its checksum"):
        open_store(data_dir)


def test_files_json_written_before_checksums_loads_once_and_is_rewritten_with_one(
    open_store: Callable[..., DurableStore],
) -> None:
    # every row persisted, so the start replays nothing and wakes no persist before the checks
    store = open_store()
    write_rows(store)
    store.close()
    data_dir = store.data_dir
    catalog = data_dir / "files.json"
    edit_json(catalog, lambda c: c.pop("checksum"))
    stray = data_dir / "files" / "d0" / "999.parquet"  # named by no catalog: kept this time
    stray.write_bytes(b"x")
    store = open_store(data_dir)
    assert rows_of(store) == ROWS
    assert check_checksum(json.loads(catalog.read_text())) is True
    assert stray.exists()  # nothing deleted on the word of an unchecked file
    write_rows(store, start=ROWS)
    store.close()
    assert not stray.exists()  # the persist, on the word of the rewritten catalog


# --- a snapshot's manifest.json (the format before files.json) ---------------------------------


def snapshot_store(open_store: Callable[..., DurableStore], data_dir: Path) -> Path:
    """The snapshot format as the issue found it: snapshot 1 (table ``old``) covers segment 1,
    gone; segment 2 holds ROWS acknowledged rows of ``m``. The manifest's path."""
    store = open_store(data_dir)
    write_rows(store)
    store._abandon()
    ((_seq, segment),) = list_segments(data_dir / "wal")
    segment.rename(segment_path(data_dir / "wal", 2))
    old = MemoryStore()
    old.write_lp("db", "old,host=a v=1i 1\nold,host=b v=2i 2")
    return write_snapshot(data_dir / "snapshots", 1, old.export_tables()) / "manifest.json"


@pytest.mark.parametrize("with_checksum_field", [True, False], ids=["checksummed", "older"])
def test_raising_wal_seq_in_a_snapshot_manifest_refuses_the_start_and_deletes_nothing(
    tmp_path: Path, open_store: Callable[..., DurableStore], with_checksum_field: bool
) -> None:
    data_dir = tmp_path / "old-store"
    manifest = snapshot_store(open_store, data_dir)
    if not with_checksum_field:  # as the versions before checksums wrote it
        edit_json(manifest, lambda m: m.pop("checksum"))
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"wal_seq": 1,', b'"wal_seq": 2,'))
    before = everything_under(data_dir)
    with pytest.raises(StoreCorruptionError, match=f"snapshot manifest {manifest}") as caught:
        open_store(data_dir)
    assert "it was changed or damaged" in str(caught.value)
    assert everything_under(data_dir) == before  # snapshot 1 and segment 2 are still there
    manifest.write_bytes(original)
    store = open_store(data_dir)
    assert rows_of(store) == ROWS and rows_of(store, "old") == 2


@pytest.mark.parametrize("with_checksum_field", [True, False], ids=["checksummed", "older"])
def test_one_changed_character_of_a_table_name_in_a_manifest_refuses_the_start(
    tmp_path: Path, open_store: Callable[..., DurableStore], with_checksum_field: bool
) -> None:
    data_dir = tmp_path / "old-store"
    manifest = snapshot_store(open_store, data_dir)
    if not with_checksum_field:
        edit_json(manifest, lambda m: m.pop("checksum"))
    manifest.write_bytes(manifest.read_bytes().replace(b'"old":', b'"olb":'))
    with pytest.raises(StoreCorruptionError, match="it was changed or damaged"):
        open_store(data_dir)
    assert manifest.parent.is_dir() and not (data_dir / "files.json").exists()


# --- catalog.json ------------------------------------------------------------------------------


def test_one_changed_character_of_a_database_name_in_catalog_json_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.json"
    Catalog(path).create_database("mydb")
    path.write_text(path.read_text().replace('"mydb"', '"mydc"'))
    with pytest.raises(CatalogFileError) as caught:
        Catalog(path, reseal=True)
    assert str(caught.value) == (
        f"the catalog file {path} does not match its checksum: it was changed or damaged "
        "(hint: restore it from a backup of the data dir; the server did not start and changed "
        "nothing)"
    )


def test_catalog_json_before_checksums_is_rewritten_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    Catalog(path).create_database("mydb")
    edit_json(path, lambda c: c.pop("checksum"))
    older = path.read_bytes()
    assert Catalog(path).databases() == ["mydb"]  # a reader: read as before, not rewritten
    assert path.read_bytes() == older
    assert Catalog(path, reseal=True).databases() == ["mydb"]
    assert check_checksum(json.loads(path.read_text())) is True


# --- tokens.json -------------------------------------------------------------------------------


def test_a_changed_token_file_is_refused_and_an_older_one_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = TokenStore(path).create("ops", admin=False)
    original = path.read_bytes()
    path.write_bytes(original.replace(b'"admin": false', b'"admin": true'))
    with pytest.raises(AuthError, match=f"the token file {path} does not match its checksum"):
        TokenStore(path).check_file()
    path.write_bytes(original)
    edit_json(path, lambda t: t.pop("checksum"))
    store = TokenStore(path)
    store.check_file()
    assert check_checksum(json.loads(path.read_text())) is True
    found = store.lookup(token)
    assert found is not None and not found.admin


# --- the plugin cache file ---------------------------------------------------------------------


class Marker:
    """Unpickling it creates a file: proof that a file was (or was not) unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


def test_a_changed_cache_file_refuses_the_start_and_is_never_unpickled(tmp_path: Path) -> None:
    path, proof = tmp_path / "cache.pickle", tmp_path / "unpickled"
    store = CacheStore()
    store.for_trigger("db", "t").put("k", Marker(str(proof)))
    store.save(path)
    assert path.read_bytes().startswith(b"pluginmgr-cache sha256:")
    damaged = path.read_bytes().replace(b"unpickled", b"unpickleD")
    path.write_bytes(damaged)
    with pytest.raises(DamagedFileError) as caught:
        check_cache_files(tmp_path)
    assert str(caught.value).startswith(
        f"the plugin cache file {path} does not match its checksum: it was changed or damaged "
        "(hint: restore it from a backup"
    )
    report = CacheStore().load(path)  # the plugin host checks again before unpickling
    assert report.error is not None and "does not match its checksum" in report.error
    assert report.restored == 0 and not proof.exists() and not (tmp_path / "unpickleD").exists()


def test_a_cache_file_before_checksums_is_accepted_once_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "cache-iso.pickle"
    saved = CacheStore()
    saved.for_trigger("db", "t").put("k", [1, 2])
    saved.save(tmp_path / "new.pickle")
    older = (tmp_path / "new.pickle").read_bytes().split(b"\n", 1)[1]  # the bare pickle
    assert pickle.loads(older)["format_version"] >= 1  # noqa: S301 - our own test file
    path.write_bytes(older)
    shutil.move(tmp_path / "new.pickle", tmp_path / "elsewhere.bin")
    check_cache_files(tmp_path)
    assert path.read_bytes().startswith(b"pluginmgr-cache sha256:")
    restored = CacheStore()
    assert restored.load(path).restored == 1
    assert restored.for_trigger("db", "t").get("k") == [1, 2]
