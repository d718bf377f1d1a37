"""Fetching gh: references from a real loopback HTTP server: cache, revalidation, pins, faults."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pluginmgr import (
    HTTPStatusError,
    IntegrityError,
    NetworkError,
    OfflineError,
    PluginManager,
    Settings,
    TooLargeError,
    read_lock,
)
from pluginmgr.testing import RepoServer, reply
from tests.conftest import NOTIFIER, WAL_PATH, WAL_PLUGIN


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cold_fetch_downloads_verifies_and_pins(
    manager: PluginManager, repo_server: RepoServer, repo_root: Path
) -> None:
    plugin = manager.fetch(WAL_PLUGIN)
    assert plugin.origin == "downloaded"
    assert plugin.source == f"{repo_server.url}{WAL_PATH}"
    assert plugin.sha256 == sha(repo_root / WAL_PATH)
    assert plugin.path.read_bytes() == (repo_root / WAL_PATH).read_bytes()
    # the file, then the records a mirror would keep (this repository keeps none)
    seen = [(r.path, r.status) for r in repo_server.requests]
    assert seen == [(f"/{WAL_PATH}", 200), ("/SHA256SUMS", 404), ("/mirror.json", 404)]
    entry = read_lock(manager.settings.lock_path)[WAL_PLUGIN]
    assert (entry.sha256, entry.kind) == (plugin.sha256, "file")
    assert entry.source == f"plugin-repo:{WAL_PLUGIN.removeprefix('gh:')}"
    assert entry.size == (repo_root / WAL_PATH).stat().st_size


def test_warm_fetch_with_lock_sends_no_request(
    manager: PluginManager, repo_server: RepoServer
) -> None:
    first = manager.fetch(WAL_PLUGIN)
    repo_server.reset()
    again = manager.fetch(WAL_PLUGIN)
    assert repo_server.requests == []
    assert again.origin == "locked"
    assert again.sha256 == first.sha256


def test_refresh_sends_conditional_request_and_downloads_nothing(
    manager: PluginManager, repo_server: RepoServer
) -> None:
    first = manager.fetch(WAL_PLUGIN)
    repo_server.reset()
    again = manager.fetch(WAL_PLUGIN, refresh=True)
    assert again.origin == "not-modified"
    assert again.sha256 == first.sha256
    [seen] = repo_server.requests
    assert seen.status == 304
    assert seen.headers["If-None-Match"] == f'"{first.sha256}"'
    assert "If-Modified-Since" in seen.headers
    assert repo_server.bytes_sent == 0


def test_changed_upstream_becomes_a_new_version_and_pin(
    manager: PluginManager, repo_server: RepoServer, repo_root: Path
) -> None:
    first = manager.fetch(WAL_PLUGIN)
    lock_before = manager.settings.lock_path.read_text()
    target = repo_root / WAL_PATH
    target.write_text(target.read_text() + "\n# v2\n")
    # without --refresh the pin holds: still the old bytes, no request
    assert manager.fetch(WAL_PLUGIN).sha256 == first.sha256
    assert manager.settings.lock_path.read_text() == lock_before
    second = manager.fetch(WAL_PLUGIN, refresh=True)
    assert second.origin == "downloaded"
    assert second.sha256 == sha(target) != first.sha256
    assert read_lock(manager.settings.lock_path)[WAL_PLUGIN].sha256 == second.sha256
    versions = manager.versions(WAL_PLUGIN)
    assert [v.sha256 for v in versions] == [first.sha256, second.sha256]
    assert all(v.source == f"{repo_server.url}{WAL_PATH}" for v in versions)
    # the old version's bytes are still in the store
    assert manager.store.read(first.sha256) != manager.store.read(second.sha256)


def test_lock_file_is_stable_across_refetches(manager: PluginManager) -> None:
    manager.fetch_many([NOTIFIER, WAL_PLUGIN])
    text = manager.settings.lock_path.read_text()
    time.sleep(1.1)  # fetched_at has second precision: a rewrite would show
    manager.fetch_many([WAL_PLUGIN, NOTIFIER], refresh=True)
    assert manager.settings.lock_path.read_text() == text
    assert text.index(WAL_PLUGIN) > text.index("format_version")
    assert text.index(NOTIFIER) > text.index(WAL_PLUGIN), "entries are sorted by reference"


def test_404_has_upstream_message(manager: PluginManager, repo_server: RepoServer) -> None:
    with pytest.raises(HTTPStatusError) as info:
        manager.fetch("gh:not_a_file.py")
    assert str(info.value) == (
        f"error fetching plugin from repository: 404 Not Found {repo_server.url}not_a_file.py"
    )
    assert not manager.settings.lock_path.exists()


def test_oversize_file_is_refused(
    make_settings: Callable[..., Settings], repo_server: RepoServer, repo_root: Path
) -> None:
    (repo_root / "big.py").write_bytes(b"#" * 5000)
    with PluginManager(make_settings(max_file_bytes=4096)) as mgr:
        with pytest.raises(TooLargeError) as info:
            mgr.fetch("gh:big.py")
        assert str(info.value).startswith(
            f"plugin file {repo_server.url}big.py is larger than the 4096-byte limit"
        )
        assert list(mgr.store.iter_blobs()) == []


def test_oversize_body_without_content_length_is_cut_off(
    make_settings: Callable[..., Settings], repo_server: RepoServer
) -> None:
    def chunked(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(10):
            handler.wfile.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    repo_server.overrides["/stream.py"] = chunked
    with PluginManager(make_settings(max_file_bytes=4096)) as mgr:
        with pytest.raises(TooLargeError, match="larger than the 4096-byte limit"):
            mgr.fetch("gh:stream.py")


def test_redirect_loop_stops_after_five_redirects(
    manager: PluginManager, repo_server: RepoServer
) -> None:
    def loop(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 302, headers={"Location": "/loop.py"})

    repo_server.overrides["/loop.py"] = loop
    with pytest.raises(NetworkError) as info:
        manager.fetch("gh:loop.py")
    assert str(info.value).startswith(
        f"error getting plugin from repository: too many redirects (more than 5) "
        f"{repo_server.url}loop.py"
    )
    assert len(repo_server.requests) == 6


def test_redirect_within_limit_is_followed(
    manager: PluginManager, repo_server: RepoServer, repo_root: Path
) -> None:
    def moved(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 301, headers={"Location": f"/{WAL_PATH}"})

    repo_server.overrides["/old.py"] = moved
    assert manager.fetch("gh:old.py").sha256 == sha(repo_root / WAL_PATH)


def test_slow_server_times_out(
    make_settings: Callable[..., Settings], repo_server: RepoServer
) -> None:
    def slow(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(1.5)
        reply(handler, 200, b"x\n")

    repo_server.overrides["/slow.py"] = slow
    with PluginManager(make_settings(read_timeout=0.3)) as mgr:
        start = time.monotonic()
        with pytest.raises(NetworkError) as info:
            mgr.fetch("gh:slow.py")
        assert time.monotonic() - start < 1.4
    message = str(info.value)
    assert message.startswith(
        f"error getting plugin from repository: read timed out {repo_server.url}slow.py"
    )
    assert "raise --read-timeout (now 0.3s)" in message


def test_5xx_is_retried_with_backoff(
    make_settings: Callable[..., Settings], repo_server: RepoServer, repo_root: Path
) -> None:
    calls = []

    def flaky(handler: BaseHTTPRequestHandler) -> None:
        calls.append(1)
        if len(calls) < 3:
            reply(handler, 503, b"busy")
        else:
            reply(handler, 200, (repo_root / WAL_PATH).read_bytes())

    repo_server.overrides["/flaky.py"] = flaky
    with PluginManager(make_settings(retries=2)) as mgr:
        assert mgr.fetch("gh:flaky.py").sha256 == sha(repo_root / WAL_PATH)
    assert len(calls) == 3


def test_5xx_after_retries_reports_the_status(
    make_settings: Callable[..., Settings], repo_server: RepoServer
) -> None:
    def down(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 503)

    repo_server.overrides["/down.py"] = down
    with PluginManager(make_settings(retries=1)) as mgr:
        with pytest.raises(HTTPStatusError) as info:
            mgr.fetch("gh:down.py")
    assert str(info.value) == (
        f"error fetching plugin from repository: 503 Service Unavailable {repo_server.url}down.py"
    )
    assert len(repo_server.requests) == 2


def test_private_repository_token(
    make_settings: Callable[..., Settings], repo_server: RepoServer
) -> None:
    repo_server.token = "s3cret"
    with PluginManager(make_settings()) as mgr, pytest.raises(HTTPStatusError, match="401"):
        mgr.fetch(WAL_PLUGIN)
    with PluginManager(make_settings(plugin_repo_token="s3cret")) as mgr:
        assert mgr.fetch(WAL_PLUGIN).origin == "downloaded"
    assert repo_server.requests[-1].headers["Authorization"] == "Bearer s3cret"


def _corrupt(path: Path) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(b"print('tampered')\n")


def test_corrupted_blob_is_detected_never_loaded_and_refetched(
    manager: PluginManager, repo_server: RepoServer, repo_root: Path
) -> None:
    plugin = manager.fetch(WAL_PLUGIN)
    _corrupt(plugin.path)
    repo_server.reset()
    again = manager.fetch(WAL_PLUGIN)
    assert again.origin == "downloaded"
    assert again.path.read_bytes() == (repo_root / WAL_PATH).read_bytes()
    assert [r.status for r in repo_server.requests] == [200]
    assert list((manager.store.root / "quarantine").iterdir()), "the bad blob was set aside"


def test_corrupted_blob_offline_is_an_error(
    make_settings: Callable[..., Settings], manager: PluginManager
) -> None:
    plugin = manager.fetch(WAL_PLUGIN)
    _corrupt(plugin.path)
    with PluginManager(make_settings(offline=True)) as offline:
        with pytest.raises(OfflineError) as info:
            offline.fetch(WAL_PLUGIN)
    assert str(info.value).startswith(f"{WAL_PLUGIN}: pinned content {plugin.sha256[:12]}")
    assert "is not in the store" in str(info.value)


def test_offline_with_server_stopped(
    make_settings: Callable[..., Settings], manager: PluginManager, repo_server: RepoServer
) -> None:
    pinned = manager.fetch(WAL_PLUGIN)
    offline_settings = make_settings(offline=True)
    repo_server.stop()
    with PluginManager(offline_settings) as offline:
        assert offline.fetch(WAL_PLUGIN).sha256 == pinned.sha256
        with pytest.raises(OfflineError) as info:
            offline.fetch(NOTIFIER)
    lock = manager.settings.lock_path
    assert str(info.value) == (
        f"{NOTIFIER} is not pinned in {lock}; offline mode cannot fetch it "
        f"(hint: run `pluginmgr fetch {NOTIFIER}` while online)"
    )
    # online but unreachable: pinned references still load, new ones fail clearly
    assert manager.fetch(WAL_PLUGIN).origin == "locked"
    with pytest.raises(NetworkError, match=r"^error getting plugin from repository: "):
        manager.fetch(NOTIFIER)


def test_pinned_hash_is_enforced_against_another_mirror(
    make_settings: Callable[..., Settings], manager: PluginManager, repo_root: Path, tmp_path: Path
) -> None:
    pinned = manager.fetch(WAL_PLUGIN)
    mirror = tmp_path / "mirror"
    (mirror / "examples" / "wal_plugin").mkdir(parents=True)
    (mirror / WAL_PATH).write_bytes((repo_root / WAL_PATH).read_bytes())
    fresh_cache = {"cache_dir": tmp_path / "cache2", "plugin_repo": mirror.as_uri() + "/"}
    with PluginManager(make_settings(**fresh_cache)) as mgr:
        same = mgr.fetch(WAL_PLUGIN)
    assert same.sha256 == pinned.sha256 and same.source == (mirror / WAL_PATH).as_uri()
    (mirror / WAL_PATH).write_text("print('evil mirror')\n")
    fresh_cache["cache_dir"] = tmp_path / "cache3"
    with PluginManager(make_settings(**fresh_cache)) as mgr:
        with pytest.raises(IntegrityError) as info:
            mgr.fetch(WAL_PLUGIN)
    assert f"pins {pinned.sha256}" in str(info.value)
    assert f"run `pluginmgr lock --upgrade {WAL_PLUGIN}`" in str(info.value)


def test_file_repository(make_settings: Callable[..., Settings], repo_root: Path) -> None:
    with PluginManager(make_settings(plugin_repo=repo_root.as_uri())) as mgr:
        plugin = mgr.fetch(WAL_PLUGIN)
        assert plugin.source == f"{repo_root.as_uri()}/{WAL_PATH}"
        assert plugin.sha256 == sha(repo_root / WAL_PATH)
        refreshed = mgr.fetch(WAL_PLUGIN, refresh=True)
        assert refreshed.origin == "not-modified"
        with pytest.raises(HTTPStatusError) as info:
            mgr.fetch("gh:missing.py")
    assert str(info.value) == (
        f"error fetching plugin from repository: 404 Not Found {repo_root.as_uri()}/missing.py"
    )


def test_many_references_fetch_concurrently_and_report_each_failure(
    manager: PluginManager, repo_server: RepoServer
) -> None:
    report = manager.fetch_many([WAL_PLUGIN, "gh:nope.py", NOTIFIER, WAL_PLUGIN])
    assert sorted(p.ref for p in report.plugins) == sorted([WAL_PLUGIN, NOTIFIER])
    [(ref, error)] = report.errors
    assert ref == "gh:nope.py" and isinstance(error, HTTPStatusError)
    assert sorted(read_lock(manager.settings.lock_path)) == sorted([NOTIFIER, WAL_PLUGIN])


def test_verify_finds_tampering(manager: PluginManager) -> None:
    plugin = manager.fetch(WAL_PLUGIN)
    manager.fetch(NOTIFIER)
    assert manager.verify().ok
    _corrupt(plugin.path)
    report = manager.verify()
    assert report.corrupted == [plugin.sha256]
    assert report.lock_problems == [
        (WAL_PLUGIN, f"pinned content {plugin.sha256[:12]} is missing from the store")
    ]
    assert not report.ok
