"""DurableStore integrity on real files: damage mid-log, file checksums, the catalog, the
snapshot format converted, modes, a full disk."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine_runtime.file_checksum import with_checksum
from engine_runtime.store import DurableStore, MemoryStore, StoreCorruptionError
from engine_runtime.store._snapshot import write_snapshot
from engine_runtime.store.durable import DurabilityError, find_damage
from tests.disk_helpers import fill
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 40
LINES = 5  # per record


def batch(index: int) -> str:
    return "\n".join(f"m,host=h{line} v={index}i {index * 100 + line}" for line in range(LINES))


def written_log(open_store: Callable[..., DurableStore]) -> Path:
    """A store with RECORDS acknowledged writes in one segment (no snapshot); the segment."""
    store = open_store()
    for index in range(RECORDS):
        store.write_lp("db", batch(index))
    store._abandon()
    (segment,) = sorted((store.data_dir / "wal").glob("*.wal"))
    return segment


def record_offsets(segment: Path) -> list[int]:
    data, offsets, offset = segment.read_bytes(), [], 8
    while offset < len(data):
        offsets.append(offset)
        offset += 8 + struct.unpack_from("<I", data, offset)[0]
    return offsets


def corrupt_length(segment: Path, record: int) -> int:
    """Flip the top byte of record ``record``'s length (it now runs past EOF); its offset."""
    offset = record_offsets(segment)[record]
    data = bytearray(segment.read_bytes())
    data[offset + 3] ^= 0x40
    segment.write_bytes(bytes(data))
    return offset


def count_rows(store: DurableStore) -> int:
    rows = store.query("db", "SELECT count(*) AS n FROM m")
    return int(rows[0]["n"])


# --- the WAL ------------------------------------------------------------------------------


def test_a_bad_length_mid_segment_is_refused_and_nothing_is_cut(
    open_store: Callable[..., DurableStore], caplog: pytest.LogCaptureFixture
) -> None:
    segment = written_log(open_store)
    offset = corrupt_length(segment, 10)
    before = segment.read_bytes()
    with caplog.at_level(logging.WARNING), pytest.raises(StoreCorruptionError) as caught:
        open_store()
    error = caught.value
    assert f"{segment} is corrupt at byte offset {offset}" in error.message
    assert "runs past the end of the file, yet valid records follow" in error.message
    assert error.hint is not None
    assert f"pluginmgr store repair --store-dir {segment.parent.parent} --truncate-at {offset}" in (
        error.hint
    )
    assert (error.path, error.offset) == (segment, offset)
    assert "torn record" not in caplog.text
    assert segment.read_bytes() == before


def test_damage_counts_what_a_cut_would_lose(open_store: Callable[..., DurableStore]) -> None:
    segment = written_log(open_store)
    offset = corrupt_length(segment, 10)
    damage = find_damage(segment)
    assert damage is not None
    assert (damage.offset, damage.records_kept) == (offset, 10)
    assert (damage.records_lost, damage.lines_lost) == (RECORDS - 11, (RECORDS - 11) * LINES)
    assert damage.bytes_cut == segment.stat().st_size - offset


def test_a_real_torn_tail_is_still_cut_with_a_warning(
    open_store: Callable[..., DurableStore], caplog: pytest.LogCaptureFixture
) -> None:
    segment = written_log(open_store)
    last = record_offsets(segment)[-1]
    with segment.open("r+b") as handle:  # a crash halfway through the last record
        handle.truncate(last + 20)
    with caplog.at_level(logging.WARNING):
        store = open_store()
    assert f"torn record at byte offset {last}" in caplog.text
    assert segment.stat().st_size == last
    assert count_rows(store) == (RECORDS - 1) * LINES


def test_a_torn_tail_that_hides_a_valid_record_is_not_cut(
    open_store: Callable[..., DurableStore],
) -> None:
    segment = written_log(open_store)
    offset = corrupt_length(segment, RECORDS - 2)  # the last record still follows it
    with pytest.raises(StoreCorruptionError, match=rf"at byte offset {offset}"):
        open_store()


# --- persisted files and the catalog -------------------------------------------------------


def persisted_store(open_store: Callable[..., DurableStore]) -> tuple[Path, Path]:
    """A closed store whose rows are all in one persisted file: (its data dir, the file)."""
    store = open_store()
    for index in range(RECORDS):
        store.write_lp("db", batch(index))
    store.close()
    (parquet,) = (store.data_dir / "files").rglob("*.parquet")
    return store.data_dir, parquet


