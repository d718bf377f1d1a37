"""`sync_venv`: make the plugin venv exactly what pylock.toml says, nothing else.

* **No-op first**: the venv's distributions (name and version) are compared with the lock's;
  when they are the same set, no installer starts (a few milliseconds in-process).
* **Hash-checked**: the installer gets ``name==version --hash=…`` for every package
  (``uv pip sync --require-hashes``), so a file whose bytes the lock does not list is refused.
  Wheels in a local ``--find-links`` directory are re-hashed here first, so a tampered mirror
  wheel is refused *by name* before anything is installed.
* **Exact**: packages the lock does not list are removed; the runtime's own distributions are
  not installed (the runtime supplies them).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from .errors import IntegrityError
from .installers import disabled_error
from .mirror_state import file_sha256
from .pylock import LockedPackage, PyLock
from .transports import local_path

if TYPE_CHECKING:
    from .installers import InstallOptions
    from .venv import PluginEnv

__all__ = [
    "SyncPlan",
    "SyncResult",
    "hashed_requirements",
    "plan_sync",
    "sync_venv",
    "verify_local_wheels",
]


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a sync would change: name -> (installed version or None, locked version or None)."""

    install: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    remove: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.install and not self.remove


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What `sync_venv` did."""

    plan: SyncPlan
    ran_installer: bool
    seconds: float
    output: str = ""
    created_venv: bool = False
    relocked: str | None = None  #: why the lock was re-resolved first (a Python upgrade)


def _same(installed: str, locked: str) -> bool:
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return installed == locked


def plan_sync(installed: Mapping[str, str], packages: Sequence[LockedPackage]) -> SyncPlan:
    """The difference between the venv (canonical name -> version) and the locked packages."""
    wanted = {p.key: p.version for p in packages}
    install = {
        name: (installed.get(name), version)
        for name, version in wanted.items()
        if name not in installed or not _same(installed[name], version)
    }
    remove = {name: version for name, version in installed.items() if name not in wanted}
    return SyncPlan(install, remove)


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


def _local_dirs(links: Sequence[str]) -> list[Path]:
    paths = [local_path(link) for link in links]
    return [path for path in paths if path is not None and path.is_dir()]


def verify_local_wheels(packages: Sequence[LockedPackage], find_links: Sequence[str]) -> int:
    """Re-hash every file of ``packages`` found in a local ``find_links`` directory.

    :returns: how many files were checked.
    :raises IntegrityError: naming the first file whose sha256 the lock does not list.
    """
    checked = 0
    for folder in _local_dirs(find_links):
        for package in packages:
            for item in (*package.wheels, *((package.sdist,) if package.sdist else ())):
                path = folder / item.name
                if item.sha256 is None or not path.is_file():
                    continue
                actual = file_sha256(path)
                checked += 1
                if actual != item.sha256:
                    message = (
                        f"{path} does not match pylock.toml ({package.name} {package.version}: "
                        f"expected sha256 {item.sha256[:16]}…, got {actual[:16]}…); it was "
                        "damaged or tampered with, and nothing was installed"
                    )
                    raise IntegrityError(
                        message, hint="re-sync the mirror (`pluginmgr mirror sync`) and retry"
                    )
    return checked


def sync_venv(env: PluginEnv, lock: PyLock, options: InstallOptions) -> SyncResult:
    """Make ``env`` exactly ``lock`` (creating the venv if missing); see the module docstring."""
    start = time.perf_counter()
    packages = lock.installable()
    installed = env.installed()
    plan = plan_sync(installed, packages)
    if plan.empty and env.venv_python.exists():
        return SyncResult(plan, False, time.perf_counter() - start)
    if env.installer is None:
        raise disabled_error()
    changing = [p for p in packages if p.key in plan.install]
    verify_local_wheels(changing, options.find_links)
    created = not env.venv_python.exists()
    with tempfile.TemporaryDirectory(prefix="pluginmgr-sync-") as tmp:
        requirements = Path(tmp) / "pylock-requirements.txt"
        requirements.write_text(hashed_requirements(packages), encoding="utf-8")
        output = env.sync(requirements, sorted(plan.remove), options)
    return SyncResult(plan, True, time.perf_counter() - start, output, created)
