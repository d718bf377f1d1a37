"""The packages' layers and imports, read from the source (nothing is imported):

* no import cycle between modules, lazy imports inside functions included (imports under
  ``if TYPE_CHECKING:`` aside: they never run);
* ``engine_runtime`` and ``registry_index`` import nothing of ``pluginmgr`` or of each other,
  ``engine_runtime``'s plugin host guest nothing but the standard library and itself;
* in ``pluginmgr`` the layers go one way, ``cli -> server -> fleet -> node -> mirror ->
  deps -> fetch -> the modules directly in pluginmgr/``: a module imports only its own
  package and the layers below it (``__main__`` starts the CLI);
* a CLI command module never imports another (shared options live in ``_``-prefixed modules);
* no product module is over 400 lines, and at most 12 lie directly in ``pluginmgr/``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("pluginmgr", "engine_runtime", "registry_index")
#: pluginmgr's parts, lowest first; the modules directly in pluginmgr/ are "base"
LAYERS: Final = {
    "base": 0,
    "fetch": 1,
    "deps": 2,
    "mirror": 3,
    "node": 4,
    "fleet": 5,
    "server": 6,
    "cli": 7,
}
GUEST: Final = "engine_runtime.host.guest.pluginmgr_guest"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    name = ".".join(parts)
    # the guest package runs as top-level `pluginmgr_guest` in the host; here, by its path
    return name


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


MODULES: Final = _modules()


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (at any depth but under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                for alias in child.names:
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in MODULES else target)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            else:
                visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    project = set()
    for target in found:
        if target.startswith("pluginmgr_guest"):  # how the guest names itself in the host
            target = f"{GUEST}{target.removeprefix('pluginmgr_guest')}"
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            project.add(target)
    return project


GRAPH: Final = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH[node]:
            if other not in index:
                strong(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in GRAPH:
            if node not in index:
                strong(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _layer(name: str) -> str:
    parts = name.split(".")
    if parts[0] != "pluginmgr":
        return parts[0]
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "base"


def test_the_import_graph_is_read_from_every_package() -> None:
    assert len(MODULES) > 150
    assert "pluginmgr.fetch.store" in GRAPH["pluginmgr.fetch.manager"]  # a relative import
    assert "pluginmgr.deps.venv" in GRAPH["pluginmgr.cli._deps_common"]


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("package", ["engine_runtime", "registry_index"])
def test_the_runtime_and_the_index_stand_below_pluginmgr(package: str) -> None:
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] != package
    )
    assert wrong == []


def test_the_plugin_host_guest_uses_only_itself() -> None:
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if name.startswith(GUEST)
        for target in targets
        if not target.startswith(GUEST)
    )
    assert wrong == []


def test_pluginmgr_layers_go_one_way() -> None:
    wrong = sorted(
        f"{name} ({_layer(name)}) -> {target} ({_layer(target)})"
        for name, targets in GRAPH.items()
        if name.startswith("pluginmgr.") and name != "pluginmgr.__main__"
        for target in targets
        if target.startswith("pluginmgr")
        and _layer(target) != _layer(name)
        and LAYERS[_layer(target)] >= LAYERS[_layer(name)]
    )
    assert wrong == []


def _command_modules() -> set[str]:
    """The modules the CLI's command table (``_COMMANDS`` in ``pluginmgr/cli/__init__.py``)
    loads commands from."""
    tree = ast.parse((ROOT / "pluginmgr" / "cli" / "__init__.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "_COMMANDS" for t in targets):
            table = ast.literal_eval(node.value)  # type: ignore[arg-type]
            return {f"pluginmgr.cli.{where.partition(':')[0]}" for where in table.values()}
    raise AssertionError("no _COMMANDS table in pluginmgr/cli/__init__.py")


def test_no_cli_command_module_imports_another() -> None:
    commands = _command_modules()
    assert "pluginmgr.cli.deps" in commands and "pluginmgr.cli.install" in commands
    wrong = sorted(
        f"{name} -> {target}" for name in commands for target in GRAPH[name] if target in commands
    )
    assert wrong == []


def test_few_modules_lie_directly_in_pluginmgr() -> None:
    top = sorted(p.name for p in (ROOT / "pluginmgr").glob("*.py"))
    assert len(top) <= 12, top


#: the most lines a product module may have: past it, a module holds more than one idea
MAX_MODULE_LINES: Final = 400


def test_no_product_module_is_over_400_lines() -> None:
    long = sorted(
        f"{name}: {lines} lines"
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    )
    assert long == []