def test_every_bit_flip_in_a_file_fails_the_queries_of_its_table_only(
    open_store: Callable[..., DurableStore],
) -> None:
    data_dir, parquet = persisted_store(open_store)
    original = parquet.read_bytes()
    step = len(original) // 12
    for position in range(4, len(original) - 4, step):
        flipped = bytearray(original)
        flipped[position] ^= 1 << (position % 8)
        parquet.write_bytes(bytes(flipped))
        store = open_store(data_dir)  # the catalog loads; the rows are read when queried
        with pytest.raises(StoreCorruptionError) as caught:
            count_rows(store)
        assert f"store file {parquet} does not match the SHA-256" in caught.value.message
        assert caught.value.hint is not None
        store.write_lp("db", "other v=1i 1")  # the store stays up: other tables answer
        assert store.query("db", "SELECT v FROM other") == [{"v": 1}]
        store._abandon()
    parquet.write_bytes(original)
    assert count_rows(open_store(data_dir)) == RECORDS * LINES


def rewrite_catalog(data_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    catalog = data_dir / "files.json"
    content = json.loads(catalog.read_text())
    change(content)
    catalog.write_text(json.dumps(with_checksum(content)))  # the checks behind the checksum


def test_a_newer_catalog_format_is_refused(open_store: Callable[..., DurableStore]) -> None:
    data_dir, _ = persisted_store(open_store)
    rewrite_catalog(data_dir, lambda c: c.update(format_version=2))
    with pytest.raises(StoreCorruptionError, match="format_version 2") as caught:
        open_store(data_dir)
    assert caught.value.hint == "was it written by a newer version?"


def test_a_damaged_catalog_is_refused(open_store: Callable[..., DurableStore]) -> None:
    data_dir, _ = persisted_store(open_store)
    rewrite_catalog(data_dir, lambda c: c["databases"]["db"].pop("tables"))
    with pytest.raises(StoreCorruptionError, match=r"files\.json is damaged"):
        open_store(data_dir)
    (data_dir / "files.json").write_text("{")
    with pytest.raises(StoreCorruptionError, match="cannot be read"):
        open_store(data_dir)


def test_a_file_the_catalog_does_not_name_is_removed_at_start(
    open_store: Callable[..., DurableStore],
) -> None:
    data_dir, parquet = persisted_store(open_store)
    stray = parquet.with_name("999.parquet")  # a persist that crashed before its commit
    stray.write_bytes(parquet.read_bytes())
    assert count_rows(open_store(data_dir)) == RECORDS * LINES
    assert not stray.exists()


# --- the snapshot format, converted at start ------------------------------------------------


def snapshot_store(open_store: Callable[..., DurableStore], data_dir: Path) -> Path:
    """A store in the snapshot format: a snapshot covering nothing of the log, holding table
    ``old``, and one WAL segment of RECORDS writes to ``m``; its Parquet file."""
    store = open_store(data_dir)
    for index in range(RECORDS):
        store.write_lp("db", batch(index))
    store._abandon()  # the log only: no catalog yet
    old = MemoryStore()
    old.write_lp("db", "old,host=a v=1i 1\nold,host=b v=2i 2")
    write_snapshot(data_dir / "snapshots", 0, old.export_tables())
    (parquet,) = (data_dir / "snapshots").rglob("*.parquet")
    return parquet


def test_a_store_in_the_snapshot_format_is_converted_at_start(
    tmp_path: Path, open_store: Callable[..., DurableStore]
) -> None:
    data_dir = tmp_path / "old-store"
    snapshot_store(open_store, data_dir)
    store = open_store(data_dir)
    assert count_rows(store) == RECORDS * LINES
    assert store.query("db", "SELECT host, v FROM old ORDER BY host") == [
        {"host": "a", "v": 1},
        {"host": "b", "v": 2},
    ]
    assert not (data_dir / "snapshots").exists()  # converted: its rows are files now
    assert (data_dir / "files.json").is_file()
    store._abandon()
    reopened = open_store(data_dir)  # from the files alone
    assert count_rows(reopened) == RECORDS * LINES
    assert len(reopened.query("db", "SELECT v FROM old")) == 2


def test_a_damaged_snapshot_stops_the_conversion(
    tmp_path: Path, open_store: Callable[..., DurableStore]
) -> None:
    data_dir = tmp_path / "old-store"
    parquet = snapshot_store(open_store, data_dir)
    flipped = bytearray(parquet.read_bytes())
    flipped[len(flipped) // 2] ^= 1
    parquet.write_bytes(bytes(flipped))
    with pytest.raises(StoreCorruptionError, match="does not match the SHA-256"):
        open_store(data_dir)
    assert not (data_dir / "files.json").exists()  # nothing converted, nothing lost


# --- file modes ---------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_wal_and_persisted_files_are_private(
    tmp_path: Path, open_store: Callable[..., DurableStore]
) -> None:
    old = tmp_path / "store"
    (old / "wal").mkdir(parents=True, mode=0o755)
    (old / "wal").chmod(0o755)  # a store made by an older version
    store = open_store()
    store.write_lp("db", batch(0))
    store.persist()
    store.write_lp("db", batch(1))
    store.flush()
    dirs = [old, old / "wal", old / "files", *(p for p in old.rglob("*") if p.is_dir())]
    files = [p for p in old.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".wal", ".parquet", ".json"}
    assert {mode(p) for p in dirs} == {0o700}
    assert {mode(p) for p in files} == {0o600}


# --- a full disk --------------------------------------------------------------------------


def test_a_full_disk_refuses_the_write_and_never_replays_it(
    tiny_disk: Path, open_store: Callable[..., DurableStore]
) -> None:
    store = open_store(tiny_disk / "store")
    store.write_lp("db", batch(0))
    filler = fill(tiny_disk)
    big = "\n".join(f'm,host=x{i} v=1i,pad="{"p" * 100}" {10**6 + i}' for i in range(200))
    with pytest.raises(DurabilityError, match="No space left on device") as caught:
        store.write_lp("db", big)
    assert caught.value.errno == errno.ENOSPC
    assert count_rows(store) == LINES  # not applied in memory
    filler.unlink()
    store.write_lp("db", batch(1))  # the disk is back: writes work again
    assert count_rows(store) == 2 * LINES
    store.close()
    assert count_rows(open_store(tiny_disk / "store")) == 2 * LINES


def test_a_failed_fsync_is_not_applied_nor_persisted(
    open_store: Callable[..., DurableStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without root a full disk cannot be made: the OSError is injected at the fsync boundary.
    store = open_store()
    store.write_lp("db", batch(0))
    real_fsync = os.fsync
    failures = [OSError(errno.ENOSPC, "No space left on device")]

    def flaky_fsync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky_fsync)
    with pytest.raises(DurabilityError) as caught:
        store.write_lp("db", batch(1))
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC
    assert count_rows(store) == LINES
    store.close()  # the final persist must not hold the refused rows either
    assert count_rows(open_store()) == LINES


def test_a_no_sync_write_in_a_failed_flush_is_dropped_soon(
    open_store: Callable[..., DurableStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    store.write_lp("db", batch(0))
    real_fsync = os.fsync
    failures = [OSError(errno.EIO, "Input/output error")]

    def flaky_fsync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky_fsync)
    store.write_lp("db", batch(1), no_sync=True)  # acknowledged at once, as upstream's
    wait_for(lambda: not failures and count_rows(store) == LINES)  # the persister heals
    monkeypatch.undo()
    store.write_lp("db", batch(2))
    store._abandon()
    assert count_rows(open_store()) == 2 * LINES


# --- serve ------------------------------------------------------------------------------


def test_serve_on_a_damaged_store_prints_one_error_line(
    tmp_path: Path, open_store: Callable[..., DurableStore]
) -> None:
    node_store = tmp_path / "data" / "node0" / "store"
    store = open_store(node_store)
    for index in range(RECORDS):
        store.write_lp("db", batch(index))
    store._abandon()
    (segment,) = (node_store / "wal").glob("*.wal")
    offset = corrupt_length(segment, 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB3_", "PLUGINMGR_"))}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pluginmgr", "serve", "--data-dir", str(tmp_path / "data")),
            *("--node-id", "node0", "--without-auth", "--http-bind", "127.0.0.1:0"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: WAL segment {segment} is corrupt at byte offset {offset}")
    assert f"--truncate-at {offset}" in lines[0]
    assert "Traceback" not in done.stderr


def test_repair_then_open_keeps_the_records_before_the_damage(
    open_store: Callable[..., DurableStore],
) -> None:
    # the mechanism under `pluginmgr store repair` (tests/cli has the command itself)
    from engine_runtime.store.durable import cut_segment

    segment = written_log(open_store)
    offset = corrupt_length(segment, 10)
    original = segment.read_bytes()
    backup = cut_segment(segment, offset)
    assert backup.read_bytes() == original[offset:]
    assert mode(backup) == 0o600
    assert count_rows(open_store()) == 10 * LINES
