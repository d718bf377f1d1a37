"""The one test that reaches the internet: a small real package from the package index this
machine is configured with (uv's default, PyPI; ``UV_DEFAULT_INDEX`` or ``UV_INDEX_URL`` when
set), through install, lock, sync, ``deps why`` and a no-op re-install.

The index is probed first (a few seconds at most). Unreachable, the test is skipped with the
reason, unless ``PLUGINMGR_REQUIRE_LIVE_INDEX=1`` (set by ``.ci/run``): then the probe and the
install are tried up to three times, a pause apart, and the test fails with the index's error.
Run it alone with ``pytest -m live``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import httpx
import pytest

from pluginmgr.deps.venv import PluginEnv, default_venv_path
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.live

REQUIRE_ENV: Final = "PLUGINMGR_REQUIRE_LIVE_INDEX"
PYPI: Final = "https://pypi.org/simple/"
PACKAGE: Final = "humanize"
ATTEMPTS: Final = 3
PAUSE: Final = 10.0  # seconds between attempts
PROBE_TIMEOUT: Final = 5.0
#: what the autouse fixtures scrub and this test needs back: proxies, uv's and pip's settings
_KEPT_PREFIXES: Final = ("UV_", "PIP_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """How this machine reaches its package index, read before any fixture scrubs the env."""

    index_url: str
    required: bool
    environ: Mapping[str, str]


@pytest.fixture(scope="session")
def live_settings() -> LiveSettings:
    """Session-scoped, so it runs before the per-test fixtures that clean the environment."""
    environ = dict(os.environ)
    index = environ.get("UV_DEFAULT_INDEX") or environ.get("UV_INDEX_URL") or PYPI
    return LiveSettings(index.rstrip("/") + "/", environ.get(REQUIRE_ENV) == "1", environ)


def _probe(index_url: str) -> str | None:
    """None when the index answers for `PACKAGE`, else what went wrong."""
    try:
        answer = httpx.get(
            index_url + PACKAGE + "/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.01"},
            timeout=PROBE_TIMEOUT,
            follow_redirects=True,
            trust_env=True,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.status_code != 200:
        return f"HTTP {answer.status_code} for {answer.url}"
    return None


@pytest.fixture
def live_index(
    live_settings: LiveSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """The configured index, reachable, with this machine's proxies and uv settings back in
    the environment and a private uv cache (a real download)."""
    for name, value in live_settings.environ.items():
        if name.upper().startswith(_KEPT_PREFIXES):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    attempts = ATTEMPTS if live_settings.required else 1
    error = None
    for attempt in range(attempts):
        error = _probe(live_settings.index_url)
        if error is None:
            yield live_settings.index_url
            return
        if attempt + 1 < attempts:
            time.sleep(PAUSE)
    if live_settings.required:
        pytest.fail(
            f"{REQUIRE_ENV}=1 and the package index {live_settings.index_url} did not answer "
            f"after {attempts} attempts: {error}"
        )
    pytest.skip(f"the package index {live_settings.index_url} is unreachable: {error}")


def _install(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, settings: LiveSettings
) -> CliResult:
    """``install package PACKAGE``, retried as `live_index` probes when the index is required."""
    attempts = ATTEMPTS if settings.required else 1
    for attempt in range(attempts):
        result = run_cli(capsys, "install", "package", PACKAGE, "--plugin-dir", str(plugin_dir))
        if result.code == 0 or attempt + 1 == attempts:
            return result
        time.sleep(PAUSE)
    raise AssertionError("unreachable")


@pytest.mark.timeout(600)  # three tries of a real index, a pause apart, when it is required
def test_a_real_package_installs_locks_syncs_and_reinstalls_as_a_no_op(
    capsys: pytest.CaptureFixture[str],
    live_index: str,
    live_settings: LiveSettings,
    tmp_path: Path,
) -> None:
    plugin_dir = tmp_path / "plugins"
    args = ["--plugin-dir", str(plugin_dir)]
    installed = _install(capsys, plugin_dir, live_settings)
    assert installed.code == 0, f"install from {live_index} failed: {installed.err}"
    version = PluginEnv(default_venv_path(plugin_dir)).installed()[PACKAGE]
    assert f"installed: {PACKAGE} {version}" in installed.out
    lock_path = plugin_dir / "pylock.toml"
    lock = lock_path.read_bytes()
    (entry,) = [p for p in tomllib.loads(lock.decode())["packages"] if p["name"] == PACKAGE]
    assert entry["version"] == version
    wheel = entry["wheels"][0]
    assert wheel["hashes"]["sha256"] and wheel["size"] > 0
    if live_index == PYPI:  # PyPI serves PEP 700 upload times; uv locks them as TOML datetimes
        assert isinstance(wheel["upload-time"], datetime)

    locked = run_cli(capsys, "deps", "lock", *args)
    assert locked.code == 0 and "(no change)" in locked.out + locked.err, locked.err
    assert lock_path.read_bytes() == lock

    shutil.rmtree(default_venv_path(plugin_dir))  # a real sync: from the index again
    synced = run_cli(capsys, "deps", "sync", *args)
    assert synced.code == 0, synced.err
    assert f"installed: {PACKAGE} {version}" in synced.out
    assert lock_path.read_bytes() == lock

    why = run_cli(capsys, "deps", "why", PACKAGE, *args)
    assert why.code == 0 and f"{PACKAGE} {version} is needed by:" in why.out, why.err
    assert "requirements.in" in why.out

    again = run_cli(capsys, "install", "package", PACKAGE, *args, "--format", "json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["ran_installer"] is False
    assert lock_path.read_bytes() == lock
