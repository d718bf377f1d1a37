"""``mirror sync --with-deps``: plugins and their wheels, then a node that only sees the mirror."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine_runtime import DryRunner
from pluginmgr import PluginManager, Settings
from pluginmgr.cli.mirror import mirror
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.errors import InstallError
from pluginmgr.mirror.sync import WheelOptions, sync_mirror, verify_mirror
from pluginmgr.mirror.wheels import download_wheels
from pluginmgr.node.plugin_source import FetchedPluginSource
from pluginmgr.testing import RepoServer
from tests.registry_helpers import add_library_entry, publish_registry

GREETER = "gh:examples/greeter/greeter.py"
GREETER_PATH = "examples/greeter/greeter.py"
WHEELS = ("wheels/pm_alpha-1.0.0-py3-none-any.whl", "wheels/pm_beta-1.0.0-py3-none-any.whl")

pytestmark = pytest.mark.usefixtures("uv_sandbox")  # pip gets no user config either


@pytest.fixture
def server(repo_root: Path, repo_server: RepoServer) -> RepoServer:
    """The fixture repository with the greeter (PEP 723: pm-alpha>=1.0) in its library."""
    add_library_entry(repo_root, "greeter", GREETER_PATH)
    return repo_server


def offline(wheelhouse: Path) -> WheelOptions:
    return WheelOptions(find_links=(str(wheelhouse),), no_index=True)


def test_air_gapped_node_installs_and_runs_a_plugin_from_the_mirror(
    server: RepoServer,
    tmp_path: Path,
    plugin_dir: Path,
    wheelhouse: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dest = tmp_path / "mirror"
    report = sync_mirror(
        server.url, dest, retries=0, with_deps=True, wheel_options=offline(wheelhouse)
    )
    assert report.ok, report.failures
    assert report.wheels == WHEELS and set(WHEELS) <= set(report.new)
    settings = make_settings(plugin_repo=dest.as_uri() + "/")
    server.stop()  # the air gap: only the mirror is reachable from here on

    monkeypatch.setattr(sys, "path", list(sys.path))  # the venv is activated in this process
    with PluginManager(settings) as manager:
        assert manager.fetch(GREETER).path.is_file()
        env = PluginEnv(default_venv_path(plugin_dir))
        options = InstallOptions(find_links=(str(dest / "wheels"),), no_index=True, offline=True)
        installed = env.install(["pm-alpha>=1.0"], options=options)
        assert "pm-alpha" in installed.changed
        try:
            runner = DryRunner(site_packages=env.site_packages)
            result = runner.request(FetchedPluginSource(manager, GREETER), "db")
        finally:
            for name in ("pm_alpha", "pm_beta"):
                sys.modules.pop(name, None)
    assert result["status"] == 200, result
    assert json.loads(result["body"]) == {"greeting": "alpha+beta-1.0"}


def test_wheels_are_listed_in_the_records_and_verified(
    server: RepoServer, tmp_path: Path, wheelhouse: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(server.url, dest, retries=0, with_deps=True, wheel_options=offline(wheelhouse))
    sums = (dest / "SHA256SUMS").read_text()
    files = json.loads((dest / "mirror.json").read_text())["files"]
    for wheel in WHEELS:
        assert f"  {wheel}\n" in sums and wheel in files
    result = verify_mirror(dest)
    assert result.ok and set(WHEELS) <= set(result.checked)

    (dest / WHEELS[0]).write_bytes(b"not a wheel")
    (dest / WHEELS[1]).unlink()
    result = verify_mirror(dest)
    assert result.tampered == (WHEELS[0],) and result.missing == (WHEELS[1],)
    cli = CliRunner().invoke(mirror, ["verify", str(dest)])
    assert cli.exit_code == 1 and f"tampered  {WHEELS[0]}" in cli.output


def test_resync_reuses_the_wheels_already_in_dest(
    server: RepoServer, tmp_path: Path, wheelhouse: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(server.url, dest, retries=0, with_deps=True, wheel_options=offline(wheelhouse))
    before = {w: (dest / w).stat().st_mtime_ns for w in WHEELS}

    again = sync_mirror(
        server.url, dest, retries=0, with_deps=True, wheel_options=offline(wheelhouse)
    )

    assert again.ok and not again.new and not again.updated
    assert set(WHEELS) <= set(again.unchanged)
    assert {w: (dest / w).stat().st_mtime_ns for w in WHEELS} == before


def test_unresolvable_requirements_are_a_failure_not_an_exception(
    server: RepoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    report = sync_mirror(
        server.url, dest, retries=0, with_deps=True, wheel_options=WheelOptions(no_index=True)
    )
    assert not report.ok and report.wheels == ()
    (failure,) = report.failures
    assert failure.path == "wheels" and "pm-alpha" in failure.message
    assert (dest / GREETER_PATH).is_file()  # the plugins themselves were still mirrored


def test_download_wheels_resolves_dependencies_for_another_interpreter(
    tmp_path: Path, wheelhouse: Path
) -> None:
    dest = tmp_path / "wheels"
    assert download_wheels([], dest).wheels == ()
    report = download_wheels(
        ["pm-alpha>=1.0"],
        dest,
        find_links=[str(wheelhouse)],
        no_index=True,
        python_version="3.12",
        platform="manylinux2014_x86_64",
    )
    assert [f"wheels/{w}" for w in report.wheels] == list(WHEELS)
    assert report.new == report.wheels
    with pytest.raises(InstallError, match="pm-nope"):
        download_wheels(["pm-nope"], dest, find_links=[str(wheelhouse)], no_index=True)


def test_cli_sync_with_deps(server: RepoServer, tmp_path: Path, wheelhouse: Path) -> None:
    dest = tmp_path / "mirror"
    args = ["sync", server.url, str(dest), "--retries", "0", "--with-deps"]
    args += ["--no-index", "--find-links", str(wheelhouse)]
    result = CliRunner().invoke(mirror, args)
    assert result.exit_code == 0, result.output
    assert "wheels  2 in" in result.output
    assert all((dest / w).is_file() for w in WHEELS)

    misuse = CliRunner().invoke(mirror, ["sync", server.url, str(dest), "--no-index"])
    assert misuse.exit_code == 2 and "need --with-deps" in misuse.output


def _manifest(root: Path, version: str, python: str) -> None:
    folder = root / f"greeter-{version}"
    folder.mkdir(parents=True)
    (folder / "greeter.py").write_text("def process_request(*args, **kwargs):\n    return {}\n")
    (folder / "manifest.toml").write_text(
        'manifest_schema_version = "1.2"\n\n[plugin]\nname = "greeter"\n'
        f'version = "{version}"\ndescription = "greets"\ntriggers = ["process_request"]\n\n'
        f"[dependencies]\npython = [{python}]\n"
    )


def test_registry_source_with_deps_takes_the_newest_versions_requirements(
    repo_root: Path, repo_server: RepoServer, tmp_path: Path, wheelhouse: Path
) -> None:
    registry = repo_root / "registry"
    _manifest(tmp_path / "src", "1.0.0", '"pm-alpha<1.0"')  # no such wheel: must not be asked
    _manifest(tmp_path / "src", "2.0.0", '"pm-alpha>=1.0"')
    publish_registry(tmp_path / "src", registry, artifacts_url="artifacts")
    dest = tmp_path / "mirror"

    report = sync_mirror(
        repo_server.url + "registry/index.json",
        dest,
        retries=0,
        with_deps=True,
        wheel_options=offline(wheelhouse),
    )

    assert report.ok, report.failures
    assert report.wheels == WHEELS
    assert {"artifacts/greeter-1.0.0.tar.gz", "artifacts/greeter-2.0.0.tar.gz"} <= set(report.new)
    assert verify_mirror(dest).ok
