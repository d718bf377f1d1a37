"""Writing ``<PLUGIN_DIR>/pylock.toml``: `dump_pylock` (the TOML text) and `write_pylock`.

Apart from `pylock` (the types and the reader) because writing has its own rules: PEP 751's key
order, packages sorted by name, pluginmgr's ``[tool.pluginmgr]`` tables, other tools' tables
written back as read, and an atomic write that leaves an unchanged file alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from ..atomic import atomic_write
from .pylock import CREATED_BY, FORMAT_VERSION, TOOL, LockedFile, LockedPackage, PyLock
from .toml_writer import toml_lines, toml_sections

__all__ = ["dump_pylock", "holds_pylock", "write_pylock"]

_HEADER: Final = (
    "# pylock.toml (PEP 751): the plugin venv's packages, resolved together for every plugin.\n"
    "# Written by `pluginmgr deps lock`; commit it next to plugins.lock. `pluginmgr deps sync`\n"
    "# makes the venv exactly this; `pluginmgr deps why PKG` says which plugin needs what.\n"
)
#: the order PEP 751 lists the keys in, which the writer follows (other keys come after)
_TOP_ORDER: Final = (
    "lock-version",
    "environments",
    "requires-python",
    "extras",
    "dependency-groups",
    "default-groups",
    "created-by",
)
_PACKAGE_ORDER: Final = (
    "name",
    "version",
    "marker",
    "requires-python",
    "dependencies",
    "index",
    "vcs",
    "directory",
    "archive",
    "sdist",
    "wheels",
    "attestation-identities",
)


def _file_table(item: LockedFile) -> dict[str, Any]:
    table: dict[str, Any] = {"name": item.name} if item.named else {}
    if item.url:
        table["url"] = item.url
    if item.path:
        table["path"] = item.path
    if item.size is not None:
        table["size"] = item.size
    table.update(item.extra)
    table["hashes"] = dict(item.hashes)
    return table


def _package_lines(package: LockedPackage) -> list[str]:
    table: dict[str, Any] = {"name": package.name}
    if package.version:
        table["version"] = package.version
    table["marker"] = package.marker
    table.update(package.extra)
    table["wheels"] = [_file_table(w) for w in package.wheels] or None
    table["sdist"] = _file_table(package.sdist) if package.sdist is not None else None
    ours: dict[str, Any] = {"required-by": list(package.required_by)}
    if package.build_requires:
        ours["build-requires"] = list(package.build_requires)
    tools = toml_sections("packages.tool", {TOOL: ours, **package.tool})
    return ["[[packages]]", *toml_lines(table, _PACKAGE_ORDER), *tools]


def dump_pylock(lock: PyLock) -> str:
    """The lock as TOML: the standard keys, packages sorted by name, pluginmgr's inputs, then
    the other tools' tables."""
    top: dict[str, Any] = {"lock-version": lock.lock_version or "1.0"}
    top["requires-python"] = lock.requires_python
    top.update(lock.extra)
    top["created-by"] = CREATED_BY
    out = [_HEADER.rstrip("\n"), *toml_lines(top, _TOP_ORDER)]
    for package in sorted(lock.packages, key=lambda p: p.key):
        out += ["", *_package_lines(package)]
    ours = {
        "format-version": FORMAT_VERSION,
        "inputs-sha256": lock.inputs_sha256,
        "python": lock.python,
        "implementation": lock.implementation,
        "platform": lock.platform,
        "resolved-by": lock.resolved_by or None,
        "constraints": list(lock.constraints),
        "all-plugins": True if lock.all_plugins else None,
        "build-constraints": list(lock.build_constraints) or None,
    }
    out += toml_sections("tool", {TOOL: ours})
    for requester in lock.requesters:
        table = {
            "name": requester.name,
            "declared-in": requester.declared_in,
            "location": requester.location,
            "requirements": list(requester.requirements),
            "reason": requester.reason,
        }
        out += ["", "[[tool.pluginmgr.requesters]]", *toml_lines(table)]
    out += toml_sections("tool", lock.tool)
    return "\n".join(out) + "\n"


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def holds_pylock(path: Path, lock: PyLock) -> bool:
    """Whether the file at ``path`` already holds exactly ``lock`` (what a dry run would keep)."""
    return _holds(path, dump_pylock(lock).encode())


def write_pylock(path: Path, lock: PyLock) -> bool:
    """Write ``lock`` to ``path`` atomically (temp file, fsync, rename), unless the file already
    holds exactly that. :returns: whether the file changed."""
    data = dump_pylock(lock).encode()
    if _holds(path, data):
        return False
    atomic_write(path, data)
    return True
