"""What creating a trigger can tell about its plugin without running it (ours; upstream checks
nothing but that the file can be read, engine-behavior.md §2.2).

The plugin's source is parsed (`ast`), never executed, so its top-level code runs only when the
trigger first runs. `check_trigger_plugin`:

* refuses a plugin that certainly lacks the entry point of the trigger's type
  (`MissingEntryPointError`). "Certainly": the name is bound nowhere at module level (a ``def``,
  a class, an assignment, an import, ``global`` in a function, in any branch). A plugin that could
  bind it in ways the source does not show (``from x import *``, ``globals()``, ``exec``, a module
  ``__getattr__``) is accepted;
* warns about a ``request:`` path with a leading ``/`` (upstream serves ``request:/x`` at
  ``/api/v3/engine//x``);
* warns about an ``all_tables`` trigger whose plugin writes to its own database
  (``influxdb3_local.write(...)``/``write_sync(...)``, or ``write_to_db`` with that database's
  name as a literal): every run's writes trigger it again;
* warns when the source does not parse (the trigger will fail with upstream's message).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from ..errors import ENTRY_POINT_SIGNATURES, MissingEntryPointError
from ..python_source import parse_python

if TYPE_CHECKING:
    from ..triggers import TriggerSpec
    from .source import PluginCode

__all__ = ["ENTRY_POINT_REFUSAL", "check_trigger_plugin"]

#: the refusal of a plugin without its trigger type's entry point
ENTRY_POINT_REFUSAL: Final = "plugin {plugin} has no {signature} for {spec} triggers"

_ENTRY_FOR_KIND: Final = {
    "all_tables": "process_writes",
    "table": "process_writes",
    "every": "process_scheduled_call",
    "cron": "process_scheduled_call",
    "request": "process_request",
}
_SPEC_LABEL: Final = {
    "all_tables": "all_tables",
    "table": "table:...",
    "every": "every:...",
    "cron": "cron:...",
    "request": "request:...",
}
_SPECS_FOR_ENTRY: Final = {
    "process_writes": "table:<TABLE> or all_tables",
    "process_scheduled_call": "every:<DURATION> or cron:<EXPRESSION>",
    "process_request": "request:<PATH>",
}
#: calls that can bind module names the source does not show
_DYNAMIC_CALLS: Final = frozenset({"globals", "exec", "eval", "setattr", "vars", "__import__"})
_OWN_DB_WRITES: Final = frozenset({"write", "write_sync"})
_OTHER_DB_WRITES: Final = frozenset({"write_to_db", "write_sync_to_db"})
_API_NAME: Final = "influxdb3_local"


def check_trigger_plugin(
    code: PluginCode, spec: TriggerSpec, *, plugin: str, database: str
) -> list[str]:
    """Check ``code`` for a trigger of ``spec`` on ``database``; return the warnings.

    :param plugin: the plugin as the user named it (messages quote it).
    :raises MissingEntryPointError: the plugin certainly lacks the entry point (module doc).
    """
    warnings = _spec_warnings(spec)
    trees: list[ast.Module] = []
    for filename, source in _sources(code):
        try:
            trees.append(parse_python(source, filename))
        except (SyntaxError, ValueError) as exc:
            where = f", line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            text = (
                f"plugin {plugin} does not compile ({type(exc).__name__} in {filename}{where}): "
                "its trigger will fail until that is fixed"
            )
            return [*warnings, text]
    if not trees:
        return warnings
    function = _ENTRY_FOR_KIND[spec.kind]
    names = _module_names(trees[0])  # the file, or the package's __init__.py
    if names is not None and function not in names:
        raise _refusal(plugin, spec, function, names)
    if spec.kind == "all_tables":
        method = _own_database_write(trees, database)
        if method is not None:
            warnings.append(_loop_warning(plugin, database, method))
    return warnings


def _spec_warnings(spec: TriggerSpec) -> list[str]:
    if spec.kind != "request" or not spec.value.startswith("/"):
        return []
    path, stripped = spec.value, spec.value.lstrip("/")
    return [
        f"request:{path} is served at /api/v3/engine/{path} (with a double slash, as InfluxDB 3 "
        f"does); to serve it at /api/v3/engine/{stripped}, use request:{stripped}"
    ]


def _sources(code: PluginCode) -> Iterator[tuple[str, str]]:
    """(file name, text) of the module first, then a package's other ``.py`` files."""
    if code.kind == "file":
        if code.source is not None:
            yield (code.path.name if code.path is not None else code.name), code.source
        return
    if code.path is None:
        return
    init = code.path / "__init__.py"
    others = sorted(
        path
        for path in code.path.rglob("*.py")
        if path != init and "__pycache__" not in path.relative_to(code.path).parts
    )
    for path in (init, *others):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the loader reports what it cannot read
        yield path.relative_to(code.path.parent).as_posix(), text


def _refusal(
    plugin: str, spec: TriggerSpec, function: str, names: set[str]
) -> MissingEntryPointError:
    signature = ENTRY_POINT_SIGNATURES[function].split(" -> ")[0]
    message = ENTRY_POINT_REFUSAL.format(
        plugin=plugin, signature=signature, spec=_SPEC_LABEL[spec.kind]
    )
    present = [entry for entry in _SPECS_FOR_ENTRY if entry in names]
    if present:
        uses = " or ".join(f"{entry} ({_SPECS_FOR_ENTRY[entry]} triggers)" for entry in present)
        hint = f"it defines {uses}: use such a trigger, or define {function}"
    else:
        hint = f"define {function} in {plugin}"
    return MissingEntryPointError(message, hint=hint)


def _module_names(tree: ast.Module) -> set[str] | None:
    """Every name the module may bind at module level; None when that cannot be known."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _DYNAMIC_CALLS:
                return None
        if isinstance(node, ast.Global):
            names.update(node.names)
    _collect(tree.body, names)
    return None if "__getattr__" in names else names


def _collect(nodes: Iterable[ast.AST], names: set[str]) -> None:
    # over-approximates (comprehension targets count): a name wrongly seen only means a plugin
    # is accepted, and the first run reports it as upstream does
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        _collect(ast.iter_child_nodes(node), names)


def _api_names(trees: list[ast.Module]) -> set[str]:
    """``influxdb3_local`` and whatever the plugin's ``process_writes`` calls its first argument."""
    names = {_API_NAME}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.args.args:
                if node.name == "process_writes":
                    names.add(node.args.args[0].arg)
    return names


def _own_database_write(trees: list[ast.Module], database: str) -> str | None:
    """The first API method the plugin calls to write to ``database``, if any."""
    api = _api_names(trees)
    for tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver, method = node.func.value, node.func.attr
            if not (isinstance(receiver, ast.Name) and receiver.id in api):
                continue
            if method in _OWN_DB_WRITES:
                return method
            if method in _OTHER_DB_WRITES and _first_argument(node, "db_name") == database:
                return method
    return None


def _first_argument(call: ast.Call, keyword: str) -> object:
    if call.args:
        first = call.args[0]
        return first.value if isinstance(first, ast.Constant) else None
    for item in call.keywords:
        if item.arg == keyword and isinstance(item.value, ast.Constant):
            return item.value.value
    return None


def _loop_warning(plugin: str, database: str, method: str) -> str:
    return (
        f"plugin {plugin} writes to {database}, its trigger's own database "
        f"(influxdb3_local.{method}), and an all_tables trigger runs on every write to "
        f"{database}: each run's writes trigger it again, forever unless the plugin skips the "
        "tables it writes. Use a table:<TABLE> trigger for the tables it reads, or write to "
        "another database with write_to_db"
    )
