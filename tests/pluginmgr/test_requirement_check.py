"""Requirements with extras, markers, versions and URLs against real venvs that real uv filled.

The venvs are made for the bundled interpreter and filled offline from a wheelhouse built from
`fixtures/packages` (``pm-extras`` declares the extras; see its ``pyproject.toml``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from uv import find_uv_bin

from pluginmgr.deps.requirement_check import Installed, explain, unsatisfied
from pluginmgr.deps.venv import PluginEnv, bundled_python
from pluginmgr.errors import InstallError
from tests.wheels import FIXTURE_PACKAGES, build_wheel, build_wheelhouse

EXTRAS_WHEELS = ("pm_alpha", "pm_beta", "pm_gamma", "pm_extras")
DECLARED = "all, cycle, fast, legacy, strict"


@dataclass(frozen=True)
class Venv:
    """A venv uv made and filled: its root and its site-packages."""

    root: Path
    site: Path

    def installed(self) -> Installed:
        """Only what this venv holds (no runtime environment)."""
        return Installed.scan([self.site])


class Uv:
    """uv with a private cache, no config, no downloads and no index."""

    def __init__(self, cache: Path) -> None:
        dropped = ("UV_", "PIP_", "VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        self.env.update(UV_CACHE_DIR=str(cache), UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")

    def __call__(self, *args: str) -> None:
        command = [find_uv_bin(), *args]
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"

    def venv(self, root: Path, wheelhouse: Path, *requirements: str) -> Venv:
        self("venv", "--offline", "--python", str(bundled_python()), str(root))
        python = str(root / "bin" / "python")
        offline = ("--offline", "--no-index", "--find-links", str(wheelhouse))
        self("pip", "install", "--python", python, *offline, *requirements)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return Venv(root, root / "lib" / version / "site-packages")


@pytest.fixture(scope="module")
def uv(tmp_path_factory: pytest.TempPathFactory) -> Uv:
    return Uv(tmp_path_factory.mktemp("uv-cache"))


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheelhouse(tmp_path_factory.mktemp("wheels"), EXTRAS_WHEELS)


@pytest.fixture(scope="module")
def make_venv(
    uv: Uv, house: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, ...], Venv]:
    """Venvs by what was installed into them, each made once for the module."""
    made: dict[tuple[str, ...], Venv] = {}
    for requirements in (
        ("pm-extras",),
        ("pm-extras[fast]",),
        ("pm-extras[all]",),
        ("pm-extras", "pm-alpha"),
    ):
        root = tmp_path_factory.mktemp("venv") / "venv"
        made[requirements] = uv.venv(root, house, *requirements)
    return made


@pytest.fixture(scope="module")
def bare(make_venv: dict[tuple[str, ...], Venv]) -> Venv:
    """pm-extras (and its base dependency pm-beta) without any extra."""
    return make_venv["pm-extras",]


@pytest.fixture(scope="module")
def fast(make_venv: dict[tuple[str, ...], Venv]) -> Venv:
    """pm-extras[fast]: pm-extras, pm-beta, pm-gamma."""
    return make_venv["pm-extras[fast]",]


@pytest.fixture(scope="module")
def everything(make_venv: dict[tuple[str, ...], Venv]) -> Venv:
    """pm-extras[all]: pm-extras, pm-beta, pm-gamma, pm-alpha."""
    return make_venv["pm-extras[all]",]


@pytest.fixture(scope="module")
def no_gamma(make_venv: dict[tuple[str, ...], Venv]) -> Venv:
    """pm-extras and pm-alpha, so [all] is complete except for what its nested [fast] adds."""
    return make_venv["pm-extras", "pm-alpha"]


# -- the fixture wheel -----------------------------------------------------------------------------


def test_the_wheel_declares_each_extra_and_what_it_adds(tmp_path: Path) -> None:
    wheel = build_wheel(FIXTURE_PACKAGES / "pm_extras", tmp_path / "one")
    again = build_wheel(FIXTURE_PACKAGES / "pm_extras", tmp_path / "two")
    assert wheel.read_bytes() == again.read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        lines = archive.read("pm_extras-1.0.0.dist-info/METADATA").decode().splitlines()
    assert lines[5:] == [
        "Requires-Dist: pm-beta>=1.0",
        "Provides-Extra: fast",
        'Requires-Dist: pm-gamma; extra == "fast"',
        "Provides-Extra: all",
        'Requires-Dist: pm-extras[fast]; extra == "all"',
        'Requires-Dist: pm-alpha; extra == "all"',
        "Provides-Extra: legacy",
        'Requires-Dist: pm-gamma; (python_version < "3") and extra == "legacy"',
        "Provides-Extra: strict",
        'Requires-Dist: pm-beta>=2; extra == "strict"',
        "Provides-Extra: cycle",
        'Requires-Dist: pm-extras[cycle]; extra == "cycle"',
        'Requires-Dist: pm-gamma; extra == "cycle"',
    ]


# -- extras ----------------------------------------------------------------------------------------


def test_an_installed_extra_is_satisfied(fast: Venv) -> None:
    spellings = ["pm-extras[fast]", "PM_Extras[FAST]", "pm.extras[fast]>=1", "pm-extras"]
    assert unsatisfied(spellings, fast.installed()) == []


def test_an_extra_whose_added_dependency_is_missing_is_not(bare: Venv) -> None:
    installed = bare.installed()
    assert unsatisfied(["pm-extras", "pm-extras[fast]"], installed) == ["pm-extras[fast]"]
    assert explain("pm-extras[fast]", installed) == (
        "pm-extras[fast] needs pm-gamma: pm-gamma is not installed"
    )


def test_an_extra_the_distribution_does_not_declare_is_not(fast: Venv) -> None:
    installed = fast.installed()
    assert unsatisfied(["pm-extras[turbo]", "pm-gamma[fast]"], installed) == [
        "pm-extras[turbo]",
        "pm-gamma[fast]",
    ]
    assert explain("pm-extras[fast,turbo]", installed) == (
        f"pm-extras 1.0.0 has no extra [turbo] (it declares: {DECLARED})"
    )
    assert explain("pm-gamma[fast]", installed) == (
        "pm-gamma 0.1.0 has no extra [fast] (it declares: none)"
    )


def test_nested_extras_are_checked_through(everything: Venv, fast: Venv, no_gamma: Venv) -> None:
    assert unsatisfied(["pm-extras[all]"], everything.installed()) == []
    assert explain("pm-extras[all]", fast.installed()) == (
        "pm-extras[all] needs pm-alpha: pm-alpha is not installed"
    )
    assert explain("pm-extras[all]", no_gamma.installed()) == (
        "pm-extras[all] needs pm-extras[fast]: pm-extras[fast] needs pm-gamma: "
        "pm-gamma is not installed"
    )


def test_an_extra_that_requires_itself_ends(fast: Venv, bare: Venv) -> None:
    assert unsatisfied(["pm-extras[cycle]"], fast.installed()) == []
    assert explain("pm-extras[cycle]", bare.installed()) == (
        "pm-extras[cycle] needs pm-gamma: pm-gamma is not installed"
    )


def test_base_dependencies_are_the_installers_business(uv: Uv, house: Path, tmp_path: Path) -> None:
    venv = uv.venv(tmp_path / "venv", house, "pm-extras[fast]")
    uv("pip", "uninstall", "--python", str(venv.root / "bin" / "python"), "pm-beta")
    installed = venv.installed()
    assert unsatisfied(["pm-extras[fast]", "pm-beta"], installed) == ["pm-beta"]


# -- markers and versions --------------------------------------------------------------------------


def test_a_requirement_whose_marker_is_false_is_satisfied(bare: Venv) -> None:
    installed = bare.installed()
    not_here = ["pm-nowhere; python_version < '3'", "pm-extras[turbo]; sys_platform == 'nope'"]
    assert unsatisfied(not_here, installed) == []
    assert explain("pm-nowhere; python_version >= '3'", installed) == "pm-nowhere is not installed"
    # an extra's dependency whose own marker is false is not needed either
    assert unsatisfied(["pm-extras[legacy]"], installed) == []


def test_the_environment_overrides_the_interpreters_markers(bare: Venv) -> None:
    installed = bare.installed()
    old = {"python_version": "2.7", "python_full_version": "2.7.18"}
    assert unsatisfied(["pm-nowhere; python_version < '3'"], installed, environment=old) == [
        "pm-nowhere; python_version < '3'"
    ]
    assert explain("pm-extras[legacy]", installed, environment=old) == (
        "pm-extras[legacy] needs pm-gamma: pm-gamma is not installed"
    )


def test_a_version_out_of_range_is_not_satisfied(bare: Venv) -> None:
    installed = bare.installed()
    wanted = ["pm-extras>=2", "pm-extras[legacy]<1", "pm-extras[strict]", "pm-extras~=1.0"]
    assert unsatisfied(wanted, installed) == wanted[:3]
    assert explain("pm-extras>=2", installed) == "pm-extras 1.0.0 is installed, not >=2"
    assert explain("pm-extras[strict]", installed) == (
        "pm-extras[strict] needs pm-beta>=2: pm-beta 1.0.0 is installed, not >=2"
    )
    assert unsatisfied(["pm-extras>=1.0.0rc1,<1.0.1"], installed) == []


def test_a_bad_requirement_raises_an_install_error_naming_it(bare: Venv) -> None:
    with pytest.raises(InstallError, match=r"invalid requirement 'pm-extras\[fast'") as caught:
        unsatisfied(["pm-extras", "pm-extras[fast"], bare.installed())
    assert caught.value.hint is not None
    assert "PEP 508" in caught.value.hint
    with pytest.raises(InstallError, match=r"cannot evaluate the marker of \"pm-x; python_version"):
        explain("pm-x; python_version ~= 'abc'", bare.installed())


# -- URLs ------------------------------------------------------------------------------------------


def test_a_url_requirement_needs_that_url(uv: Uv, house: Path, tmp_path: Path, fast: Venv) -> None:
    url = (house / "pm_gamma-0.1.0-py3-none-any.whl").as_uri()
    venv = uv.venv(tmp_path / "venv", house, f"pm-gamma @ {url}")
    other = (tmp_path / "pm_gamma-0.1.0-py3-none-any.whl").as_uri()
    assert unsatisfied([f"pm-gamma @ {url}", f"pm-gamma @ {other}"], venv.installed()) == [
        f"pm-gamma @ {other}"
    ]
    assert explain(f"pm-gamma @ {other}", venv.installed()) == (
        f"pm-gamma 0.1.0 is installed from {url}, not from {other}"
    )
    assert explain(f"pm-gamma @ {url}", fast.installed()) == (
        f"pm-gamma 0.1.0 is installed from a package index, not from {url}"
    )


# -- where distributions are found -----------------------------------------------------------------


def test_only_the_venv_counts_not_the_servers_environment(
    monkeypatch: pytest.MonkeyPatch, fast: Venv, bare: Venv
) -> None:
    # the server has httpx, packaging, pyarrow and numpy, and here even a site-packages with
    # pm-gamma on its own sys.path: the plugin host imports none of it, so none of it counts
    monkeypatch.syspath_prepend(str(fast.site))
    env = PluginEnv(bare.root)
    server_only = ["httpx>=0.27", "packaging", "pyarrow", "numpy", "pm-gamma"]
    assert env.unsatisfied([*server_only, "pm-extras", "pm-beta"]) == server_only
    assert env.unsatisfied(["pm-extras[fast]"]) == ["pm-extras[fast]"]
    assert explain("pm-extras[fast]", bare.installed()) == (
        "pm-extras[fast] needs pm-gamma: pm-gamma is not installed"
    )


def test_the_first_distribution_on_the_path_wins(everything: Venv, bare: Venv) -> None:
    installed = Installed.scan([bare.site, everything.site])
    extras, alpha = installed.get("PM_Extras"), installed.get("pm-alpha")
    assert extras is not None and alpha is not None
    assert (extras.location, alpha.location) == (str(bare.site), str(everything.site))
    assert extras.extras == frozenset(DECLARED.split(", "))
    assert "pm-gamma" in installed
    assert "pm-nowhere" not in installed


def test_what_broken_or_legacy_installs_leave_behind(tmp_path: Path) -> None:
    (tmp_path / "gone-1.0.dist-info").mkdir()  # an interrupted install: no METADATA
    legacy = tmp_path / "legacy-1.dist-info"
    legacy.mkdir()
    (legacy / "METADATA").write_text("Metadata-Version: 2.1\nName: legacy\nVersion: 1.0-final.x\n")
    installed = Installed.scan([tmp_path])
    assert sorted(installed.dists) == ["legacy"]
    assert unsatisfied(["legacy", "gone"], installed) == ["gone"]
    assert explain("legacy>=1", installed) == (
        "legacy '1.0-final.x' is installed: not a PEP 440 version, not >=1"
    )
