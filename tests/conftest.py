"""Shared fixtures: a clean environment, a real loopback plugin repository, settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings as hypothesis_settings

from pluginmgr import PluginManager, Settings
from pluginmgr.testing import RepoServer

if TYPE_CHECKING:
    from tests.pypi_index import PackageIndex

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WAL_PATH = "examples/wal_plugin/wal_plugin.py"
NOTIFIER_PATH = "influxdata/notifier/notifier_plugin.py"
WAL_PLUGIN = f"gh:{WAL_PATH}"
NOTIFIER = f"gh:{NOTIFIER_PATH}"

# Property tests draw the same examples on every run, so CI cannot fail on a new random draw
# (and spend minutes shrinking it); `HYPOTHESIS_PROFILE=explore` draws fresh ones locally.
hypothesis_settings.register_profile("default", derandomize=True, deadline=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: the package index of every `uv_sandbox` test that names none: nothing listens on port 9
NO_INDEX = "http://127.0.0.1:9/tests-use-no-index-or-their-own-index/"
_SCRUBBED_PREFIXES = ("INFLUXDB3_", "PLUGINMGR_", "GIT_", "AWS_")
_SCRUBBED = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy")


@pytest.fixture(autouse=True)
def restore_sys_path() -> Iterator[None]:
    """An in-process engine appends its venv's site-packages to sys.path: without this, a later
    test would import what an earlier test's venv holds."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's plugin settings, proxies or cache."""
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) or name in _SCRUBBED:
            monkeypatch.delenv(name)
    # what a plugin run sets for its process (the engine's PLUGIN_DIR, a dry run's VIRTUAL_ENV):
    # set-then-delete records the original state, so teardown undoes what a test's run set too
    for name in ("VIRTUAL_ENV", "PLUGIN_DIR"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    """A private, writable copy of `fixtures/repo`."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repo", root)
    return root


@pytest.fixture
def repo_server(repo_root: Path) -> Iterator[RepoServer]:
    """A real HTTP server on 127.0.0.1 serving `repo_root`."""
    with RepoServer(repo_root) as server:
        yield server


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "plugins"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(
    tmp_path: Path, plugin_dir: Path, repo_server: RepoServer
) -> Callable[..., Settings]:
    """Settings against the loopback repository, with fast timeouts and no retries."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "plugin_dir": plugin_dir,
            "plugin_repo": repo_server.url,
            "cache_dir": tmp_path / "cache",
            "lock_path": plugin_dir / "plugins.lock",
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            "retries": 0,
            "retry_backoff": 0.01,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def manager(make_settings: Callable[..., Settings]) -> Iterator[PluginManager]:
    with PluginManager(make_settings()) as mgr:
        yield mgr


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of every project in `fixtures/packages`, built once (read-only for tests)."""
    from tests.wheels import build_wheelhouse

    names = ("pm_alpha", "pm_beta", "pm_gamma")
    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"), names)


@pytest.fixture(scope="session")
def dep_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of `tests.dep_wheels.PROJECTS`, built once (read-only for tests)."""
    from tests.dep_wheels import build_dep_wheels

    projects = tmp_path_factory.mktemp("dep-projects")
    return build_dep_wheels(projects, tmp_path_factory.mktemp("dep-wheels"))


@pytest.fixture
def buildable_wheels(dep_wheels: Path, tmp_path: Path) -> Path:
    """A copy of the dependency wheels with the pm-backend wheel and the sdist-only pm-source,
    which only an install allowed to build (``--allow-build``) can take."""
    from tests.wheels import FIXTURE_PACKAGES, build_sdist, build_wheel

    folder = Path(shutil.copytree(dep_wheels, tmp_path / "wheels"))
    build_wheel(FIXTURE_PACKAGES / "pm_backend", folder)
    build_sdist(FIXTURE_PACKAGES / "pm_source", folder)
    return folder


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels and sdists the package index serves (`tests.pypi_index.index_files`), built
    once; read-only: a test that publishes or tampers copies it first."""
    from tests.pypi_index import index_files

    return index_files(tmp_path_factory.mktemp("index-files"))


@pytest.fixture(scope="session")
def package_index(index_dir: Path) -> Iterator[PackageIndex]:
    """A PyPI-like index on 127.0.0.1 over `index_dir` (`tests.pypi_index.PackageIndex`):
    JSON and HTML pages, upload times, metadata files; pm-gamma 0.2.0 is yanked and 0.3.0
    needs Python >= 3.99. Shared by the session: a test that counts requests slices
    ``requests`` from its own start, or starts its own `PackageIndex`."""
    from tests.pypi_index import FIXTURE_YANKED, PackageIndex

    with PackageIndex(index_dir, yanked=FIXTURE_YANKED) as index:
        yield index


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the session: concurrent-safe, and never the developer's own."""
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def uv_sandbox(monkeypatch: pytest.MonkeyPatch, uv_cache: Path) -> None:
    """uv (run by the code under test) uses a private cache, no user config, no downloads.

    Its default index (and pip's) is a closed loopback port: a uv or pip run that names neither
    ``--no-index``/``--offline`` nor the test's own ``--index-url`` fails at once with
    "connection refused" instead of reaching PyPI."""
    for name in list(os.environ):
        if name.startswith(("UV_", "PIP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_INDEX_URL", NO_INDEX)
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("PIP_INDEX_URL", NO_INDEX)
    monkeypatch.setenv("PIP_RETRIES", "0")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs, for a full disk (needs root: the test is skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class UvCalls:
    """The uv commands run since the `uv_calls` fixture started: ``pip compile``, ``pip sync``."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def commands(self) -> list[str]:
        if not self.log.exists():
            return []
        return [" ".join(line.split()[:2]) for line in self.log.read_text().splitlines()]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


@pytest.fixture
def uv_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvCalls:
    """Every uv process the code under test starts goes through a wrapper that logs it (the
    code finds uv through the uv package's ``find_uv_bin``)."""
    import uv

    real = uv.find_uv_bin()
    log = tmp_path / "uv-calls.log"
    wrapper = tmp_path / "uv-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(uv, "find_uv_bin", lambda: str(wrapper))
    return UvCalls(log)
