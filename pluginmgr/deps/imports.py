"""Whether a plugin's imports work in the plugin venv, as the plugin host would import them.

A lock can hold a package that does not import on the venv's interpreter (a release years old,
a package built for another Python) or lack one a plugin imports without declaring it: the
trigger then fails at its first run. `check_imports` runs, in a subprocess of the venv's own
interpreter in isolated mode (``-I``: the standard library and the venv's site-packages, nothing
of the server's environment, as in the plugin host), each **module-level import statement** of
the plugin:

* ``import x.y as z`` and ``from x import a, b`` at module level, in ``if``/``else`` and
  ``with`` blocks (a ``try`` whose handlers catch an import error is optional, and skipped);
* not the plugin's own code: its other statements never run (a plugin's top level may write,
  connect or wait), and relative imports and the plugin's own sibling modules are skipped.

The first statement that fails is the answer, with the first line of its error
(``ModuleNotFoundError: No module named 'x'``); each plugin has a timeout.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine_runtime.python_source import parse_python

from ..errors import InstallError
from ..process import run

__all__ = ["IMPORT_TIMEOUT", "ImportProblem", "check_imports", "import_statements"]

#: seconds one plugin's imports may take (pandas or pyarrow take a few)
IMPORT_TIMEOUT: Final = 60.0
_OPTIONAL: Final = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})

# runs in the subprocess: argv[1] is {"statements": [...]}
_SCRIPT: Final = """
import json, sys
job = json.loads(sys.argv[1])
for statement in job["statements"]:
    try:
        exec(compile(statement, "<plugin imports>", "exec"), {})
    except BaseException as exc:
        text = (str(exc).splitlines() or [""])[0]
        error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        print(json.dumps({"statement": statement, "error": error}))
        sys.exit(0)
print(json.dumps(None))
"""


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """The first import statement of a plugin that fails, and the first line of its error."""

    statement: str
    error: str


def _catches_import_errors(node: ast.Try) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in _OPTIONAL for n in names):
            return True
    return False


def _module_level(body: Sequence[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" in test:
                continue  # for the type checker only: never imported at run time
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)
        elif isinstance(node, ast.Try) and not _catches_import_errors(node):
            yield from _module_level([*node.body, *node.orelse, *node.finalbody])


def import_statements(sources: Sequence[str], own: Sequence[str] = ()) -> list[str]:
    """The absolute module-level import statements of ``sources``, in order, once each.

    :param own: top-level module names that are the plugin's own (its sibling files): skipped.
    """
    statements: dict[str, None] = {}
    for source in sources:
        try:
            tree = parse_python(source)
        except SyntaxError:
            continue  # the trigger checks report a plugin that does not parse
        for node in _module_level(tree.body):
            if isinstance(node, ast.ImportFrom):
                if node.level or not node.module or node.module == "__future__":
                    continue
                if node.module.split(".")[0] in own:
                    continue
            else:
                node = ast.Import([a for a in node.names if a.name.split(".")[0] not in own])
                if not node.names:
                    continue
            statements[ast.unparse(node)] = None
    return list(statements)


def _plugin_sources(path: Path) -> tuple[list[str], list[str]]:
    """(the texts of a plugin file or package's modules, the names of its own modules)."""
    if path.is_file():
        siblings = [p.stem for p in path.parent.glob("*.py") if p != path]
        siblings += [p.name for p in path.parent.iterdir() if (p / "__init__.py").is_file()]
        return [path.read_text(encoding="utf-8", errors="replace")], siblings
    files = sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    own = [path.name, *(p.stem for p in path.glob("*.py"))]
    own += [p.name for p in path.iterdir() if (p / "__init__.py").is_file()]
    return [p.read_text(encoding="utf-8", errors="replace") for p in files], own


def check_imports(
    plugin: Path, python: Path, *, timeout: float = IMPORT_TIMEOUT
) -> ImportProblem | None:
    """Run ``plugin``'s (a file or a package directory) import statements as the plugin host
    would; None when they all work.

    :param python: the venv's interpreter (``<venv>/bin/python``).
    """
    sources, own = _plugin_sources(plugin)
    statements = import_statements(sources, own)
    if not statements:
        return None
    job = json.dumps({"statements": statements})
    try:
        result = run([python, "-I", "-c", _SCRIPT, job], timeout=timeout)
    except InstallError:
        return ImportProblem(statements[0], f"its imports did not finish within {timeout:g}s")
    lines = result.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else "no answer"
    except ValueError:
        answer = lines[-1]
    if answer is None:
        return None
    if isinstance(answer, dict):
        return ImportProblem(str(answer["statement"]), str(answer["error"]))
    # the interpreter itself died (a crash in an extension module): its last words
    last = (result.stderr.strip().splitlines() or [str(answer)])[-1]
    return ImportProblem(statements[0], f"the import process failed: {last}")
