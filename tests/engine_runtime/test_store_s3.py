"""The durable store with its persisted files and catalog on an S3-compatible object store (a
real moto server on loopback): the WAL stays local, the files and ``files.json`` go to the
bucket under the same layout, and a start that cannot reach the bucket fails in one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_runtime.store import DurableStore, StoreCorruptionError, StoreOpenError, _files
from engine_runtime.store._location import FileLocation, s3_location
from tests.engine_runtime.test_persisted_files import (
    CHUNK,
    MINUTE,
    agent_batch,
    check_recent_window_skips_older_files,
)
from tests.s3_server import KEY_ID, SECRET, S3Server, running_s3

PREFIX = "node/store"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.bucket()


@pytest.fixture
def open_store(tmp_path: Path, s3: S3Server, bucket: str) -> Iterator[Callable[..., DurableStore]]:
    opened: list[DurableStore] = []

    def make(**options: Any) -> DurableStore:
        options.setdefault("flush_interval", 0.01)
        options.setdefault("persist_interval", 3600.0)
        store = DurableStore(tmp_path / "store", files=s3.location(bucket, PREFIX), **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        if not store._closed:
            store._abandon()


def catalog(s3: S3Server, bucket: str) -> dict[str, Any]:
    with s3.filesystem.open_input_stream(f"{bucket}/{PREFIX}/files.json") as stream:
        content: dict[str, Any] = json.loads(stream.readall())
    return content


def table_files(s3: S3Server, bucket: str) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = catalog(s3, bucket)["databases"]["db"]["tables"]["cpu"]["files"]
    return files


def test_a_persist_puts_the_files_and_catalog_in_the_bucket_and_nothing_in_files_dir(
    open_store: Callable[..., DurableStore], s3: S3Server, bucket: str
) -> None:
    store = open_store()
    for minute in range(30):  # three chunks
        store.write_lp("db", agent_batch(minute))
    assert store.persist()
    paths = sorted(f"files/{f['path']}" for f in table_files(s3, bucket))
    assert len(paths) == 3
    assert s3.objects(f"{bucket}/{PREFIX}") == sorted(["files.json", *paths])
    assert not (store.data_dir / "files").exists()
    assert not (store.data_dir / "files.json").exists()
    assert [p.name for p in (store.data_dir / "wal").iterdir()]  # the WAL stays local
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1500}]


def test_a_recent_window_query_on_s3_reads_only_the_files_of_its_time(
    open_store: Callable[..., DurableStore],
) -> None:
    check_recent_window_skips_older_files(open_store())


def test_a_restart_loads_the_catalog_from_s3_and_replays_the_local_log(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    for minute in range(20):
        store.write_lp("db", agent_batch(minute))
    store.persist()
    store.write_lp("db", agent_batch(20))
    store._abandon()  # a crash: the last batch is in the local log only
    reopened = open_store()
    assert reopened.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1050}]
    reopened.close()  # persists the replayed batch
    assert open_store().query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1050}]


def test_a_late_write_merges_its_chunk_into_a_new_object_and_deletes_the_old(
    open_store: Callable[..., DurableStore], s3: S3Server, bucket: str
) -> None:
    store = open_store()
    for minute in range(30):
        store.write_lp("db", agent_batch(minute))
    store.persist()
    before = {f["chunk"]: f["path"] for f in table_files(s3, bucket)}
    store.write_lp("db", f"cpu,host=h007 usage=99.5 {12 * MINUTE}")  # a row of chunk 1
    at = f"to_timestamp_nanos({12 * MINUTE})"
    row = f"SELECT usage, idle FROM cpu WHERE host = 'h007' AND time = {at}"  # noqa: S608
    assert store.query("db", row) == [{"usage": 99.5, "idle": 7}]
    store.persist()
    after = {f["chunk"]: f["path"] for f in table_files(s3, bucket)}
    assert after[0] == before[0] and after[2 * CHUNK] == before[2 * CHUNK]
    assert after[CHUNK] != before[CHUNK]
    objects = s3.objects(f"{bucket}/{PREFIX}/files")
    assert objects == sorted(after.values())  # the replaced object is gone
    store._abandon()
    reopened = open_store()
    assert reopened.query("db", row) == [{"usage": 99.5, "idle": 7}]
    assert reopened.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1500}]


def test_objects_the_catalog_does_not_name_are_removed_at_start(
    open_store: Callable[..., DurableStore], s3: S3Server, bucket: str
) -> None:
    store = open_store()
    store.write_lp("db", agent_batch(0))
    store.persist()
    store._abandon()
    stray = f"{bucket}/{PREFIX}/files/d0/999.parquet"  # a persist that died before its catalog
    with s3.filesystem.open_output_stream(stray) as out:
        out.write(b"PAR1 half a file")
    reopened = open_store()
    assert s3.objects(f"{bucket}/{PREFIX}/files") == [f["path"] for f in table_files(s3, bucket)]
    assert reopened.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 50}]


def test_a_damaged_object_fails_the_query_that_reads_it(
    open_store: Callable[..., DurableStore], s3: S3Server, bucket: str
) -> None:
    store = open_store()
    store.write_lp("db", agent_batch(0))
    store.persist()
    (entry,) = table_files(s3, bucket)
    path = f"{bucket}/{PREFIX}/files/{entry['path']}"
    with s3.filesystem.open_input_stream(path) as stream:
        content = bytearray(stream.readall())
    content[len(content) // 2] ^= 0xFF
    with s3.filesystem.open_output_stream(path) as out:
        out.write(bytes(content))
    _files._VERIFIED.clear()  # as a new process: nothing checked yet
    with pytest.raises(StoreCorruptionError, match=r"s3://.*does not match the SHA-256"):
        store.query("db", "SELECT count(*) AS n FROM cpu")


# -- a start that cannot reach the bucket -------------------------------------------------------


def test_an_unreachable_endpoint_fails_the_open_naming_it_and_the_bucket(tmp_path: Path) -> None:
    location = s3_location(
        "data",
        PREFIX,
        access_key=KEY_ID,
        secret_key=SECRET,
        endpoint="http://127.0.0.1:9",
        allow_http=True,
    )
    with pytest.raises(StoreOpenError) as raised:
        DurableStore(tmp_path / "store", files=location)
    message = str(raised.value)
    assert "http://127.0.0.1:9" in message and "'data'" in message
    assert "\n" not in message
    assert not (tmp_path / "store").exists()  # nothing written locally


def test_a_missing_bucket_fails_the_open(tmp_path: Path, s3: S3Server) -> None:
    with pytest.raises(StoreOpenError, match=r"bucket 'no-such-bucket': the bucket does not exist"):
        DurableStore(tmp_path / "store", files=s3.location("no-such-bucket"))
    assert not (tmp_path / "store").exists()


def test_bad_credentials_fail_the_open(
    tmp_path: Path, s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check every key from now
    with pytest.raises(StoreOpenError) as raised:
        DurableStore(tmp_path / "store", files=s3.location(bucket))
    assert f"cannot reach the object store at {s3.endpoint}, bucket {bucket!r}" in str(raised.value)
    assert not (tmp_path / "store").exists()


def test_a_store_with_local_files_is_not_opened_on_s3_without_them(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    local = DurableStore(tmp_path / "store", flush_interval=0.01)
    local.write_lp("db", agent_batch(0))
    local.close()  # persisted to local files; the WAL segments they cover are gone
    with pytest.raises(StoreOpenError, match="keeps its files on local disk") as raised:
        DurableStore(tmp_path / "store", files=s3.location(bucket, PREFIX))
    assert f"to s3://{bucket}/{PREFIX}/" in str(raised.value)
    assert s3.objects(bucket) == []


def test_a_plain_http_endpoint_needs_allow_http() -> None:
    with pytest.raises(StoreOpenError, match="is plain HTTP") as raised:
        s3_location("data", PREFIX, endpoint="http://127.0.0.1:9")
    assert raised.value.hint == "pass --aws-allow-http, or use an https:// endpoint"


def test_the_default_location_is_the_store_directory(tmp_path: Path) -> None:
    location = FileLocation.on_disk(tmp_path)
    assert (location.catalog, location.file("d0/1.parquet")) == (
        f"{tmp_path}/files.json",
        f"{tmp_path}/files/d0/1.parquet",
    )
