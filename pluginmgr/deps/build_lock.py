"""The build backends of a lock's sdist-only packages, locked like the packages themselves.

Installs are wheels only unless the operator passes ``--allow-build``. With it, a package the
lock lists with an sdist and no wheel is built at sync, which runs the sdist's build backend
(``[build-system] requires``): code the lock would otherwise not pin. So `lock_build_backends`
reads ``build-system.requires`` from each such sdist (a local file: a ``--find-links`` folder
or a mirror), resolves their union to wheels with hashes, and records the pins in the lock::

    [[packages]]
    name = "pm-source"
    sdist = { path = "…/pm_source-1.0.0.tar.gz", hashes = { sha256 = "…" } }
    [packages.tool.pluginmgr]
    build-requires = ["pm-backend>=1.0"]

    [tool.pluginmgr]
    build-constraints = ["pm-backend==1.0.0 --hash=sha256:…"]

`build_constraints_file` writes them for ``uv pip sync --build-constraints``, which refuses a
backend whose version or hash differs. A backend's own dynamic requirements
(``get_requires_for_build_wheel``) are not in ``build-system.requires`` and stay unpinned.
"""

from __future__ import annotations

import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final

from ..errors import InstallError
from ..process import check, run
from .installers.uv import source_args
from .pylock import LockedFile, LockedPackage, PyLock
from .pylock_local import local_file

if TYPE_CHECKING:
    from .resolver import ResolveOptions

__all__ = ["build_constraints_file", "lock_build_backends", "sdist_build_requires"]

#: what PEP 517 front ends assume for an sdist without ``[build-system]``
_LEGACY: Final = ("setuptools>=40.8.0",)
_TIMEOUT: Final = 600.0


def _pyproject(path: Path) -> bytes | None:
    """The top-level ``pyproject.toml`` of an sdist (``.tar.gz`` or ``.zip``), if it has one."""

    def top(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return len(parts) == 2 and parts[1] == "pyproject.toml"

    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if top(n)), None)
            return archive.read(name) if name else None
    with tarfile.open(path) as tar:
        member = next((m for m in tar.getmembers() if m.isfile() and top(m.name)), None)
        handle = tar.extractfile(member) if member else None
        return handle.read() if handle else None


def sdist_build_requires(path: Path) -> tuple[str, ...]:
    """``build-system.requires`` of the sdist at ``path`` (setuptools when it names none)."""
    try:
        data = _pyproject(path)
        table = tomllib.loads(data.decode()) if data else {}
    except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeError, tomllib.TOMLDecodeError):
        message = f"cannot read the build requirements of {path}: not a readable sdist"
        raise InstallError(message, hint="re-download it, or drop --allow-build") from None
    requires = table.get("build-system", {}).get("requires")
    return tuple(str(r) for r in requires) if isinstance(requires, list) else _LEGACY


def _needs_build(package: LockedPackage) -> LockedFile | None:
    """The sdist of a package that only an sdist can install."""
    return None if package.wheels else package.sdist


def _requires(package: LockedPackage, sdist: LockedFile, lock_dir: Path) -> tuple[str, ...]:
    path = local_file(sdist, lock_dir)
    if path is None or not path.is_file():
        where = sdist.url or sdist.path
        message = (
            f"{package.name} {package.version} has only an sdist ({where}), which is not a "
            "local file, so its build backend cannot be read and locked"
        )
        hint = "put the sdist in a --find-links folder (or a mirror) and lock again"
        raise InstallError(message, hint=hint)
    return sdist_build_requires(path)


def _pins(text: str) -> tuple[str, ...]:
    """``name==version --hash=…`` per requirement of uv's hashed requirements output."""
    joined = text.replace("\\\n", " ")
    lines = [" ".join(line.split()) for line in joined.splitlines()]
    return tuple(line for line in lines if line and not line.startswith("#"))


def lock_build_backends(lock: PyLock, options: ResolveOptions) -> PyLock:
    """``lock`` with the build backends of its sdist-only packages resolved and pinned
    (unless the sources forbid building: then nothing is built, and nothing recorded)."""
    needing = [(p, sdist) for p in lock.packages if (sdist := _needs_build(p)) is not None]
    if not options.sources.allow_build or not needing:
        return lock
    lock_dir = options.lock_dir or Path.cwd()
    requires = {p.key: _requires(p, sdist, lock_dir) for p, sdist in needing}
    wheels_only = replace(options.sources, allow_build=False)  # a backend is never built
    with tempfile.TemporaryDirectory(prefix="pluginmgr-build-lock-") as tmp:
        work = Path(tmp)
        listed = "".join(f"{r}\n" for reqs in requires.values() for r in reqs)
        (work / "build.in").write_text(listed, encoding="utf-8")
        command: list[str | Path] = [options.uv, "pip", "compile", "build.in", "--quiet"]
        command += ["--python", options.python, "--generate-hashes", "--no-header"]
        command += ["--no-annotate", *source_args(wheels_only), "-o", work / "build.txt"]
        result = run(command, timeout=_TIMEOUT, cwd=work)
        check(result, what="locking the build backends of sdists", log_dir=options.log_dir)
        pins = _pins((work / "build.txt").read_text(encoding="utf-8"))
    packages = tuple(
        replace(p, build_requires=requires[p.key]) if p.key in requires else p
        for p in lock.packages
    )
    return replace(lock, packages=packages, build_constraints=pins)


def build_constraints_file(lock: PyLock, folder: Path) -> Path | None:
    """The lock's build-backend pins as a ``--build-constraints`` file in ``folder``."""
    if not lock.build_constraints:
        return None
    path = folder / "build-constraints.txt"
    path.write_text("".join(f"{pin}\n" for pin in lock.build_constraints), encoding="utf-8")
    return path
