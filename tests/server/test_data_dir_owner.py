"""One owner per node's data, and a damaged catalog refusing the start, with real ``pluginmgr
serve`` processes: a second server, ``store repair`` and ``create token --data-dir`` beside a
live one are refused naming its pid; ``kill -9`` releases the lock; a changed ``files.json``
refuses the start, deletes nothing, and once restored every acknowledged row is there."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from engine_runtime.store import DurableStore, MemoryStore
from engine_runtime.store._snapshot import write_snapshot
from engine_runtime.store._wal import list_segments, segment_path
from pluginmgr.server.auth import TokenStore
from tests.helpers import run_cli
from tests.server.server_helpers import free_port
from tests.server.test_serve_flags import server_env, serving

ROWS = 1000
QUERY = "/api/v3/query_sql"


def args(root: Path, *, auth: bool = False) -> list[str]:
    given = ["--node-id", "node0", "--data-dir", str(root / "data")]
    given += ["--cache-dir", str(root / "cache")]
    return given if auth else [*given, "--without-auth"]


def write_rows(url: str, start: int, count: int) -> None:
    """``count`` rows of ``m`` in requests of 100, each acknowledged (204)."""
    for first in range(start, start + count, 100):
        lines = "\n".join(f"m,host=h{n} v={n}i {n}" for n in range(first, first + 100))
        answer = httpx.post(f"{url}/api/v3/write_lp?db=db", content=lines, timeout=30)
        assert answer.status_code == 204, answer.text


def count_rows(url: str) -> int:
    params = {"db": "db", "q": "SELECT count(*) AS n FROM m"}
    answer = httpx.get(url + QUERY, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json()[0]["n"])


def refused_serve(root: Path) -> subprocess.CompletedProcess[str]:
    """``pluginmgr serve`` expected to stop before serving: its exit code and output."""
    command = [sys.executable, "-m", "pluginmgr", "serve", *args(root)]
    command += ["--http-bind", f"127.0.0.1:{free_port()}"]
    return subprocess.run(
        command, capture_output=True, text=True, env=server_env(), timeout=60, check=False
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def store_files(root: Path) -> dict[str, bytes]:
    store = root / "data" / "node0" / "store"
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


# --- manifest integrity, end to end --------------------------------------------------------------


@pytest.mark.slow  # five server starts
def test_a_changed_files_json_refuses_the_start_and_restored_keeps_every_row(
    tmp_path: Path,
) -> None:
    with serving(args(tmp_path), server_env()) as running:
        write_rows(running.url, 0, ROWS // 2)
    assert running.code == 0, running.stderr  # a clean stop: persisted, files.json written
    with serving(args(tmp_path), server_env()) as running:
        write_rows(running.url, ROWS // 2, ROWS // 2)
        running.process.kill()  # acknowledged, in the WAL only
        running.process.wait()
    catalog = tmp_path / "data" / "node0" / "store" / "files.json"
    original = catalog.read_bytes()
    covered = json.loads(original)["wal_seq"]
    segments = sorted((tmp_path / "data" / "node0" / "store" / "wal").glob("*.wal"))
    last = int(segments[-1].name.removesuffix(".wal"))
    for old, new in (
        (f'"wal_seq":{covered},', f'"wal_seq":{last},'),  # one digit: the edit
        ('"db":', '"dc":'),  # one character of a database name
    ):
        catalog.write_bytes(original.replace(old.encode(), new.encode()))
        before = store_files(tmp_path)
        result = refused_serve(tmp_path)
        assert result.returncode == 1, result.stderr
        assert error_lines(result.stderr) == [
            f"error: the store's file catalog {catalog} does not match its checksum: it was "
            "changed or damaged (hint: restore files.json from a backup of the data dir taken "
            "while the server was stopped; nothing was deleted)"
        ]
        assert store_files(tmp_path) == before  # no WAL segment, no file deleted
    catalog.write_bytes(original)  # restored from the backup
    with serving(args(tmp_path), server_env()) as running:
        assert count_rows(running.url) == ROWS


def test_a_raised_wal_seq_in_a_snapshot_manifest_refuses_serve_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    """The issue's case: a store of the snapshot format (snapshot 1, then ROWS acknowledged
    rows in WAL segment 2) whose manifest says ``"wal_seq": 2``."""
    store_dir = tmp_path / "data" / "node0" / "store"
    store = DurableStore(store_dir, flush_interval=0.01, persist_interval=3600)
    for first in range(0, ROWS, 100):
        store.write_lp(
            "db", "\n".join(f"m,host=h{n} v={n}i {n}" for n in range(first, first + 100))
        )
    store._abandon()
    ((_seq, segment),) = list_segments(store_dir / "wal")
    segment.rename(segment_path(store_dir / "wal", 2))
    old = MemoryStore()
    old.write_lp("db", "old,host=a v=1i 1")
    manifest = write_snapshot(store_dir / "snapshots", 1, old.export_tables()) / "manifest.json"
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"wal_seq": 1,', b'"wal_seq": 2,'))
    before = store_files(tmp_path)
    result = refused_serve(tmp_path)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"error: snapshot manifest {manifest} does not match its checksum: it was changed or "
        "damaged (hint: restore the snapshot directory (its manifest.json) from a backup of the "
        "data dir; nothing was deleted)"
    ]
    assert store_files(tmp_path) == before  # the snapshot and WAL segment 2 are still there
    manifest.write_bytes(original)
    with serving(args(tmp_path), server_env()) as running:
        assert count_rows(running.url) == ROWS


# --- one owner per node's data -------------------------------------------------------------------


def test_a_second_server_on_the_same_data_is_refused_and_the_first_loses_nothing(
    tmp_path: Path,
) -> None:
    with serving(args(tmp_path), server_env()) as first:
        write_rows(first.url, 0, ROWS // 2)
        second = refused_serve(tmp_path)
        assert second.returncode == 1
        node = tmp_path / "data" / "node0"
        assert error_lines(second.stderr) == [
            f"error: {node} is in use by another pluginmgr process (pid {first.process.pid}, "
            f"holding {node / 'owner.lock'}): a second server on the same data would lose "
            f"writes (hint: stop that process (pid {first.process.pid}) first, or pass another "
            "--data-dir or --node-id)"
        ]
        write_rows(first.url, ROWS // 2, ROWS // 2)  # the first serves on
        assert count_rows(first.url) == ROWS
    assert first.code == 0, first.stderr
    with serving(args(tmp_path), server_env()) as again:
        assert count_rows(again.url) == ROWS


def test_store_repair_beside_a_live_server_is_refused_and_cuts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with serving(args(tmp_path), server_env()) as running:
        write_rows(running.url, 0, 300)
        wal = store_files(tmp_path)
        result = run_cli(
            capsys, "store", "repair", "--data-dir", str(data), "--node-id", "node0",
            "--truncate-at", "10",
        )  # fmt: skip
        assert result.code == 1 and result.out == ""
        pid = running.process.pid
        assert result.err == (
            f"error: {data / 'node0'} is in use by another pluginmgr process (pid {pid}, holding "
            f"{data / 'node0' / 'owner.lock'}): cutting the WAL of a live server would cut "
            f"acknowledged writes (hint: stop the server (pid {pid}) first, then run store "
            "repair again)\n"
        )
        assert store_files(tmp_path) == wal
        store_dir = data / "node0" / "store"
        by_dir = run_cli(
            capsys, "store", "repair", "--store-dir", str(store_dir), "--truncate-at", "0"
        )
        assert by_dir.code == 1 and f"(pid {pid}," in by_dir.err


def test_create_token_in_the_data_dir_of_a_live_server_is_refused_while_the_server_makes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with serving(args(tmp_path, auth=True), server_env()) as running:
        answers: list[httpx.Response] = []
        racing = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{running.url}/api/v3/configure/token/admin", timeout=30)
            )
        )
        racing.start()  # the server's first-token endpoint, at the same time as the CLI
        made = run_cli(capsys, "create", "token", "--admin", "--data-dir", str(data))
        racing.join()
        assert made.code == 1 and made.out == ""
        assert made.err.startswith(f"error: {data / 'node0'} is in use by another pluginmgr ")
        assert f"(pid {running.process.pid}," in made.err and made.err.count("\n") == 1
        assert "its server owns the token file (hint: create the token through that server" in (
            made.err
        )
        assert answers[0].status_code in (200, 201), answers[0].text
        regenerate = ("create", "token", "--admin", "--regenerate", "--yes", "--data-dir")
        again = run_cli(capsys, *regenerate, str(data))
        assert again.code == 1 and f"(pid {running.process.pid}," in again.err
    records = TokenStore(data / "tokens.json").records()
    assert [(r.name, r.admin) for r in records] == [("_admin", True)]  # one admin token


def test_kill_9_releases_the_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    with serving(args(tmp_path), server_env()) as running:
        write_rows(running.url, 0, 100)
        running.process.kill()
        running.process.wait()
    repair = ("store", "repair", "--data-dir", str(data), "--node-id", "node0", "--truncate-at")
    result = run_cli(capsys, *repair, "0")
    assert result.code == 0, result.err
    assert "reads back: nothing to repair" in result.out
    made = run_cli(capsys, "create", "token", "--admin", "--data-dir", str(data))
    assert made.code == 0, made.err
    with serving(args(tmp_path), server_env()) as again:
        assert count_rows(again.url) == 100
