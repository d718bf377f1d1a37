"""``mirror sync --with-deps --pylock``: DEST/wheels holds exactly the files a pylock.toml locks.

The wheels are real (`tests/wheels.py`), served by a real loopback HTTP server or read from disk;
the locks are written with `pluginmgr.deps.pylock` (or by uv itself): nothing here needs internet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uv

from pluginmgr.deps.pylock import LockedFile, LockedPackage, PyLock
from pluginmgr.deps.pylock_writer import write_pylock
from pluginmgr.mirror.sync import MirrorReport, WheelOptions, sync_mirror, verify_mirror
from pluginmgr.testing import RepoServer, reply
from tests.helpers import run_cli
from tests.wheels import build_wheelhouse

ALPHA = "pm_alpha-1.0.0-py3-none-any.whl"
BETA = "pm_beta-1.0.0-py3-none-any.whl"
GAMMA = "pm_gamma-0.1.0-py3-none-any.whl"
EXTRAS = "pm_extras-1.0.0-py3-none-any.whl"  # only on Windows (its marker)
NATIVE = "pm_native-1.0.0-cp312-cp312-win_amd64.whl"  # no wheel for anything else
NATIVE_SDIST = "pm_native-1.0.0.tar.gz"
LOCKED = (f"wheels/{ALPHA}", f"wheels/{BETA}")

pytestmark = pytest.mark.usefixtures("uv_sandbox")  # pip and uv get no user config


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real wheels of the fixture projects, plus a Windows-only one (built once, read-only)."""
    out = build_wheelhouse(
        tmp_path_factory.mktemp("built"), ("pm_alpha", "pm_beta", "pm_gamma", "pm_extras")
    )
    shutil.copyfile(out / ALPHA, out / NATIVE)  # the bytes do not matter, the tags do
    (out / NATIVE_SDIST).write_bytes(b"an sdist of pm-native\n")
    return out


@pytest.fixture
def files(tmp_path: Path, built: Path) -> Path:
    """A writable copy of the wheels: what the lock's URLs and paths point at."""
    root = tmp_path / "files"
    shutil.copytree(built, root)
    return root


@pytest.fixture
def file_server(files: Path) -> Iterator[RepoServer]:
    """The package host the lock's URLs name (a real HTTP server on 127.0.0.1)."""
    with RepoServer(files) as server:
        yield server


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locked(path: Path, *, url: str | None = None, relative: str | None = None) -> LockedFile:
    """The lock's record of the file at ``path``, fetched from ``url`` or a relative path."""
    hashes = {"sha256": sha256(path)}
    size = path.stat().st_size
    return LockedFile(name=path.name, hashes=hashes, url=url, path=relative, size=size)


def write_lock(plugin_dir: Path, *packages: LockedPackage) -> Path:
    plugin_dir.mkdir(parents=True, exist_ok=True)
    lock = plugin_dir / "pylock.toml"
    write_pylock(lock, PyLock(packages=packages, python="3.11", platform="linux"))
    return lock


def node_lock(plugin_dir: Path, files: Path, server: RepoServer) -> Path:
    """A node's lock: alpha by URL, beta by a path relative to the lock, extras only on
    Windows."""
    plugin_dir.mkdir(parents=True)
    beta = shutil.copy(files / BETA, plugin_dir.parent / BETA)
    return write_lock(
        plugin_dir,
        LockedPackage("pm-alpha", "1.0.0", wheels=(locked(files / ALPHA, url=server.url + ALPHA),)),
        LockedPackage("pm-beta", "1.0.0", wheels=(locked(Path(beta), relative=f"../{BETA}"),)),
        LockedPackage(
            "pm-extras",
            "1.0.0",
            marker='sys_platform == "win32"',
            wheels=(locked(files / EXTRAS, url=server.url + EXTRAS),),
        ),
    )


