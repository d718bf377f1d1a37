"""plugins.lock: format, stability, validation and concurrent updates."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest

from pluginmgr import LockEntry, LockfileError, read_lock
from pluginmgr.fetch.lockfile import dump_lock, update_lock

SHA_A = "a" * 64
SHA_B = "b" * 64


def entry(ref: str, sha: str = SHA_A, fetched_at: str = "2026-11-22T05:00:00Z") -> LockEntry:
    return LockEntry(ref, "file", f"https://example.invalid/{ref[3:]}", sha, 10, fetched_at)


def test_round_trip_and_valid_toml(tmp_path: Path) -> None:
    git = LockEntry(
        "git+file:///r@v1#path=p.py",
        "file",
        "file:///r@c#path=p.py",
        SHA_B,
        3,
        "2026-11-22T05:00:00Z",
        rev="v1",
        commit="c" * 40,
    )
    odd = entry('gh:we"ird\\name.py')
    entries = {e.ref: e for e in (entry("gh:b.py"), entry("gh:a.py"), git, odd)}
    text = dump_lock(entries)
    data = tomllib.loads(text)
    assert data["format_version"] == 1
    assert [p["ref"] for p in data["plugin"]] == sorted(entries)
    path = tmp_path / "plugins.lock"
    path.write_text(text)
    assert read_lock(path) == entries


def test_missing_lock_is_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "plugins.lock") == {}


def test_update_keeps_fetched_at_for_unchanged_content(tmp_path: Path) -> None:
    path = tmp_path / "plugins.lock"
    update_lock(path, [entry("gh:a.py", fetched_at="2026-01-01T00:00:00Z")])
    before = path.read_bytes()
    update_lock(path, [entry("gh:a.py", fetched_at="2026-11-22T09:09:09Z")])
    assert path.read_bytes() == before
    update_lock(path, [entry("gh:a.py", sha=SHA_B, fetched_at="2026-11-22T09:09:09Z")])
    assert read_lock(path)["gh:a.py"].fetched_at == "2026-11-22T09:09:09Z"


def test_concurrent_updates_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plugins.lock"
    threads = [
        threading.Thread(target=update_lock, args=(path, [entry(f"gh:p{i}.py")])) for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(read_lock(path)) == sorted(f"gh:p{i}.py" for i in range(16))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format_version = 1\n[[plugin]\n", "is not valid TOML"),
        ("[[plugin]]\nref = 'x'\n", "has no format_version"),
        ("format_version = 9\n", "has format_version 9, newer than this pluginmgr"),
        ("format_version = 1\nplugin = 3\n", "'plugin' must be an array of tables"),
        ("format_version = 1\n[[plugin]]\nref = 'gh:x.py'\n", "[[plugin]] #1 is incomplete"),
        (
            "format_version = 1\n[[plugin]]\nref='gh:x.py'\nkind='file'\nsource='s'\n"
            "sha256='abc'\nsize=1\nfetched_at='t'\n",
            "[[plugin]] #1 ('gh:x.py') has invalid values",
        ),
        (
            f"format_version = 1\n[[plugin]]\nref='gh:x.py'\nkind='file'\nsource='s'\n"
            f"sha256='{SHA_A}'\nsize=1\nfetched_at='t'\nextra=1\n",
            "has unknown keys ['extra']",
        ),
    ],
)
def test_bad_lock_files_are_reported_with_file_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "plugins.lock"
    path.write_text(text)
    with pytest.raises(LockfileError) as info:
        read_lock(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert path.read_text() == text, "a bad lock file is never overwritten by a read"


def test_update_refuses_to_overwrite_a_corrupt_lock(tmp_path: Path) -> None:
    path = tmp_path / "plugins.lock"
    path.write_text("not toml [[[")
    with pytest.raises(LockfileError):
        update_lock(path, [entry("gh:a.py")])
    assert path.read_text() == "not toml [[["
