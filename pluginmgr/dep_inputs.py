"""What the plugin venv is resolved from: every plugin's declaration, the operator's files, the
runtime's own distributions.

::

    requesters  = every plugin pinned in plugins.lock that declares requirements
                + every plugin under the plugin dir that declares some (files and packages)
                + the operator's <PLUGIN_DIR>/requirements.in (``install package PKG``)
    constraints = the operator's <PLUGIN_DIR>/constraints.txt (``deps constrain SPEC``)
    runtime     = the distributions of the running process outside the plugin venv, pinned ==:
                  a plugin may not pull a pyarrow or numpy the engine cannot import beside its own

The requesters, constraints and interpreter (major.minor, implementation, platform) hash to
`DependencyInputs.sha256`, which the lock records: when it changes, the lock is stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .atomic import atomic_write
from .declared_deps import declared_deps_for_path, parse_requirements
from .errors import DependencyDeclarationError, PluginManagerError, ResolveError
from .pylock import Requester
from .refs import GhRef, GitRef, RegistryRef, parse_ref
from .requirement_check import runtime_paths

if TYPE_CHECKING:
    from .manager import PluginManager

__all__ = [
    "CONSTRAINTS_NAME",
    "OPERATOR",
    "REQUIREMENTS_NAME",
    "DependencyInputs",
    "gather_inputs",
    "interpreter_facts",
    "is_plugin_ref",
    "local_plugin_paths",
    "read_spec_file",
    "runtime_distributions",
    "write_spec_file",
]

REQUIREMENTS_NAME: Final = "requirements.in"
CONSTRAINTS_NAME: Final = "constraints.txt"
#: the requester name of the operator's requirements.in
OPERATOR: Final = REQUIREMENTS_NAME
_SKIP_DIRS: Final = frozenset({"venv", ".venv", "__pycache__", "site-packages", "node_modules"})
_MAX_DEPTH: Final = 4


@dataclass(frozen=True, slots=True)
class DependencyInputs:
    """Everything a resolution depends on (the runtime's versions are checked separately)."""

    requesters: tuple[Requester, ...]
    constraints: tuple[str, ...]
    python: str
    implementation: str
    platform: str

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


def _requester(name: str, path: Path, root: Path | None = None) -> Requester | None:
    declared = declared_deps_for_path(path)
    if not declared.requirements:
        return None
    location = declared.location
    if root is not None and location and Path(location).is_absolute():
        try:
            location = Path(location).relative_to(root).as_posix()
        except ValueError:
            pass
    return Requester(name, declared.source, declared.requirements, location)


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


def _local_requesters(plugin_dir: Path, venv: Path) -> list[Requester]:
    """One requester per declaration: files sharing a manifest.toml count once, as the file
    named after their folder when there is one."""
    found: dict[tuple[str, str | None], Requester] = {}
    for path in sorted(_local_candidates(plugin_dir, venv)):
        name = path.relative_to(plugin_dir).as_posix()
        requester = _requester(name, path, plugin_dir)
        if requester is None:
            continue
        shared = requester.declared_in in ("manifest.toml", "requirements.txt")
        key = (requester.declared_in, requester.location if shared else name)
        previous = found.get(key)
        if previous is None or path.stem == path.parent.name:
            found[key] = requester
    return list(found.values())


def is_plugin_ref(ref: str, kind: str) -> bool:
    """True for a plugin, False for a sibling pinned with one (manifest.toml, requirements)."""
    parsed = parse_ref(ref)
    if isinstance(parsed, RegistryRef) or kind == "directory":
        return True
    if isinstance(parsed, GhRef | GitRef):
        return parsed.path.endswith(".py")
    return False


def _pinned_requesters(manager: PluginManager, *, pinned_only: bool) -> list[Requester]:
    from .lockfile import read_lock
    from .plugin_deps import plugin_requirements

    requesters = []
    for ref, entry in sorted(read_lock(manager.settings.lock_path).items()):
        if not is_plugin_ref(ref, entry.kind):
            continue  # a sibling (manifest.toml, requirements.txt) pinned with its plugin
        try:
            declared = plugin_requirements(manager, manager.fetch(ref), pinned_only=pinned_only)
        except PluginManagerError as exc:
            message = f"cannot read what {ref} (pinned in plugins.lock) declares: {exc.message}"
            hint = exc.hint or "pass the --cache-dir and --plugin-repo it was fetched with"
            raise ResolveError(message, ref=ref, hint=hint) from exc
        if declared.requirements:
            requesters.append(
                Requester(ref, declared.source, declared.requirements, declared.location)
            )
    return requesters


def gather_inputs(
    manager: PluginManager,
    plugin_dir: Path,
    venv: Path,
    interpreter: tuple[str, str, str],
    *,
    pinned_only: bool,
) -> DependencyInputs:
    """Read every declaration and the operator's files.

    :param pinned_only: read only the siblings the lock file pins (no request; see
        `pluginmgr.plugin_deps.plugin_sibling`). ``deps lock`` reads siblings online.
    """
    requesters = _pinned_requesters(manager, pinned_only=pinned_only)
    requesters += _local_requesters(plugin_dir, venv)
    operator = read_spec_file(plugin_dir / REQUIREMENTS_NAME)
    if operator:
        requesters.append(Requester(OPERATOR, REQUIREMENTS_NAME, operator, REQUIREMENTS_NAME))
    constraints = read_spec_file(plugin_dir / CONSTRAINTS_NAME)
    return DependencyInputs(tuple(requesters), constraints, *interpreter)


def _from_dir_name(entry: Path) -> tuple[str, str] | None:
    """(name, version) from ``name-version.dist-info`` / ``name-version[-pyX.Y].egg-info``."""
    stem, _, suffix = entry.name.rpartition(".")
    if suffix not in ("dist-info", "egg-info"):
        return None
    name, sep, rest = stem.partition("-")
    version = rest.split("-", 1)[0]
    return (name, version) if sep and version else None


def runtime_distributions(exclude: Sequence[Path]) -> dict[str, str]:
    """Distributions the running process can import, outside ``exclude`` (the plugin venv):
    canonical name -> version. The first one on ``sys.path`` wins, as at import time; which
    entries count is `requirement_check.runtime_paths`, the rule the trigger checks use.

    Names and versions come from the metadata directories' names (what installers write;
    about a millisecond for a hundred distributions); one whose name does not say is read.
    """
    found: dict[str, str] = {}
    for entry in runtime_paths(exclude=exclude):
        if not os.path.isdir(entry):
            continue
        with os.scandir(entry) as listing:
            for item in listing:
                parsed = _from_dir_name(Path(item.name))
                if parsed is None and item.name.endswith((".dist-info", ".egg-info")):
                    from importlib import metadata  # rare: a name that does not say

                    dist = metadata.PathDistribution(Path(item.path))
                    parsed = (dist.metadata["Name"] or "", dist.version)
                if parsed and parsed[0]:
                    found.setdefault(canonicalize_name(parsed[0]), parsed[1])
    return found
