"""Build PEP 427 ``py3-none-any`` wheels (and sdists) from `fixtures/packages` without a backend
or network.

Only ``[project]`` in ``pyproject.toml`` is read (name, version, requires-python, dependencies,
optional-dependencies, description); the import package is the directory named after the
distribution with ``-`` and ``.`` replaced by ``_``. Output is deterministic: the same input
always gives the same bytes.

`build_sdist` writes the PEP 625 ``{name}-{version}.tar.gz`` a package index serves beside the
wheel: ``PKG-INFO`` (the wheel's metadata), ``pyproject.toml`` and the import package, with fixed
times and owners. Its ``pyproject.toml`` names no build backend, so building it would need
setuptools from the index: an installer that builds it instead of taking the wheel fails.

Each extra in ``[project.optional-dependencies]`` becomes ``Provides-Extra: NAME`` (normalized,
PEP 685) and one ``Requires-Dist: DEP; extra == "NAME"`` per dependency, in file order; a
dependency with its own marker gets ``(MARKER) and extra == "NAME"``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = [
    "FIXTURE_PACKAGES",
    "build_project_wheels",
    "build_sdist",
    "build_wheel",
    "build_wheelhouse",
]

#: the fixture projects `build_wheelhouse` builds from
FIXTURE_PACKAGES: Final = Path(__file__).resolve().parent.parent / "fixtures" / "packages"
_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
_TAG: Final = "py3-none-any"
_GENERATOR: Final = "pluginmgr-tests (tests/wheels.py)"


@dataclass(frozen=True, slots=True)
class _Project:
    """The ``[project]`` fields a wheel needs."""

    name: str
    version: str
    requires_python: str | None
    dependencies: tuple[str, ...]
    summary: str | None
    #: extra name (normalized) -> its dependencies, in file order
    extras: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def escaped(self) -> str:
        """The distribution name as wheel file names and ``.dist-info`` spell it."""
        return re.sub(r"[-_.]+", "_", self.name).lower()


def _read_project(project_dir: Path) -> _Project:
    table: dict[str, Any] = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    return _Project(
        name=table["name"],
        version=str(Version(table["version"])),
        requires_python=table.get("requires-python"),
        dependencies=tuple(table.get("dependencies", ())),
        summary=table.get("description"),
        extras=tuple(
            (canonicalize_name(extra), tuple(deps))
            for extra, deps in table.get("optional-dependencies", {}).items()
        ),
    )


def _extra_requirement(dependency: str, extra: str) -> str:
    """``dependency`` as a ``Requires-Dist`` that holds only when ``extra`` is requested."""
    requirement = Requirement(dependency)
    marker, requirement.marker = requirement.marker, None
    condition = f'extra == "{extra}"'
    return f"{requirement}; ({marker}) and {condition}" if marker else f"{requirement}; {condition}"


def _package_files(project_dir: Path, project: _Project) -> list[tuple[str, bytes]]:
    package = project_dir / canonicalize_name(project.name).replace("-", "_")
    if not (package / "__init__.py").is_file():
        message = f"{project_dir}: expected the import package at {package}/__init__.py"
        raise FileNotFoundError(message)
    files = [
        (path.relative_to(project_dir).as_posix(), path.read_bytes())
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return sorted(files)


def _metadata(project: _Project) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {project.name}", f"Version: {project.version}"]
    if project.summary:
        lines.append(f"Summary: {project.summary}")
    if project.requires_python:
        lines.append(f"Requires-Python: {project.requires_python}")
    lines += [f"Requires-Dist: {dependency}" for dependency in project.dependencies]
    for extra, dependencies in project.extras:
        lines.append(f"Provides-Extra: {extra}")
        lines += [f"Requires-Dist: {_extra_requirement(dep, extra)}" for dep in dependencies]
    return ("\n".join(lines) + "\n").encode()


def _wheel_file() -> bytes:
    lines = ["Wheel-Version: 1.0", f"Generator: {_GENERATOR}", "Root-Is-Purelib: true"]
    return ("\n".join([*lines, f"Tag: {_TAG}"]) + "\n").encode()


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_entry(archive: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so external_attr carries the mode everywhere
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def build_wheel(project_dir: Path, out_dir: Path) -> Path:
    """Build ``{name}-{version}-py3-none-any.whl`` from ``project_dir`` into ``out_dir``."""
    project = _read_project(project_dir)
    dist_info = f"{project.escaped}-{project.version}.dist-info"
    entries = _package_files(project_dir, project)
    entries += [
        (f"{dist_info}/METADATA", _metadata(project)),
        (f"{dist_info}/WHEEL", _wheel_file()),
    ]
    record_name = f"{dist_info}/RECORD"
    record = [_record_line(arcname, data) for arcname, data in entries] + [f"{record_name},,"]
    entries.append((record_name, ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{project.escaped}-{project.version}-{_TAG}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for arcname, data in entries:
            _write_entry(archive, arcname, data)
    return wheel


def build_sdist(project_dir: Path, out_dir: Path) -> Path:
    """Build ``{name}-{version}.tar.gz`` (PKG-INFO 2.2, ``pyproject.toml``, the import package)
    from ``project_dir`` into ``out_dir``, byte for byte the same each time. Installing it runs
    the ``[build-system]`` its ``pyproject.toml`` names."""
    project = _read_project(project_dir)
    root = f"{project.escaped}-{project.version}"
    metadata = _metadata(project).replace(b"Metadata-Version: 2.1", b"Metadata-Version: 2.2")
    files = [
        ("PKG-INFO", metadata),
        ("pyproject.toml", (project_dir / "pyproject.toml").read_bytes()),
        *_package_files(project_dir, project),
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for arcname, data in files:
            info = tarfile.TarInfo(f"{root}/{arcname}")
            info.size, info.mode, info.mtime = len(data), 0o644, 315532800
            archive.addfile(info, io.BytesIO(data))
    out_dir.mkdir(parents=True, exist_ok=True)
    sdist = out_dir / f"{root}.tar.gz"
    with sdist.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(buffer.getvalue())
    return sdist


def build_wheelhouse(
    out_dir: Path, names: Iterable[str] = ("pm_alpha", "pm_beta", "pm_gamma")
) -> Path:
    """Build a wheel for each ``fixtures/packages/<name>`` into ``out_dir``; return ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        build_wheel(FIXTURE_PACKAGES / name, out_dir)
    return out_dir


def _write_project(root: Path, name: str, version: str, deps: Iterable[str]) -> Path:
    folder = root / f"{name}-{version}"
    package = folder / name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\n')
    listed = ", ".join(json.dumps(d) for d in deps)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{listed}]\n'
    )
    return folder


def build_project_wheels(
    specs: Iterable[tuple[str, str, Iterable[str]]], projects: Path, out: Path
) -> Path:
    """Write a project (its package sets ``VERSION``) for each (name, version, dependencies)
    under ``projects`` and build its wheel into ``out``; return ``out``."""
    for name, version, deps in specs:
        build_wheel(_write_project(projects, name, version, deps), out)
    return out
