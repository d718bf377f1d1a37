"""``<PLUGIN_DIR>/pylock.toml``: the plugin venv's packages, in the PEP 751 format.

uv resolves (``uv pip compile --format pylock.toml --generate-hashes``); this module reads its
output and writes the lock a node commits: the standard tables (``lock-version``,
``[[packages]]`` with ``name``, ``version``, ``marker``, ``wheels`` and ``sdist`` with their
hashes) that uv and ``pip`` read, plus pluginmgr's own facts in the ``tool`` tables PEP 751
reserves for tools::

    [[packages]]
    name = "libx"
    version = "1.0"
    wheels = [{ url = "…", hashes = { sha256 = "…" } }]
    [packages.tool.pluginmgr]
    required-by = ["gh:ops/plugin_a/plugin_a.py", "liby"]   # requesters or packages
    provided-by = "runtime"   # only when the runtime's own environment supplies it

    [tool.pluginmgr]
    format-version = 1
    inputs-sha256 = "…"        # what the lock was resolved from (stale when it changes)
    python = "3.11"            # major.minor, implementation and platform it was resolved for
    [[tool.pluginmgr.requesters]]
    name = "gh:ops/plugin_a/plugin_a.py"
    declared-in = "manifest.toml"
    requirements = ["libx<2"]
    reason = "pinned"          # why it is in the set: pinned, trigger, added, all-plugins, operator

So ``deps why`` and ``deps tree`` need no resolver, and a stale lock can say what changed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from packaging.markers import InvalidMarker, Marker, UndefinedEnvironmentName
from packaging.utils import canonicalize_name

from .atomic import atomic_write
from .errors import LockfileError

__all__ = [
    "PYLOCK_NAME",
    "LockedFile",
    "LockedPackage",
    "PyLock",
    "Requester",
    "dump_pylock",
    "hashed_requirements",
    "parse_pylock",
    "read_pylock",
    "write_pylock",
]

PYLOCK_NAME: Final = "pylock.toml"
FORMAT_VERSION: Final = 1
RUNTIME: Final = "runtime"
_HEADER: Final = (
    "# pylock.toml (PEP 751): the plugin venv's packages, resolved together for every plugin.\n"
    "# Written by `pluginmgr deps lock`; commit it next to plugins.lock. `pluginmgr deps sync`\n"
    "# makes the venv exactly this; `pluginmgr deps why PKG` says which plugin needs what.\n"
)
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class LockedFile:
    """A wheel or sdist of a locked package: where it came from and its hashes."""

    name: str
    hashes: Mapping[str, str]
    url: str | None = None
    path: str | None = None
    size: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  #: other keys, written back as read

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One ``[[packages]]`` entry."""

    name: str
    version: str
    marker: str | None = None
    wheels: tuple[LockedFile, ...] = ()
    sdist: LockedFile | None = None
    required_by: tuple[str, ...] = ()  #: requester names and package names, sorted
    provided_by: str | None = None  #: "runtime" when the runtime's environment supplies it
    extra: Mapping[str, Any] = field(default_factory=dict)  #: other keys (index, …)

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    @property
    def from_runtime(self) -> bool:
        return self.provided_by == RUNTIME

    def applies(self, environment: Mapping[str, str] | None = None) -> bool:
        """Whether its marker holds for ``environment`` (this interpreter when None)."""
        if not self.marker:
            return True
        try:
            return Marker(self.marker).evaluate(dict(environment) if environment else None)
        except (InvalidMarker, UndefinedEnvironmentName):
            return True  # let the installer decide; never drop a package silently


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked for packages: a plugin (its declaration) or the operator (requirements.in)."""

    name: str
    declared_in: str
    requirements: tuple[str, ...]
    location: str | None = None
    #: why it is in the set: pinned, trigger, added, all-plugins or operator (None: an older lock)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PyLock:
    """A parsed pylock.toml."""

    packages: tuple[LockedPackage, ...]
    requesters: tuple[Requester, ...] = ()
    constraints: tuple[str, ...] = ()
    inputs_sha256: str = ""
    python: str = ""
    implementation: str = ""
    platform: str = ""
    requires_python: str | None = None
    #: resolved from every plugin under the plugin dir (``deps lock --all-plugins``), kept
    all_plugins: bool = False

    def by_name(self) -> dict[str, LockedPackage]:
        return {package.key: package for package in self.packages}

    def installable(self, environment: Mapping[str, str] | None = None) -> list[LockedPackage]:
        """What the venv must hold: packages for this interpreter the runtime does not supply."""
        return [p for p in self.packages if not p.from_runtime and p.applies(environment)]


# -- reading ----------------------------------------------------------------------------------


def _file(raw: Any, *, where: str) -> LockedFile:
    if not isinstance(raw, dict):
        raise LockfileError(f"{where}: expected a table, got {type(raw).__name__}")
    hashes = raw.get("hashes")
    if not isinstance(hashes, dict) or not hashes:
        raise LockfileError(f"{where}: no hashes", hint="re-create it with `pluginmgr deps lock`")
    url, path = raw.get("url"), raw.get("path")
    name = raw.get("name") or Path(str(url or path or "")).name
    if not name:
        raise LockfileError(f"{where}: neither a name nor a url or path")
    known = {"name", "hashes", "url", "path", "size"}
    return LockedFile(
        name=str(name).rsplit("/", 1)[-1],
        hashes={str(k): str(v) for k, v in hashes.items()},
        url=str(url) if url else None,
        path=str(path) if path else None,
        size=raw.get("size") if isinstance(raw.get("size"), int) else None,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _package(raw: Any, index: int, *, source: str) -> LockedPackage:
    where = f"{source}: packages[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise LockfileError(f"{where}: expected a table with a name")
    if not isinstance(raw.get("version"), str):
        raise LockfileError(f"{where} ({raw['name']}): no version")
    wheels = tuple(
        _file(w, where=f"{where}.wheels[{i}]") for i, w in enumerate(raw.get("wheels") or ())
    )
    sdist = _file(raw["sdist"], where=f"{where}.sdist") if raw.get("sdist") else None
    ours = (raw.get("tool") or {}).get("pluginmgr") or {}
    known = {"name", "version", "marker", "wheels", "sdist", "tool"}
    return LockedPackage(
        name=raw["name"],
        version=raw["version"],
        marker=raw.get("marker") or None,
        wheels=wheels,
        sdist=sdist,
        required_by=tuple(ours.get("required-by") or ()),
        provided_by=ours.get("provided-by"),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def parse_pylock(text: str, *, source: str = PYLOCK_NAME) -> PyLock:
    """Parse pylock.toml text (uv's output or ours); `LockfileError` naming ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = f"{source} is not valid TOML: {exc}"
        raise LockfileError(message, hint="re-create it with `pluginmgr deps lock`") from None
    version = str(data.get("lock-version", ""))
    if not version.startswith("1."):
        message = f"{source}: unsupported lock-version {version or '(none)'!r}; expected 1.x"
        raise LockfileError(message, hint="re-create it with `pluginmgr deps lock`")
    ours = (data.get("tool") or {}).get("pluginmgr") or {}
    if int(ours.get("format-version", FORMAT_VERSION)) > FORMAT_VERSION:
        message = f"{source} was written by a newer pluginmgr"
        raise LockfileError(message, hint="upgrade pluginmgr to read it")
    packages = tuple(
        _package(raw, i, source=source) for i, raw in enumerate(data.get("packages") or ())
    )
    requesters = tuple(
        Requester(
            name=str(r.get("name", "")),
            declared_in=str(r.get("declared-in", "")),
            requirements=tuple(r.get("requirements") or ()),
            location=r.get("location"),
            reason=r.get("reason"),
        )
        for r in ours.get("requesters") or ()
    )
    return PyLock(
        packages=packages,
        requesters=requesters,
        constraints=tuple(ours.get("constraints") or ()),
        inputs_sha256=str(ours.get("inputs-sha256", "")),
        python=str(ours.get("python", "")),
        implementation=str(ours.get("implementation", "")),
        platform=str(ours.get("platform", "")),
        requires_python=data.get("requires-python"),
        all_plugins=ours.get("all-plugins") is True,
    )


def read_pylock(path: Path) -> PyLock | None:
    """The lock at ``path``; None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_pylock(text, source=str(path))


# -- writing ----------------------------------------------------------------------------------


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _datetime(value: dt.datetime | dt.date | dt.time) -> str:
    """TOML's date and time forms; UTC as ``Z``, as uv writes ``upload-time``."""
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


def _value(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _datetime(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML basic strings
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _file_table(item: LockedFile) -> dict[str, Any]:
    table: dict[str, Any] = {"name": item.name}
    if item.url:
        table["url"] = item.url
    if item.path:
        table["path"] = item.path
    if item.size is not None:
        table["size"] = item.size
    table.update(item.extra)
    table["hashes"] = dict(item.hashes)
    return table


def _lines(table: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]


def _package_lines(package: LockedPackage) -> list[str]:
    out = ["[[packages]]", f"name = {_value(package.name)}", f"version = {_value(package.version)}"]
    if package.marker:
        out.append(f"marker = {_value(package.marker)}")
    out += _lines(package.extra)
    if package.wheels:
        wheels = [_value(_file_table(w)) for w in package.wheels]
        out.append("wheels = [\n" + "".join(f"    {w},\n" for w in wheels) + "]")
    if package.sdist is not None:
        out.append(f"sdist = {_value(_file_table(package.sdist))}")
    ours: dict[str, Any] = {"required-by": list(package.required_by)}
    if package.provided_by:
        ours["provided-by"] = package.provided_by
    out += ["", "[packages.tool.pluginmgr]", *_lines(ours)]
    return out


def dump_pylock(lock: PyLock) -> str:
    """The lock as TOML: packages sorted by name, then pluginmgr's inputs."""
    out = [_HEADER.rstrip("\n"), 'lock-version = "1.0"', 'created-by = "pluginmgr"']
    if lock.requires_python:
        out.append(f"requires-python = {_value(lock.requires_python)}")
    for package in sorted(lock.packages, key=lambda p: p.key):
        out += ["", *_package_lines(package)]
    ours = {
        "format-version": FORMAT_VERSION,
        "inputs-sha256": lock.inputs_sha256,
        "python": lock.python,
        "implementation": lock.implementation,
        "platform": lock.platform,
        "constraints": list(lock.constraints),
        "all-plugins": True if lock.all_plugins else None,
    }
    out += ["", "[tool.pluginmgr]", *_lines(ours)]
    for requester in lock.requesters:
        table = {
            "name": requester.name,
            "declared-in": requester.declared_in,
            "location": requester.location,
            "requirements": list(requester.requirements),
            "reason": requester.reason,
        }
        out += ["", "[[tool.pluginmgr.requesters]]", *_lines(table)]
    return "\n".join(out) + "\n"


def write_pylock(path: Path, lock: PyLock) -> bool:
    """Write ``lock`` to ``path`` atomically (temp file, fsync, rename), unless the file already
    holds exactly that. :returns: whether the file changed."""
    data = dump_pylock(lock).encode()
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write(path, data)
    return True


# -- replay -----------------------------------------------------------------------------------


def hashed_requirements(packages: Iterable[LockedPackage]) -> str:
    """``name==version --hash=…`` lines for ``uv pip sync --require-hashes`` (pip-tools style).

    Every hash of every wheel and sdist the lock lists is allowed, so the installer can pick the
    file for this platform, and nothing else can be installed.
    """
    lines = []
    for package in packages:
        digests = sorted(
            {
                f"{algorithm}:{value}"
                for item in (*package.wheels, *((package.sdist,) if package.sdist else ()))
                for algorithm, value in item.hashes.items()
            }
        )
        hashes = "".join(f" \\\n    --hash={digest}" for digest in digests)
        lines.append(f"{package.name}=={package.version}{hashes}")
    return "\n".join(lines) + ("\n" if lines else "")
