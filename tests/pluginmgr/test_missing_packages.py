"""`package_not_found`: uv's "not found" wording for an index, find-links folders and the offline
cache, the sources named, and a package missing deep in the graph left to the conflict path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginmgr.deps import index_versions
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.missing_packages import describe_sources, package_not_found


@pytest.fixture(autouse=True)
def _no_uv_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither this machine's uv.toml files nor its uv variables decide what these tests see."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(index_versions, "SYSTEM_UV_CONFIG", str(tmp_path / "etc-uv.toml"))
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


REGISTRY = (
    "error: No solution found when resolving dependencies\n  cause: Because pandass was not "
    "found in the package registry and you require pandass, we can conclude that your "
    "requirements are unsatisfiable."
)
LOCATIONS = REGISTRY.replace("the package registry", "the provided package locations")
CACHE = REGISTRY.replace("the package registry", "the cache")
DEEP = (
    "error: No solution found when resolving dependencies\n  cause: Because pm-alpha==1.0 "
    "depends on pm-ghost and pm-ghost was not found in the package registry, we can conclude "
    "that pm-alpha==1.0 cannot be used. And because you require pm-alpha, ..."
)


@pytest.mark.parametrize(
    ("sources", "where"),
    [
        (InstallOptions(), "on PyPI (https://pypi.org/simple)"),
        (InstallOptions(index_url="http://idx/simple"), "on http://idx/simple"),
        (
            InstallOptions(index_url="http://idx/simple", find_links=("/w",)),
            "on http://idx/simple or in the find-links folders /w",
        ),
        (
            InstallOptions(find_links=("/w", "/v"), no_index=True),
            "in the find-links folders /w, /v",
        ),
        (
            InstallOptions(offline=True),
            "in uv's cache of PyPI (https://pypi.org/simple) (--offline)",
        ),
    ],
)
def test_the_sources_are_named(sources: InstallOptions, where: str) -> None:
    assert describe_sources(sources) == where


def test_uvs_default_index_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_DEFAULT_INDEX", "https://mirror.example/simple")
    assert describe_sources(InstallOptions()) == "on https://mirror.example/simple"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('index-url = "https://user.example/simple"\n', "on https://user.example/simple"),
        ('[pip]\nindex-url = "https://pip.example/simple"\n', "on https://pip.example/simple"),
        (
            '[[index]]\nurl = "https://extra.example/simple"\n\n'
            '[[index]]\nurl = "https://main.example/simple"\ndefault = true\n',
            "on https://main.example/simple",
        ),
        ("not toml [", "on PyPI (https://pypi.org/simple)"),
    ],
)
def test_the_index_of_uvs_user_settings_is_named(text: str, where: str, tmp_path: Path) -> None:
    settings = tmp_path / "config" / "uv" / "uv.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text(text)
    assert describe_sources(InstallOptions()) == where


def test_the_index_of_uvs_system_settings_is_named(tmp_path: Path) -> None:
    Path(index_versions.SYSTEM_UV_CONFIG).write_text('index-url = "https://etc.example/simple"\n')
    assert describe_sources(InstallOptions()) == "on https://etc.example/simple"
    assert describe_sources(InstallOptions(index_url="http://idx/simple")) == "on http://idx/simple"


@pytest.mark.parametrize("output", [REGISTRY, LOCATIONS, CACHE])
def test_a_directly_required_package_is_named_as_written(output: str) -> None:
    error = package_not_found(output, ["Pandass", "pm-alpha"], InstallOptions())
    assert error is not None
    assert error.packages == ("Pandass",)
    assert error.message.startswith("package 'Pandass' was not found ")
    assert error.output == output


def test_a_package_missing_deep_in_the_graph_stays_a_conflict() -> None:
    assert package_not_found(DEEP, ["pm-alpha"], InstallOptions()) is None
    assert package_not_found("error: something else", ["pm-alpha"], InstallOptions()) is None
