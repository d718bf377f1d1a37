"""``install package`` and ``install deps`` end to end: real uv, the test wheelhouse, offline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pluginmgr.deps.venv import PluginEnv
from pluginmgr.errors import INSTALL_DISABLED_MESSAGE
from pluginmgr.testing import RepoServer
from tests.helpers import CliResult, installed, run_cli
from tests.pypi_index import PackageIndex

pytestmark = pytest.mark.usefixtures("uv_sandbox")

PEP723_PLUGIN = """\
# /// script
# dependencies = ["pm-alpha>=1"]
# ///

def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""
BARE_PLUGIN = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


@pytest.fixture
def offline_args(wheelhouse: Path, plugin_dir: Path) -> list[str]:
    return [
        "--plugin-dir",
        str(plugin_dir),
        "--offline",
        "--no-index",
        "--find-links",
        str(wheelhouse),
    ]


def install(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    return run_cli(capsys, "install", *args)


# -- install package -----------------------------------------------------------------------------


def test_install_package_then_again_is_a_no_op(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    first = install(capsys, "package", "pm-alpha", *offline_args)
    assert first.code == 0, first.err
    assert first.out.splitlines() == ["installed: pm-alpha 1.0.0", "installed: pm-beta 1.0.0"]
    assert f"created {plugin_dir / 'venv'}" in first.err

    assert (plugin_dir / "requirements.in").read_text().splitlines()[1:] == ["pm-alpha"]
    again = install(capsys, "package", "pm-alpha", "pm-beta>=1", *offline_args)
    assert again.code == 0, again.err
    assert again.out.splitlines() == [
        "nothing to install: the venv already matches pylock.toml",
    ]
    assert "(no version changes)" in again.err  # requirements.in changed
    assert (plugin_dir / "requirements.in").read_text().splitlines()[1:] == [
        "pm-alpha",
        "pm-beta>=1",
    ]
    third = install(capsys, "package", "pm-alpha", "pm-beta>=1", *offline_args)
    assert third.code == 0, third.err
    assert "kept" in third.err and "(no change)" in third.err


def test_install_package_json(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    result = install(capsys, "package", "pm-gamma", "--format", "json", *offline_args)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["format_version"] == 1
    assert data["lock"] == str(plugin_dir / "pylock.toml")
    assert data["requested"] == ["pm-gamma"]
    assert data["installed"] == {"pm-gamma": "0.1.0"} and data["ran_installer"] is True
    assert data["changes"] == [{"name": "pm-gamma", "old": None, "new": "0.1.0"}]
    assert data["packages"][0]["required_by"] == ["requirements.in"]


def test_install_from_a_requirements_file(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pm-gamma==0.1.0  # pinned\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("pm-beta\n")
    result = install(capsys, "package", "-r", str(requirements), *offline_args)
    assert result.code == 0, result.err
    assert installed(plugin_dir) == {"pm-gamma": "0.1.0", "pm-beta": "1.0.0"}
    again = install(capsys, "package", "-r", str(requirements), *offline_args)
    assert again.out.splitlines() == ["nothing to install: the venv already matches pylock.toml"]
    assert (plugin_dir / "requirements.in").read_text().splitlines()[1:] == [
        "pm-gamma==0.1.0",
        "pm-beta",
    ]


def test_a_missing_package_is_one_line_naming_the_sources(
    capsys: pytest.CaptureFixture[str],
    offline_args: list[str],
    plugin_dir: Path,
    wheelhouse: Path,
) -> None:
    result = install(capsys, "package", "pm-missing", *offline_args)
    assert result.code == 1
    assert result.err == (
        f"error: package 'pm-missing' was not found in the find-links folders {wheelhouse} "
        "(hint: check the spelling, or put the package's wheel in a --find-links folder)\n"
    )
    assert not (plugin_dir / "requirements.in").exists()  # a failed change is undone
    assert not (plugin_dir / "pylock.toml").exists()


def test_a_package_the_index_lacks_is_one_line_naming_the_index(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, package_index: PackageIndex
) -> None:
    url = package_index.url
    args = ["--plugin-dir", str(plugin_dir), "--index-url", url]
    result = install(capsys, "package", "pm-alpha", "pandass", *args)
    assert result.code == 1
    assert result.err == (
        f"error: package 'pandass' was not found on {url} (hint: check the spelling; a private "
        "package needs --index-url URL or --find-links DIR)\n"
    )
    assert not (plugin_dir / "requirements.in").exists()


def test_a_failed_install_keeps_its_log_in_the_cache_dir_not_the_plugin_dir(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path, tmp_path: Path
) -> None:
    gone = "pm-alpha @ file:///nonexistent/pm_alpha-1.0.0-py3-none-any.whl"
    result = install(capsys, "package", gone, *offline_args)
    assert result.code == 1
    logs = list((tmp_path / "xdg-cache" / "pluginmgr" / "logs").glob("pluginmgr-install-*.log"))
    assert len(logs) == 1
    assert result.err.endswith(f"(hint: full output in {logs[0]})\n")
    assert "Distribution not found" in logs[0].read_text()
    assert not list(plugin_dir.rglob("pluginmgr-install-*.log"))


def test_an_unsatisfiable_version_exits_1(
    capsys: pytest.CaptureFixture[str], offline_args: list[str]
) -> None:
    result = install(capsys, "package", "pm-alpha", "pm-beta>=3", *offline_args)
    assert result.code == 1
    assert "you require pm-beta>=3" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name at least one package or pass -r FILE"),
        (("pm-gamma", "--no-such-flag"), "No such option '--no-such-flag'"),
        (("-r", "/nonexistent/requirements.txt"), "does not exist"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, args: tuple[str, ...], message: str
) -> None:
    result = install(capsys, "package", *args, "--plugin-dir", str(plugin_dir))
    assert result.code == 2
    assert message in result.err
    assert not (plugin_dir / "venv").exists()


def test_an_invalid_requirement_exits_1_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    result = install(capsys, "package", "pm gamma!!", *offline_args)
    assert result.code == 1
    assert "error: invalid requirement 'pm gamma!!'" in result.err
    assert not (plugin_dir / "venv").exists()


def test_no_plugin_dir_and_no_local_server_is_one_line_saying_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli.live import dead_url

    url = dead_url()
    monkeypatch.setattr("pluginmgr.cli.client.DEFAULT_HOST", url)
    result = install(capsys, "package", "pm-gamma")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"error: no pluginmgr server answers at {url} (")
    assert result.err.endswith(
        "and no --plugin-dir was given (hint: start `pluginmgr serve`, pass -H URL for another "
        "server, or pass --plugin-dir DIR to install locally)\n"
    )
    assert result.err.count("\n") == 1


def test_disabled_refuses_by_flag_and_by_env(
    capsys: pytest.CaptureFixture[str],
    offline_args: list[str],
    plugin_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_flag = install(capsys, "package", "pm-gamma", "--package-manager", "disabled", *offline_args)
    monkeypatch.setenv("INFLUXDB3_PACKAGE_MANAGER", "disabled")
    by_env = install(capsys, "package", "pm-gamma", *offline_args)
    for result in (by_flag, by_env):
        assert result.code == 1
        assert result.err.strip() == f"error: {INSTALL_DISABLED_MESSAGE}"
    assert not (plugin_dir / "venv").exists()


def test_virtual_env_location_overrides_plugin_dir(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere" / "env"
    result = install(
        capsys, "package", "pm-gamma", "--virtual-env-location", str(elsewhere), *offline_args
    )
    assert result.code == 0, result.err
    assert PluginEnv(elsewhere).installed() == {"pm-gamma": "0.1.0"}
    assert not (plugin_dir / "venv").exists()


# -- install deps --------------------------------------------------------------------------------


def test_deps_of_a_local_plugin_follow_the_precedence(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    (plugin_dir / "declares.py").write_text(PEP723_PLUGIN)
    (plugin_dir / "requirements.txt").write_text("pm-gamma\n")
    result = install(capsys, "deps", "declares.py", *offline_args)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "declares.py: 1 requirement from pep723"
    assert "note: declares.py: requirements.txt is ignored, pep723 takes precedence" in result.err
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "1.0.0"}

    (plugin_dir / "manifest.toml").write_text('[dependencies]\npython = ["pm-gamma==0.1.0"]\n')
    result = install(capsys, "deps", "declares.py", "--format", "json", *offline_args)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["declared_in"] == "manifest.toml"
    assert data["shadowed"] == ["pep723", "requirements.txt"]
    assert data["installed"] == {"pm-gamma": "0.1.0"}
    assert sorted(data["removed"]) == ["pm-alpha", "pm-beta"]  # no plugin needs them any more


def test_deps_from_requirements_txt_alone_and_already_satisfied(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    (plugin_dir / "plain.py").write_text(BARE_PLUGIN)
    (plugin_dir / "requirements.txt").write_text("pm-beta>=1.0\n")
    first = install(capsys, "deps", "plain.py", *offline_args)
    assert first.code == 0, first.err
    assert "installed: pm-beta 1.0.0" in first.out
    second = install(capsys, "deps", "plain.py", *offline_args)
    assert "nothing to install: the venv already matches pylock.toml" in second.out


def test_deps_of_a_plugin_that_declares_none(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    (plugin_dir / "bare.py").write_text(BARE_PLUGIN)
    result = install(capsys, "deps", "bare.py", *offline_args)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "bare.py: declares no dependencies"
    assert installed(plugin_dir) == {}


def test_deps_of_a_gh_plugin_read_its_manifest_from_the_repository(
    capsys: pytest.CaptureFixture[str],
    wheelhouse: Path,
    plugin_dir: Path,
    repo_root: Path,
    repo_server: RepoServer,
    tmp_path: Path,
) -> None:
    folder = repo_root / "team" / "uses_gamma"
    folder.mkdir(parents=True)
    (folder / "uses_gamma.py").write_text(PEP723_PLUGIN)
    (folder / "manifest.toml").write_text('[dependencies]\npython = ["pm-gamma"]\n')
    result = install(
        capsys,
        "deps",
        "gh:team/uses_gamma/uses_gamma.py",
        "--plugin-repo",
        repo_server.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--plugin-dir",
        str(plugin_dir),
        "--no-index",
        "--find-links",
        str(wheelhouse),
    )
    assert result.code == 0, result.err
    assert "installed: pm-gamma 0.1.0" in result.out
    assert installed(plugin_dir) == {"pm-gamma": "0.1.0"}


def test_a_bad_declaration_names_the_file(
    capsys: pytest.CaptureFixture[str], offline_args: list[str], plugin_dir: Path
) -> None:
    (plugin_dir / "broken.py").write_text(BARE_PLUGIN)
    (plugin_dir / "manifest.toml").write_text("[dependencies]\npython = 'pm-gamma'\n")
    result = install(capsys, "deps", "broken.py", *offline_args)
    assert result.code == 1
    assert "manifest.toml" in result.err
    assert not (plugin_dir / "venv").exists()


# -- through a server (-H) -----------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[str, dict[str, Any], str | None]]
    status = 200
    answer = b""  # upstream answers an empty 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, body, self.headers.get("Authorization")))
        reply = self.answer if self.status == 200 else b"pip failed: no matching distribution"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def install_server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"calls": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_host_sends_upstreams_install_requests(
    capsys: pytest.CaptureFixture[str],
    install_server: tuple[str, type[_Recorder]],
    tmp_path: Path,
) -> None:
    url, handler = install_server
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pm-gamma\n")
    result = install(
        capsys, "package", "pm-alpha", "pm-beta", "-r", str(requirements), "-H", url,
        "--token", "apiv3_secret",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"installed 2 packages on the server at {url}",
        f"installed the requirements of {requirements} on the server at {url}",
    ]
    assert result.err == ""
    base = "/api/v3/configure/plugin_environment/"
    assert handler.calls == [
        (base + "install_packages", {"packages": ["pm-alpha", "pm-beta"]}, "Bearer apiv3_secret"),
        (
            base + "install_requirements",
            {"requirements_location": str(requirements)},
            "Bearer apiv3_secret",
        ),
    ]


def test_host_errors_are_reported(
    capsys: pytest.CaptureFixture[str], install_server: tuple[str, type[_Recorder]]
) -> None:
    url, handler = install_server
    handler.status = 500
    result = install(capsys, "package", "pm-missing", "-H", url)
    assert result.code == 1
    assert result.err.strip() == (
        "error: server responded with error [500 Internal Server Error]: "
        "pip failed: no matching distribution"
    )


def test_host_prints_what_the_server_installed(
    capsys: pytest.CaptureFixture[str], install_server: tuple[str, type[_Recorder]]
) -> None:
    url, handler = install_server
    changed = {"pm-alpha": "1.0.0", "pm-beta": "1.0.0"}
    answer = {"requested": ["pm-alpha"], "changed": changed, "removed": ["pm-old"]}
    handler.answer = json.dumps({**answer, "ran_installer": True}).encode()
    result = install(capsys, "package", "pm-alpha", "-H", url)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "installed: pm-alpha 1.0.0",
        "installed: pm-beta 1.0.0",
        "removed: pm-old",
    ]
    as_json = install(capsys, "package", "pm-alpha", "-H", url, "--format", "json")
    assert json.loads(as_json.out) == {
        "format_version": 1,
        "server": url,
        "requested": ["pm-alpha"],
        "requirements_files": [],
        "changed": changed,
        "removed": ["pm-old"],
    }
    handler.answer = json.dumps({"requested": ["pm-alpha"], "changed": {}, "removed": []}).encode()
    again = install(capsys, "package", "pm-alpha", "-H", url)
    assert again.out == (
        f"nothing to install on the server at {url}: every requirement is already satisfied\n"
    )


def test_host_from_the_environment_is_announced(
    capsys: pytest.CaptureFixture[str],
    install_server: tuple[str, type[_Recorder]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, handler = install_server
    monkeypatch.setenv("INFLUXDB3_HOST_URL", url)
    result = install(capsys, "package", "pm-alpha")
    assert result.code == 0, result.err
    assert result.err == f"note: using the server at {url} (INFLUXDB3_HOST_URL)\n"
    assert result.out == f"installed 1 package on the server at {url}\n"
    assert len(handler.calls) == 1


def test_host_unauthorized_names_a_token_command(
    capsys: pytest.CaptureFixture[str], install_server: tuple[str, type[_Recorder]]
) -> None:
    url, handler = install_server
    handler.status = 401
    result = install(capsys, "package", "pm-alpha", "-H", url)
    assert result.code == 1
    assert f"`pluginmgr create token --admin --host {url}`" in result.err


def test_a_real_server_installs_and_says_what(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plugin_dir: Path, wheelhouse: Path
) -> None:
    from pluginmgr.deps.installers import InstallOptions
    from tests.cli.live import serving

    sources = InstallOptions(find_links=(str(wheelhouse),), no_index=True, offline=True)
    with serving(tmp_path, plugin_dir, auth=False, install_options=sources) as live:
        result = install(capsys, "package", "pm-alpha", "-H", live.url)
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["installed: pm-alpha 1.0.0", "installed: pm-beta 1.0.0"]
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "1.0.0"}


def test_an_unreachable_host_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    result = install(capsys, "package", "pm-gamma", "-H", "http://127.0.0.1:9")
    assert result.code == 1
    assert result.err.startswith("error: cannot reach the server at http://127.0.0.1:9")


def test_a_local_install_loads_neither_httpx_nor_rich(plugin_dir: Path) -> None:
    """Startup is most of a no-op install: the fetcher and rich stay unloaded."""
    import subprocess
    import sys

    code = (
        "import sys; from pluginmgr.cli import main; "
        f"status = main(['install', 'package', 'pm-gamma', '--plugin-dir', {str(plugin_dir)!r}, "
        "'--package-manager', 'disabled']); "
        "heavy = ('httpx', 'rich', 'pluginmgr.fetch.manager'); "
        "print(status, sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "1 []"
