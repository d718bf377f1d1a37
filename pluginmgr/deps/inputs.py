"""What the plugin venv is resolved from: the declarations of the plugins in use and the
operator's files.

::

    requesters  = every plugin pinned in plugins.lock that declares requirements   (pinned)
                + every local plugin plugins.in records that declares some     (trigger, added)
                + with ``all_plugins`` (``deps lock --all-plugins``): every other plugin file
                  and package under the plugin dir that declares some          (all-plugins)
                + the operator's <PLUGIN_DIR>/requirements.in (``install package PKG``) (operator)
                - the plugins only isolated triggers use (``envs/isolated-only.txt``): each
                  such trigger has an environment of its own (`pluginmgr.deps.isolated`)
    constraints = the operator's <PLUGIN_DIR>/constraints.txt (``deps constrain SPEC``)

The server's own distributions are not inputs: plugins run in a host process on the venv's
interpreter, which imports nothing of the server's environment.

A file that merely lies in the plugin dir is not in the set: a trigger uses it or the operator
added it (`pluginmgr.deps.plugins_in`). The requesters (not their reasons), constraints and
interpreter (major.minor, implementation, platform) hash to `DependencyInputs.sha256`, which
the lock records: when it changes, the lock is stale.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import InvalidRequirement, Requirement

from ..atomic import atomic_write
from ..errors import DependencyDeclarationError, PluginManagerError, ResolveError
from ..fetch.plugin_dir import validate_path_within_plugin_dir
from ..fetch.refs import GhRef, GitRef, RegistryRef, parse_ref
from .declared import declared_deps_for_path
from .plugins_in import ADDED, TRIGGER, isolated_only, read_plugins_in
from .pylock import Requester
from .requirements_file import parse_requirements

if TYPE_CHECKING:
    from ..fetch.fetched import FetchedPlugin
    from ..fetch.manager import PluginManager

__all__ = [
    "ALL_PLUGINS",
    "CONSTRAINTS_NAME",
    "OPERATOR",
    "OPERATOR_REASON",
    "PINNED",
    "REQUIREMENTS_NAME",
    "DependencyInputs",
    "gather_inputs",
    "interpreter_facts",
    "is_plugin_ref",
    "local_plugin_paths",
    "local_selection",
    "read_spec_file",
    "requester_name",
    "write_spec_file",
]

REQUIREMENTS_NAME: Final = "requirements.in"
CONSTRAINTS_NAME: Final = "constraints.txt"
#: the requester name of the operator's requirements.in
OPERATOR: Final = REQUIREMENTS_NAME
#: why a requester is in the set (`Requester.reason`), besides plugins_in's trigger and added
PINNED: Final = "pinned"
ALL_PLUGINS: Final = "all-plugins"
OPERATOR_REASON: Final = "operator"
_RANK: Final = {TRIGGER: 0, ADDED: 1, ALL_PLUGINS: 2}
_SKIP_DIRS: Final = frozenset(
    {"venv", ".venv", "envs", "__pycache__", "site-packages", "node_modules"}
)
_MAX_DEPTH: Final = 4


@dataclass(frozen=True, slots=True)
class DependencyInputs:
    """Everything a resolution depends on.

    ``members``: the plugins in the set, declaring requirements or not (a requester that left
    can then be told from one that stopped declaring); ``all_plugins``: every plugin under the
    plugin dir was taken. Neither is hashed: the requesters say what the resolution read.
    """

    requesters: tuple[Requester, ...]
    constraints: tuple[str, ...]
    python: str
    implementation: str
    platform: str
    members: frozenset[str] = frozenset()
    all_plugins: bool = False

    @property
    def sha256(self) -> str:
        data = {
            "requesters": sorted(
                [r.name, r.declared_in, sorted(r.requirements)] for r in self.requesters
            ),
            "constraints": sorted(self.constraints),
            "python": [self.python, self.implementation, self.platform],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @property
    def requirement_count(self) -> int:
        return sum(len(r.requirements) for r in self.requesters)


def interpreter_facts(version: tuple[int, int], implementation: str) -> tuple[str, str, str]:
    """(major.minor, implementation, platform) of the interpreter a lock is resolved for."""
    return (
        f"{version[0]}.{version[1]}",
        implementation.lower(),
        f"{sys.platform}-{platform.machine()}",
    )


def _checked(specs: Sequence[str], *, where: str) -> tuple[str, ...]:
    normalised = []
    for spec in specs:
        try:
            normalised.append(str(Requirement(spec)))
        except InvalidRequirement as exc:
            message = f"{where}: invalid requirement {spec!r}: {exc}"
            raise DependencyDeclarationError(message, path=where, hint="fix or remove it") from None
    return tuple(dict.fromkeys(normalised))


def read_spec_file(path: Path) -> tuple[str, ...]:
    """The requirements in an operator file (requirements.in / constraints.txt); () if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    requirements, _hashes = parse_requirements(text, location=str(path))
    return _checked(requirements, where=str(path))


def write_spec_file(path: Path, specs: Sequence[str], *, what: str) -> None:
    """Write an operator file atomically, one requirement per line under a header."""
    header = f"# {what}; managed by pluginmgr, edits by hand are kept.\n"
    atomic_write(path, (header + "".join(f"{s}\n" for s in specs)).encode())


def _requester(name: str, path: Path, root: Path, reason: str) -> Requester | None:
    declared = declared_deps_for_path(path)
    if not declared.requirements:
        return None
    location = declared.location
    if location:  # relative to the lock's directory, whatever the cwd
        try:
            location = Path(location).absolute().relative_to(root.absolute()).as_posix()
        except ValueError:
            pass
    return Requester(name, declared.source, declared.requirements, location, reason)


