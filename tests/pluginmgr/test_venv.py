"""The plugin venv with real uv (and pip) installs from a wheelhouse built from `fixtures/packages`.

Every install here is offline: ``--offline --no-index --find-links <wheelhouse>``.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pluginmgr.deps.installers import InstallOptions, UvInstaller, find_uv, get_installer
from pluginmgr.deps.installers.base import Command, InstallRequest
from pluginmgr.deps.venv import PluginEnv, bundled_python, default_venv_path
from pluginmgr.deps.venv_record import RECORD_NAME
from pluginmgr.deps.venv_repair import venv_problem, venv_rebuild_command
from pluginmgr.errors import (
    INSTALL_DISABLED_MESSAGE,
    InstallDisabledError,
    InstallError,
    PackageNotFoundError,
)

pytestmark = pytest.mark.usefixtures("uv_sandbox")


def offline(wheelhouse: Path) -> InstallOptions:
    return InstallOptions(find_links=(str(wheelhouse),), no_index=True, offline=True)


def venv_python_says(env: PluginEnv, code: str) -> str:
    done = subprocess.run(
        [str(env.venv_python), "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class CountingUv(UvInstaller):
    """The real uv installer, counting how often it is asked to install."""

    def __init__(self) -> None:
        super().__init__()
        self.installs: list[list[str]] = []

    def install_command(self, request: InstallRequest) -> Command:
        self.installs.append(list(request.requirements))
        return super().install_command(request)


@pytest.fixture
def env(plugin_dir: Path) -> PluginEnv:
    return PluginEnv(default_venv_path(plugin_dir), installer=CountingUv())


@pytest.fixture
def alpha_env(env: PluginEnv, wheelhouse: Path) -> PluginEnv:
    """A venv with pm-alpha (and so pm-beta) installed."""
    env.install(["pm-alpha"], options=offline(wheelhouse))
    return env


def counting(env: PluginEnv) -> CountingUv:
    assert isinstance(env.installer, CountingUv)
    return env.installer


# -- location and interpreter ------------------------------------------------------------------


def test_the_venv_lives_at_plugin_dir_venv(plugin_dir: Path) -> None:
    assert default_venv_path(plugin_dir) == plugin_dir / "venv"


def test_bundled_python_is_the_base_interpreter_not_a_venv_copy() -> None:
    python = bundled_python()
    assert python.is_file()
    probe = "import sys; print(sys.prefix == sys.base_prefix, sys.version_info[:2])"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"True {tuple(sys.version_info[:2])}"


def test_uv_comes_from_the_uv_package() -> None:
    path, where = find_uv()
    assert where == "the uv package"
    assert path.is_file()


# -- installs ------------------------------------------------------------------------------------


def test_install_creates_the_venv_and_packages_import(alpha_env: PluginEnv) -> None:
    assert alpha_env.state().status == "ok"
    cfg = (alpha_env.venv_path / "pyvenv.cfg").read_text()
    assert f"version_info = {sys.version_info.major}.{sys.version_info.minor}." in cfg
    assert alpha_env.installed()["pm-alpha"] == "1.0.0"
    assert alpha_env.installed()["pm-beta"] == "1.0.0"
    assert venv_python_says(alpha_env, "import pm_alpha; print(pm_alpha.greet())") == (
        "alpha+beta-1.0"
    )


def test_install_reports_what_changed_and_records_the_request(
    env: PluginEnv, wheelhouse: Path
) -> None:
    result = env.install(["pm-alpha"], options=offline(wheelhouse))
    assert result.ran_installer
    assert result.satisfied == ()
    assert dict(result.changed) == {"pm-alpha": "1.0.0", "pm-beta": "1.0.0"}
    record = json.loads((env.venv_path / RECORD_NAME).read_text())
    assert record["requirements"] == ["pm-alpha"]
    assert record["find_links"] == [str(wheelhouse)]
    assert record["no_index"] is True


def test_satisfied_requirements_are_reported_and_the_installer_never_runs(
    alpha_env: PluginEnv, wheelhouse: Path
) -> None:
    runs = len(counting(alpha_env).installs)
    result = alpha_env.install(["pm-alpha>=1", "pm-beta"], options=offline(wheelhouse))
    assert result.satisfied == ("pm-alpha>=1", "pm-beta")
    assert not result.ran_installer
    assert result.changed == {}
    assert len(counting(alpha_env).installs) == runs


def test_only_the_unsatisfied_part_changes(alpha_env: PluginEnv, wheelhouse: Path) -> None:
    result = alpha_env.install(["pm-alpha", "pm-gamma"], options=offline(wheelhouse))
    assert result.satisfied == ("pm-alpha",)
    assert dict(result.changed) == {"pm-gamma": "0.1.0"}
    assert json.loads((alpha_env.venv_path / RECORD_NAME).read_text())["requirements"] == [
        "pm-alpha",
        "pm-gamma",
    ]


def test_a_requirement_for_another_python_is_satisfied_without_installing(
    env: PluginEnv, wheelhouse: Path
) -> None:
    result = env.install(["pm-gamma; python_version < '3'"], options=offline(wheelhouse))
    assert result.satisfied == ('pm-gamma; python_version < "3"',)
    assert not result.ran_installer
    assert "pm-gamma" not in env.installed()


def test_requirement_files_go_to_the_installer(
    env: PluginEnv, wheelhouse: Path, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pm-gamma==0.1.0\n")
    result = env.install(
        [],
        requirement_files=[requirements],
        file_requirements=["pm-gamma==0.1.0"],
        options=offline(wheelhouse),
    )
    assert dict(result.changed) == {"pm-gamma": "0.1.0"}
    assert venv_python_says(env, "import pm_gamma; print(pm_gamma.VALUE)") == "gamma"


# -- failures ------------------------------------------------------------------------------------


def test_a_missing_package_fails_in_one_line_and_keeps_the_venv(
    alpha_env: PluginEnv, wheelhouse: Path, tmp_path: Path
) -> None:
    with pytest.raises(PackageNotFoundError) as caught:
        alpha_env.install(["pm-missing"], options=offline(wheelhouse))
    message = caught.value.message
    assert message == f"package 'pm-missing' was not found in the find-links folders {wheelhouse}"
    # uv's full output is kept under the cache dir (XDG_CACHE_HOME here), not the plugin dir
    log = Path(caught.value.log_path or "")
    assert log.parent == tmp_path / "xdg-cache" / "pluginmgr" / "logs"
    assert "pm-missing was not found in the provided package locations" in log.read_text()
    # nothing lost: the venv, its packages and the record are as before
    assert alpha_env.installed()["pm-alpha"] == "1.0.0"
    record = json.loads((alpha_env.venv_path / RECORD_NAME).read_text())
    assert record["requirements"] == ["pm-alpha"]


def test_an_unsatisfiable_version_fails_with_uvs_message(env: PluginEnv, wheelhouse: Path) -> None:
    with pytest.raises(InstallError, match=r"only pm-beta==1\.0\.0 is available"):
        env.install(["pm-beta>=3"], options=offline(wheelhouse))
    assert "pm-beta" not in env.installed()


@pytest.mark.parametrize("text", ["pm alpha!!", "pm-alpha>>1", ""])
def test_an_invalid_requirement_is_refused_before_anything_runs(
    env: PluginEnv, wheelhouse: Path, text: str
) -> None:
    with pytest.raises(InstallError, match="invalid requirement"):
        env.install([text], options=offline(wheelhouse))
    assert counting(env).installs == []
    assert not env.venv_path.exists()


def test_nothing_to_install_is_an_error(env: PluginEnv) -> None:
    with pytest.raises(InstallError, match="nothing to install"):
        env.install([])


def test_disabled_refuses_with_upstreams_message(plugin_dir: Path, wheelhouse: Path) -> None:
    env = PluginEnv(default_venv_path(plugin_dir), package_manager="disabled")
    with pytest.raises(InstallDisabledError) as caught:
        env.install(["pm-gamma"], options=offline(wheelhouse))
    assert str(caught.value).startswith(INSTALL_DISABLED_MESSAGE)
    assert INSTALL_DISABLED_MESSAGE == (
        "Package installation has been disabled. Contact your administrator for more information."
    )
    assert not env.venv_path.exists()
    assert "disabled" in (env.ensure().warning or "")


def test_an_unknown_package_manager_names_the_choices() -> None:
    with pytest.raises(InstallError, match="unknown package manager 'conda': use one of uv, pip"):
        get_installer("conda")


def test_discover_means_uv() -> None:
    assert isinstance(get_installer("discover"), UvInstaller)


# -- stale venvs ---------------------------------------------------------------------------------


def _rewrite_cfg(env: PluginEnv, key: str, value: str) -> None:
    cfg = env.venv_path / "pyvenv.cfg"
    lines = [
        f"{key} = {value}" if line.split("=")[0].strip() == key else line
        for line in cfg.read_text().splitlines()
    ]
    cfg.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("version_info", "3.7.1", "it was made for Python 3.7.1, not 3."),
        ("implementation", "PyPy", "it was made for PyPy, not CPython"),
    ],
)
def test_a_venv_from_another_python_is_rebuilt_and_its_packages_restored(
    alpha_env: PluginEnv, key: str, value: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    _rewrite_cfg(alpha_env, key, value)
    (alpha_env.venv_path / "marker-from-the-old-venv").write_text("old")
    state = alpha_env.state()
    assert state.status == "stale" and reason in (state.reason or "")

    with caplog.at_level(logging.WARNING, logger="pluginmgr.deps.venv"):
        done = alpha_env.ensure()
    assert done.rebuilt and done.replayed == ("pm-alpha",) and done.warning is None
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert alpha_env.state().status == "ok"
    assert not (alpha_env.venv_path / "marker-from-the-old-venv").exists()
    assert venv_python_says(alpha_env, "import pm_alpha; print(pm_alpha.greet())") == (
        "alpha+beta-1.0"
    )
    assert alpha_env.recorded_requirements() == ("pm-alpha",)
    assert not list(alpha_env.venv_path.parent.glob(".venv.stale-*"))


def test_a_venv_whose_interpreter_is_gone_is_rebuilt(alpha_env: PluginEnv) -> None:
    alpha_env.venv_python.unlink()
    alpha_env.venv_python.symlink_to("/nonexistent/python3")
    assert "its interpreter is gone" in (alpha_env.state().reason or "")
    assert alpha_env.ensure().rebuilt
    assert venv_python_says(alpha_env, "import pm_beta; print(pm_beta.VALUE)") == "beta-1.0"


def test_a_rebuild_whose_replay_fails_still_leaves_a_working_venv(
    env: PluginEnv, wheelhouse: Path, tmp_path: Path
) -> None:
    house = Path(shutil.copytree(wheelhouse, tmp_path / "gone-later"))
    env.install(["pm-gamma"], options=offline(house))
    shutil.rmtree(house)
    _rewrite_cfg(env, "version_info", "3.7.1")
    done = env.ensure()
    assert done.rebuilt
    assert "could not reinstall its packages" in (done.warning or "")
    assert env.state().status == "ok"
    # the record survives, so a later install (with the wheels back) can restore it
    assert env.recorded_requirements() == ("pm-gamma",)


class BrokenCreate(UvInstaller):
    """uv whose venv creation leaves a half-made directory and fails."""

    def venv_command(self, venv: Path, python: Path) -> Command:
        script = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.mkdir(); "
        script += "(p / 'half-made').write_text('x'); sys.exit(3)"
        return [sys.executable, "-c", script, venv]


def test_a_failed_rebuild_puts_the_old_venv_back(alpha_env: PluginEnv) -> None:
    _rewrite_cfg(alpha_env, "version_info", "3.7.1")
    broken = PluginEnv(alpha_env.venv_path, installer=BrokenCreate())
    with pytest.raises(InstallError, match="creating the plugin venv"):
        broken.ensure()
    assert (alpha_env.venv_path / RECORD_NAME).is_file()
    assert not (alpha_env.venv_path / "half-made").exists()
    assert "pm-alpha" in alpha_env.installed()


def test_a_failed_create_leaves_no_half_made_venv(plugin_dir: Path) -> None:
    env = PluginEnv(default_venv_path(plugin_dir), installer=BrokenCreate())
    with pytest.raises(InstallError):
        env.install(["pm-gamma"])
    assert not env.venv_path.exists()


def test_an_unreadable_record_is_ignored_with_a_warning(
    alpha_env: PluginEnv, wheelhouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (alpha_env.venv_path / RECORD_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="pluginmgr.deps.venv_record"):
        assert alpha_env.recorded_requirements() == ()
    assert "ignoring unreadable" in caplog.text
    alpha_env.install(["pm-gamma"], options=offline(wheelhouse))
    assert alpha_env.recorded_requirements() == ("pm-gamma",)


def test_a_newer_requirement_replaces_the_recorded_one(
    alpha_env: PluginEnv, wheelhouse: Path
) -> None:
    alpha_env.install(["pm-beta>=1.0", "PM_Alpha==1.0.0"], options=offline(wheelhouse))
    assert alpha_env.recorded_requirements() == ("PM_Alpha==1.0.0", "pm-beta>=1.0")


# -- concurrency ---------------------------------------------------------------------------------


def test_two_concurrent_installs_both_succeed(plugin_dir: Path, wheelhouse: Path) -> None:
    def start(package: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "pluginmgr", "install", "package", package]
        command += ["--plugin-dir", str(plugin_dir), "--offline", "--no-index"]
        command += ["--find-links", str(wheelhouse)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first, second = start("pm-alpha"), start("pm-gamma")
    outputs = [proc.communicate(timeout=120) for proc in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    env = PluginEnv(default_venv_path(plugin_dir))
    assert {"pm-alpha", "pm-beta", "pm-gamma"} <= set(env.installed())
    # both changes landed in the node's requirements (one transaction after the other)
    lines = (plugin_dir / "requirements.in").read_text().splitlines()[1:]
    assert sorted(lines) == ["pm-alpha", "pm-gamma"]
    code = "import pm_alpha, pm_gamma; print(pm_alpha.greet(), pm_gamma.VALUE)"
    assert venv_python_says(env, code) == "alpha+beta-1.0 gamma"


# -- a venv whose interpreter is gone ------------------------------------------------------------


def test_a_working_venv_of_any_python_or_none_at_all_is_no_problem(
    alpha_env: PluginEnv, tmp_path: Path
) -> None:
    assert venv_problem(alpha_env.venv_path) is None
    assert venv_problem(tmp_path / "absent") is None
    # plugins run on the venv's own interpreter: the server's Python does not matter
    _rewrite_cfg(alpha_env, "version_info", "3.99.0")
    assert venv_problem(alpha_env.venv_path) is None


def test_a_venv_whose_interpreter_is_gone_is_named(alpha_env: PluginEnv) -> None:
    venv = alpha_env.venv_path
    alpha_env.venv_python.unlink()
    alpha_env.venv_python.symlink_to("/nonexistent/python3")
    problem = venv_problem(venv) or ""
    assert problem.startswith(f"{venv} links to an interpreter that no longer exists (")
    assert "/nonexistent/python3; home = " in problem and problem.endswith("installed into it")


def test_a_venv_whose_interpreter_no_longer_runs_falls_back_to_the_bundled_one(
    tmp_path: Path,
) -> None:
    # its bin/python resolves to a file that is not a Python: the venv is stale, not fatal
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    broken = tmp_path / "python3.99"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    (venv / "bin" / "python").symlink_to(broken)
    (venv / "pyvenv.cfg").write_text(f"home = {tmp_path}\nversion_info = 3.99.0\n")
    env = PluginEnv(venv)
    assert env.python_source == "bundled" and env.python == bundled_python()
    state = env.state()
    assert state.status == "stale" and "made for Python 3.99.0" in (state.reason or "")


def test_the_rebuild_command_locks_first_only_without_a_lock(tmp_path: Path) -> None:
    plugin_dir, elsewhere = tmp_path / "my plugins", tmp_path / "env"
    plugin_dir.mkdir()
    venv = default_venv_path(plugin_dir)
    quoted = f"'{plugin_dir}'"
    assert venv_rebuild_command(venv, plugin_dir) == (
        f"rm -rf '{venv}' && pluginmgr deps lock --plugin-dir {quoted} "
        f"&& pluginmgr deps sync --plugin-dir {quoted}"
    )
    (plugin_dir / "pylock.toml").write_text("")
    sources = InstallOptions(find_links=("/w",), index_url="https://i.invalid/", offline=True)
    assert venv_rebuild_command(elsewhere, plugin_dir, sources=sources) == (
        f"rm -rf {elsewhere} && pluginmgr deps sync --plugin-dir {quoted} "
        f"--virtual-env-location {elsewhere} --find-links /w --index-url https://i.invalid/ "
        "--offline"
    )


# -- pip -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_pip_package_manager_installs_with_the_venvs_pip(
    plugin_dir: Path, wheelhouse: Path
) -> None:
    env = PluginEnv(default_venv_path(plugin_dir), package_manager="pip")
    result = env.install(["pm-alpha"], options=offline(wheelhouse))
    assert dict(result.changed) == {"pm-alpha": "1.0.0", "pm-beta": "1.0.0"}
    assert venv_python_says(env, "import pm_alpha; print(pm_alpha.greet())") == "alpha+beta-1.0"
    with pytest.raises(InstallError, match=r"failed \(python exit status 1\).*pm-missing"):
        env.install(["pm-missing"], options=offline(wheelhouse))


def test_what_is_installed_is_read_once_until_the_venv_changes(
    env: PluginEnv, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pluginmgr.deps.requirement_check import Installed

    scans: list[int] = []
    real_scan = Installed.scan.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Installed], paths: list[str]) -> Installed:
        scans.append(1)
        return real_scan(cls, paths)  # type: ignore[no-any-return]

    monkeypatch.setattr(Installed, "scan", classmethod(counted))
    env.install(["pm-gamma"], options=offline(wheelhouse))
    scans.clear()
    assert env.unsatisfied(["pm-gamma", "pm-alpha"]) == ["pm-alpha"]
    assert env.unsatisfied(["pm-gamma"]) == []
    assert len(scans) == 1  # one read for both checks

    env.install(["pm-alpha"], options=offline(wheelhouse))
    assert env.unsatisfied(["pm-gamma", "pm-alpha"]) == []
    subprocess.run(
        [find_uv()[0], "pip", "uninstall", "--python", str(env.venv_python), "pm-gamma"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # behind pluginmgr's back
    assert env.unsatisfied(["pm-gamma", "pm-alpha"]) == ["pm-gamma"]
    assert env.installed() == {"pm-alpha": "1.0.0", "pm-beta": "1.0.0"}
