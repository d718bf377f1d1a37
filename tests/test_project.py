"""House rules that keep the project honest: front doors, import direction, README vs CI."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pluginmgr", "engine_runtime", "registry_index")
# who may import whom (DESIGN.md "data flows one way")
FORBIDDEN = {
    "engine_runtime": {"pluginmgr", "registry_index"},
    "registry_index": {"pluginmgr", "engine_runtime"},
    "pluginmgr": set(),
}


@pytest.mark.parametrize("package", PACKAGES)
def test_front_door_all_is_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=str.casefold) or names == sorted(names)
    for name in names:
        assert hasattr(module, name), f"{package}.__all__ lists missing {name}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_point_one_way(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        bad = _imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_every_module_declares_all() -> None:
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "__main__.py":
                continue
            assert "__all__" in path.read_text(), f"{path.relative_to(ROOT)} has no __all__"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart\n(.*?)\n## ", readme, re.S)
    assert block, "README has a Quickstart section"
    commands = re.findall(r"^(python3 -m venv .*)$", block.group(1), re.M)
    assert len(commands) == 2, "the quickstart has exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci, ".ci/run must run the README's test command verbatim"