def sync(source: str, dest: Path, *pylocks: Path, **options: Any) -> MirrorReport:
    wheel_options = WheelOptions(pylocks=pylocks, **options)
    return sync_mirror(source, dest, retries=0, with_deps=True, wheel_options=wheel_options)


def wheels_in(dest: Path) -> list[str]:
    """Every file in DEST/wheels, hidden ones (temp files) included."""
    return sorted(p.name for p in (dest / "wheels").iterdir())


@pytest.mark.skipif(sys.platform == "win32", reason="the lock's marker keeps pm-extras on Windows")
def test_dest_gets_exactly_the_locked_wheels_for_this_interpreter(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "node" / "plugins"
    node_lock(plugin_dir, files, file_server)
    dest = tmp_path / "mirror"

    report = sync(repo_server.url, dest, plugin_dir)  # a plugin dir means DIR/pylock.toml

    assert report.ok, report.failures
    assert report.wheels == LOCKED
    assert set(LOCKED) <= set(report.new)
    assert wheels_in(dest) == [ALPHA, BETA]  # no Windows-only one, no .tmp
    assert [r.path for r in file_server.requests] == [f"/{ALPHA}"]  # beta came from its path
    sums = (dest / "SHA256SUMS").read_text()
    files_state = json.loads((dest / "mirror.json").read_text())["files"]
    for name in (ALPHA, BETA):
        assert f"{sha256(files / name)}  wheels/{name}\n" in sums
        assert files_state[f"wheels/{name}"]["sha256"] == sha256(files / name)
    result = verify_mirror(dest)
    assert result.ok and set(LOCKED) <= set(result.checked)


def test_a_resync_downloads_nothing(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = node_lock(tmp_path / "plugins", files, file_server)
    dest = tmp_path / "mirror"
    assert sync(repo_server.url, dest, lock).ok
    before = {w: (dest / w).stat().st_mtime_ns for w in LOCKED}
    file_server.reset()

    again = sync(repo_server.url, dest, lock)

    assert again.ok and not again.new and not again.updated
    assert set(LOCKED) <= set(again.unchanged)
    assert file_server.requests == []
    assert {w: (dest / w).stat().st_mtime_ns for w in LOCKED} == before


@pytest.mark.parametrize("where", ["url", "find-links"])
def test_a_source_wheel_that_differs_from_the_lock_is_refused(
    where: str,
    repo_server: RepoServer,
    file_server: RepoServer,
    files: Path,
    tmp_path: Path,
) -> None:
    lock = node_lock(tmp_path / "plugins", files, file_server)
    expected = sha256(files / ALPHA)
    evil = b"PK\x03\x04 not the wheel the node locked"
    options: dict[str, Any] = {}
    if where == "url":
        file_server.overrides[f"/{ALPHA}"] = lambda handler: reply(handler, 200, evil)
        source = file_server.url + ALPHA
    else:
        links = tmp_path / "links"
        links.mkdir()
        (links / ALPHA).write_bytes(evil)
        options["find_links"] = (str(links),)
        source = str(links / ALPHA)
    dest = tmp_path / "mirror"

    report = sync(repo_server.url, dest, lock, **options)

    assert not report.ok
    (failure,) = report.failures
    assert failure.path == f"wheels/{ALPHA}"
    assert source in failure.message
    assert f"sha256:{expected}" in failure.message
    assert f"sha256:{hashlib.sha256(evil).hexdigest()}" in failure.message
    assert wheels_in(dest) == [BETA]  # nothing written for alpha, no temp file left behind
    assert f"wheels/{ALPHA}" not in (dest / "SHA256SUMS").read_text()
    assert report.wheels == (f"wheels/{BETA}",)


def test_a_body_longer_than_the_lock_says_is_cut_short_and_refused(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = node_lock(tmp_path / "plugins", files, file_server)
    size = (files / ALPHA).stat().st_size
    longer = (files / ALPHA).read_bytes() + b"\0" * (4 << 20)
    file_server.overrides[f"/{ALPHA}"] = lambda handler: reply(handler, 200, longer)
    dest = tmp_path / "mirror"

    report = sync(repo_server.url, dest, lock)

    (failure,) = report.failures
    assert (
        f"{file_server.url}{ALPHA} is larger than the {size} bytes {lock} locks" in failure.message
    )
    assert wheels_in(dest) == [BETA]


def test_a_wheel_no_lock_names_any_more_is_stale_until_pruned(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = node_lock(tmp_path / "plugins", files, file_server)
    dest = tmp_path / "mirror"
    sync(repo_server.url, dest, lock)
    # no url or path: DEST's verified copy is all it needs
    only_beta = write_lock(
        tmp_path / "other", LockedPackage("pm-beta", "1.0.0", wheels=(locked(files / BETA),))
    )

    kept = sync(repo_server.url, dest, only_beta)
    assert kept.ok and kept.wheels == (f"wheels/{BETA}",) and kept.stale == (f"wheels/{ALPHA}",)
    assert wheels_in(dest) == [ALPHA, BETA]  # without --prune nothing is deleted

    pruned = sync_mirror(
        repo_server.url,
        dest,
        retries=0,
        prune=True,
        with_deps=True,
        wheel_options=WheelOptions(pylocks=(only_beta,)),
    )
    assert pruned.ok and pruned.deleted == (f"wheels/{ALPHA}",)
    assert wheels_in(dest) == [BETA] and f"wheels/{ALPHA}" not in (dest / "SHA256SUMS").read_text()


def test_a_tampered_copy_in_dest_is_replaced_by_a_verified_one(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = node_lock(tmp_path / "plugins", files, file_server)
    dest = tmp_path / "mirror"
    sync(repo_server.url, dest, lock)
    (dest / "wheels" / ALPHA).write_bytes(b"tampered")
    assert verify_mirror(dest).tampered == (f"wheels/{ALPHA}",)

    report = sync(repo_server.url, dest, lock)

    assert report.ok and report.updated == (f"wheels/{ALPHA}",)
    assert (dest / "wheels" / ALPHA).read_bytes() == (files / ALPHA).read_bytes()
    assert verify_mirror(dest).ok
    assert wheels_in(dest) == [ALPHA, BETA]


def test_find_links_come_first_and_no_index_skips_the_locks_urls(
    repo_server: RepoServer, file_server: RepoServer, files: Path, built: Path, tmp_path: Path
) -> None:
    lock = node_lock(tmp_path / "plugins", files, file_server)

    offline = sync(repo_server.url, tmp_path / "a", lock, find_links=(str(built),), no_index=True)
    assert offline.ok and offline.wheels == LOCKED
    assert file_server.requests == []

    nowhere = sync(repo_server.url, tmp_path / "b", lock, no_index=True)
    (failure,) = nowhere.failures
    assert failure.path == f"wheels/{ALPHA}" and "pm-alpha 1.0.0" in failure.message
    assert f"{file_server.url}{ALPHA} was not tried (--no-index)" in failure.message
    assert file_server.requests == [] and wheels_in(tmp_path / "b") == [BETA]


def _native_lock(plugin_dir: Path, files: Path, *, sdist: bool = False) -> Path:
    native = LockedPackage(
        "pm-native",
        "1.0.0",
        wheels=(locked(files / NATIVE, relative=f"../../files/{NATIVE}"),),
        sdist=locked(files / NATIVE_SDIST, relative=f"../../files/{NATIVE_SDIST}")
        if sdist
        else None,
    )
    extras = LockedPackage(
        "pm-extras",
        "1.0.0",
        marker='sys_platform == "win32"',
        wheels=(locked(files / EXTRAS, relative=f"../../files/{EXTRAS}"),),
    )
    beta = LockedPackage(
        "pm-beta", "1.0.0", wheels=(locked(files / BETA, relative=f"../../files/{BETA}"),)
    )
    return write_lock(plugin_dir, native, extras, beta)


def test_another_target_gets_its_own_wheels_and_markers(
    repo_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = _native_lock(tmp_path / "node" / "plugins", files)
    dest = tmp_path / "mirror"

    report = sync(repo_server.url, dest, lock, python_version="3.12", platform="win_amd64")

    assert report.ok, report.failures
    assert wheels_in(dest) == sorted([BETA, EXTRAS, NATIVE])  # the win32 marker holds there


@pytest.mark.parametrize(
    ("options", "target"),
    [
        ({}, "this interpreter (Python"),
        ({"python_version": "3.12", "platform": "manylinux2014_x86_64"}, "Python 3.12 on many"),
        ({"python_version": "3.11", "platform": "win_amd64"}, "Python 3.11 on win_amd64"),
    ],
)
def test_a_target_without_a_compatible_wheel_fails_naming_the_package(
    options: dict[str, str], target: str, repo_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = _native_lock(tmp_path / "node" / "plugins", files)
    dest = tmp_path / "mirror"

    report = sync(repo_server.url, dest, lock, **options)

    assert not report.ok
    (failure,) = report.failures
    assert failure.path == "wheels"
    assert f"pm-native 1.0.0 in {lock} (resolved for Python 3.11 on linux)" in failure.message
    assert f"has no wheel for {target}" in failure.message and NATIVE in failure.message
    assert "--python-version" in failure.message and "pluginmgr deps lock" in failure.message
    assert NATIVE not in wheels_in(dest) and BETA in wheels_in(dest)


def test_the_sdist_is_taken_when_no_wheel_fits(
    repo_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    lock = _native_lock(tmp_path / "node" / "plugins", files, sdist=True)
    dest = tmp_path / "mirror"

    report = sync(
        repo_server.url, dest, lock, python_version="3.12", platform="manylinux_2_28_x86_64"
    )

    assert report.ok, report.failures
    assert wheels_in(dest) == sorted([BETA, NATIVE_SDIST])
    assert f"wheels/{NATIVE_SDIST}" in (dest / "SHA256SUMS").read_text()


def test_cli_with_a_lock_uv_wrote(
    repo_server: RepoServer,
    built: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    requirements = tmp_path / "requirements.in"
    requirements.write_text("pm-alpha\n")
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    command = [uv.find_uv_bin(), "pip", "compile", str(requirements), "--format", "pylock.toml"]
    command += ["--generate-hashes", "--no-index", "--find-links", str(built), "--offline"]
    command += ["--python", sys.executable, "-o", str(plugin_dir / "pylock.toml"), "--quiet"]
    subprocess.run(command, check=True, timeout=120)
    dest = tmp_path / "mirror"

    result = run_cli(
        capsys, "mirror", "sync", repo_server.url, str(dest), "--retries", "0",
        "--with-deps", "--pylock", str(plugin_dir / "pylock.toml"),
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "wheels  2 in" in result.out and "warning" not in result.err
    assert wheels_in(dest) == [ALPHA, BETA]
    verified = run_cli(capsys, "mirror", "verify", str(dest))
    assert verified.code == 0, verified.err


@pytest.mark.parametrize("problem", ["missing", "no lock in the dir", "not toml", "not a pylock"])
def test_a_bad_pylock_is_a_one_line_error_before_anything_is_downloaded(
    problem: str, repo_server: RepoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = tmp_path / "plugins"
    if problem == "missing":
        given = tmp_path / "nope" / "pylock.toml"
    elif problem == "no lock in the dir":
        given.mkdir()
    else:
        given.mkdir()
        given = given / "pylock.toml"
        given.write_text("lock-version = [" if problem == "not toml" else 'name = "x"\n')
    dest = tmp_path / "mirror"

    result = run_cli(
        capsys, "mirror", "sync", repo_server.url, str(dest), "--with-deps", "--pylock", str(given)
    )

    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith(f"error: --pylock {given}: ")
    assert "pluginmgr deps lock" in result.err
    assert repo_server.requests == [] and not dest.exists()


def test_a_bad_python_version_with_a_pylock_is_refused_before_anything_is_downloaded(
    repo_server: RepoServer, files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = _native_lock(tmp_path / "plugins", files)
    dest = tmp_path / "mirror"
    args = ["mirror", "sync", repo_server.url, str(dest), "--with-deps", "--pylock", str(lock)]

    result = run_cli(capsys, *args, "--python-version", "three")

    assert result.code == 1 and "--python-version 'three' is not a Python version" in result.err
    assert repo_server.requests == [] and not dest.exists()


def test_an_undecidable_marker_keeps_the_package(
    repo_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    beta = locked(files / BETA, relative=f"../files/{BETA}")
    lock = write_lock(
        tmp_path / "plugins",
        LockedPackage("pm-beta", "1.0.0", marker='"dev" in dependency_groups', wheels=(beta,)),
    )
    report = sync(repo_server.url, tmp_path / "mirror", lock)
    assert report.ok and report.wheels == (f"wheels/{BETA}",)


def test_cli_without_pylock_warns_that_pip_resolves_today(
    repo_server: RepoServer, wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["mirror", "sync", repo_server.url, str(tmp_path / "mirror"), "--retries", "0"]
    result = run_cli(capsys, *args, "--with-deps", "--no-index", "--find-links", str(wheelhouse))

    assert result.code == 0, result.err
    (warning,) = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert "whatever pip resolves today" in warning
    assert "--pylock PLUGIN_DIR/pylock.toml" in warning

    misuse = run_cli(capsys, *args, "--pylock", str(tmp_path))
    assert misuse.code == 2 and "need --with-deps" in misuse.err


def test_several_locks_give_their_union_and_disagreeing_hashes_fail(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    first = node_lock(tmp_path / "a" / "plugins", files, file_server)
    gamma = LockedPackage(
        "pm-gamma", "0.1.0", wheels=(locked(files / GAMMA, url=file_server.url + GAMMA),)
    )
    second = write_lock(tmp_path / "b", gamma)

    union = sync(repo_server.url, tmp_path / "union", first, second)
    assert union.ok and union.wheels == (*LOCKED, f"wheels/{GAMMA}")

    other = dataclasses.replace(
        locked(files / ALPHA, url=file_server.url + ALPHA), hashes={"sha256": "0" * 64}
    )
    third = write_lock(tmp_path / "c", LockedPackage("pm-alpha", "1.0.0", wheels=(other,)))
    report = sync(repo_server.url, tmp_path / "conflict", first, third)
    (failure,) = report.failures
    assert failure.path == f"wheels/{ALPHA}"
    assert str(first) in failure.message and str(third) in failure.message
    assert wheels_in(tmp_path / "conflict") == [BETA]


def test_a_package_an_older_lock_left_to_the_server_is_mirrored_like_any_other(
    repo_server: RepoServer, file_server: RepoServer, files: Path, tmp_path: Path
) -> None:
    # locks written before plugins ran in a host of their own marked the server's packages
    # provided-by = "runtime" and left them out of venvs and mirrors; the venv needs them now
    plugin_dir = tmp_path / "node" / "plugins"
    write_lock(
        plugin_dir,
        LockedPackage(
            "pm-gamma", "0.1.0", wheels=(locked(files / GAMMA, url=file_server.url + GAMMA),)
        ),
    )
    lock = plugin_dir / "pylock.toml"
    text = lock.read_text()
    marked = text.replace("required-by = []", 'required-by = []\nprovided-by = "runtime"')
    assert marked != text
    lock.write_text(marked)
    report = sync(repo_server.url, tmp_path / "mirror", plugin_dir)
    assert report.ok, report.failures
    assert wheels_in(tmp_path / "mirror") == [GAMMA]