def _local_candidates(plugin_dir: Path, venv: Path) -> Iterator[Path]:
    """Plugin files and package directories under ``plugin_dir`` (not the venv, not hidden)."""
    stack = [(plugin_dir, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIP_DIRS or entry == venv:
                continue
            if entry.is_dir():
                if (entry / "__init__.py").is_file():
                    yield entry  # a package plugin: its modules are not plugins of their own
                elif depth < _MAX_DEPTH:
                    stack.append((entry, depth + 1))
            elif entry.suffix == ".py" and entry.is_file():
                yield entry


def local_plugin_paths(plugin_dir: Path, venv: Path) -> list[Path]:
    """The plugin files and package directories under ``plugin_dir``, sorted, by the rule the
    dependency set reads them with (`_local_candidates`)."""
    return sorted(_local_candidates(plugin_dir, venv))


def local_selection(plugin_dir: Path, venv: Path, *, all_plugins: bool) -> dict[str, str]:
    """The local plugins in the set, name -> reason: those plugins.in records (``trigger``,
    ``added``) and, with ``all_plugins``, every other one under the plugin dir."""
    selected = read_plugins_in(plugin_dir)
    if all_plugins:
        for path in _local_candidates(plugin_dir, venv):
            selected.setdefault(path.relative_to(plugin_dir).as_posix(), ALL_PLUGINS)
    return dict(sorted(selected.items()))


def _local_requesters(plugin_dir: Path, selected: Mapping[str, str]) -> list[Requester]:
    """One requester per declaration: files sharing a manifest.toml count once, as the file
    named after their folder when there is one, with the strongest reason among them. A
    recorded plugin whose file is gone declares nothing."""
    found: dict[tuple[str, str | None], Requester] = {}
    for name, reason in selected.items():
        path = validate_path_within_plugin_dir(plugin_dir, name)
        if not path.exists():
            continue
        requester = _requester(name, path, plugin_dir, reason)
        if requester is None:
            continue
        shared = requester.declared_in in ("manifest.toml", "requirements.txt")
        key = (requester.declared_in, requester.location if shared else name)
        previous = found.get(key)
        if previous is None:
            found[key] = requester
            continue
        best = min(reason, previous.reason or ALL_PLUGINS, key=_RANK.__getitem__)
        kept = requester if path.stem == path.parent.name else previous
        found[key] = replace(kept, reason=best)
    return list(found.values())


def requester_name(plugin: FetchedPlugin, plugin_dir: Path) -> str:
    """The plugin's name among a set's requesters: its path under the plugin dir for a local
    one, its reference for a pinned one."""
    if plugin.origin != "local" and plugin.kind != "directory":
        return plugin.ref
    try:
        return plugin.path.resolve().relative_to(plugin_dir.resolve()).as_posix()
    except ValueError:
        return plugin.ref


def is_plugin_ref(ref: str, kind: str) -> bool:
    """True for a plugin, False for a sibling pinned with one (manifest.toml, requirements)."""
    parsed = parse_ref(ref)
    if isinstance(parsed, RegistryRef) or kind == "directory":
        return True
    if isinstance(parsed, GhRef | GitRef):
        return parsed.path.endswith(".py")
    return False


def _pinned_requesters(
    manager: PluginManager, members: set[str], excluded: frozenset[str], *, pinned_only: bool
) -> list[Requester]:
    from ..fetch.lockfile import read_lock
    from .plugin_deps import plugin_requirements

    requesters = []
    for ref, entry in sorted(read_lock(manager.settings.lock_path).items()):
        if not is_plugin_ref(ref, entry.kind):
            continue  # a sibling (manifest.toml, requirements.txt) pinned with its plugin
        if ref in excluded:
            continue  # only isolated triggers use it: resolved in their own environments
        members.add(ref)
        try:
            declared = plugin_requirements(manager, manager.fetch(ref), pinned_only=pinned_only)
        except PluginManagerError as exc:
            message = f"cannot read what {ref} (pinned in plugins.lock) declares: {exc.message}"
            hint = exc.hint or "pass the --cache-dir and --plugin-repo it was fetched with"
            raise ResolveError(message, ref=ref, hint=hint) from exc
        if declared.requirements:
            requesters.append(
                Requester(ref, declared.source, declared.requirements, declared.location, PINNED)
            )
    return requesters


def gather_inputs(
    manager: PluginManager,
    plugin_dir: Path,
    venv: Path,
    interpreter: tuple[str, str, str],
    *,
    pinned_only: bool,
    all_plugins: bool = False,
) -> DependencyInputs:
    """Read the declarations of the plugins in use and the operator's files.

    :param pinned_only: read only the siblings the lock file pins (no request; see
        `pluginmgr.deps.plugin_deps.plugin_sibling`). ``deps lock`` reads siblings online.
    :param all_plugins: take every plugin under the plugin dir, used or not.
    """
    members: set[str] = set()
    excluded = isolated_only(plugin_dir)
    requesters = _pinned_requesters(manager, members, excluded, pinned_only=pinned_only)
    selected = {
        name: reason
        for name, reason in local_selection(plugin_dir, venv, all_plugins=all_plugins).items()
        if name not in excluded or reason == ADDED  # the operator's choice stands
    }
    members.update(selected)
    requesters += _local_requesters(plugin_dir, selected)
    operator = read_spec_file(plugin_dir / REQUIREMENTS_NAME)
    if operator:
        requesters.append(
            Requester(OPERATOR, REQUIREMENTS_NAME, operator, REQUIREMENTS_NAME, OPERATOR_REASON)
        )
    constraints = read_spec_file(plugin_dir / CONSTRAINTS_NAME)
    return DependencyInputs(
        tuple(requesters),
        constraints,
        *interpreter,
        members=frozenset(members),
        all_plugins=all_plugins,
    )
