"""``pluginmgr store repair``: cut a damaged WAL segment on a real store, in-process."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine_runtime.store import DurableStore, StoreCorruptionError
from tests.helpers import run_cli

RECORDS = 30
KEPT = 7  # the damaged record's index


def damaged_node(data_dir: Path) -> tuple[Path, int]:
    """``DATA_DIR/node0/store`` with RECORDS writes of 2 lines, record KEPT's length byte
    flipped mid-segment: the segment and the damage's offset."""
    store = DurableStore(data_dir / "node0" / "store", flush_interval=0.01)
    for index in range(RECORDS):
        store.write_lp("db", f"m v={index}i {2 * index}\nm v={index}i {2 * index + 1}")
    store._abandon()
    (segment,) = (data_dir / "node0" / "store" / "wal").glob("*.wal")
    data = bytearray(segment.read_bytes())
    offset = 8
    for _ in range(KEPT):
        offset += 8 + struct.unpack_from("<I", data, offset)[0]
    data[offset + 3] ^= 0x40
    segment.write_bytes(bytes(data))
    return segment, offset


def rows(store_dir: Path) -> list[int]:
    store = DurableStore(store_dir, flush_interval=0.01, persist_on_close=False)
    try:
        return [r["v"] for r in store.query("db", "SELECT v FROM m ORDER BY time")]
    finally:
        store.close()


def test_repair_cuts_at_the_damage_and_keeps_a_backup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    segment, offset = damaged_node(data_dir)
    original = segment.read_bytes()
    with pytest.raises(StoreCorruptionError):
        rows(segment.parent.parent)
    done = run_cli(
        capsys, "store", "repair", "--data-dir", str(data_dir), "--truncate-at", str(offset)
    )
    assert done.code == 0, done.err
    backup = segment.with_name(f"{segment.name}.corrupt-{offset}")
    assert f"cut WAL segment {segment} at byte offset {offset}" in done.out
    assert f"kept {KEPT} records" in done.out
    lost = RECORDS - KEPT - 1
    assert f"lost {lost} readable records ({2 * lost} lines of line protocol)" in done.out
    assert str(backup) in done.out
    assert backup.read_bytes() == original[offset:]
    assert segment.read_bytes() == original[:offset]
    assert rows(segment.parent.parent) == [v for v in range(KEPT) for _ in range(2)]
    again = run_cli(capsys, "store", "repair", "--data-dir", str(data_dir), "--truncate-at", "8")
    assert again.code == 0
    assert "nothing to repair" in again.out


def test_repair_takes_the_store_dir_and_node_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    segment, offset = damaged_node(tmp_path / "data")
    other = tmp_path / "data" / "node1" / "store" / "wal"
    other.mkdir(parents=True)  # two nodes: --node-id picks one
    by_node = run_cli(
        capsys,
        *("store", "repair", "--data-dir", str(tmp_path / "data"), "--node-id", "node0"),
        *("--truncate-at", str(offset)),
    )
    assert by_node.code == 0, by_node.err
    assert f"kept {KEPT} records" in by_node.out
    by_dir = run_cli(
        capsys, "store", "repair", "--store-dir", str(segment.parent.parent), "--truncate-at", "8"
    )
    assert (by_dir.code, by_dir.err) == (0, "")
    assert "nothing to repair" in by_dir.out


def test_a_wrong_offset_is_refused_and_nothing_is_cut(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    segment, offset = damaged_node(tmp_path / "data")
    original = segment.read_bytes()
    wrong = run_cli(
        capsys,
        *("store", "repair", "--data-dir", str(tmp_path / "data")),
        *("--truncate-at", str(offset + 8)),
    )
    assert wrong.code == 1
    assert wrong.err.startswith(
        f"error: WAL segment {segment} is damaged at byte offset {offset}, not {offset + 8}"
    )
    assert f"--truncate-at {offset})" in wrong.err
    assert len(wrong.err.splitlines()) == 1
    assert segment.read_bytes() == original
    assert list(segment.parent.iterdir()) == [segment]


@pytest.mark.parametrize("flag", ["--data-dir", "--store-dir"])
def test_a_missing_dir_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    done = run_cli(capsys, "store", "repair", flag, str(tmp_path / "nope"), "--truncate-at", "8")
    assert done.code == 1
    assert done.err.startswith("error: ")
    assert str(tmp_path / "nope") in done.err
    assert len(done.err.splitlines()) == 1


def test_an_unknown_node_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    damaged_node(tmp_path / "data")
    done = run_cli(
        capsys,
        *("store", "repair", "--data-dir", str(tmp_path / "data"), "--node-id", "node9"),
        *("--truncate-at", "8"),
    )
    assert done.code == 1
    assert "error: no store in node 'node9'" in done.err


def test_a_negative_offset_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    done = run_cli(capsys, "store", "repair", "--store-dir", str(tmp_path), "--truncate-at", "-1")
    assert done.code == 2
    assert "--truncate-at" in done.err
