"""`Target`: the interpreter a mirror's wheels are for, as wheel tags and marker environments.

The running interpreter (``packaging.tags.sys_tags()``), or ``--python-version X.Y[.Z]`` and/or
``--platform TAG``: CPython tags for that version, the platform widened to the older tags an
installer also accepts (older manylinux, musllinux and macOS versions), and the marker
environments that platform implies (``sys_platform``, ``platform_machine``, ``platform_system``,
``os_name``). When something cannot be told (only X.Y given, an unknown platform), every
candidate environment is returned, so a caller can keep a package whose marker might hold.
"""

from __future__ import annotations

import platform as host_platform
import re
import sys
from dataclasses import dataclass
from typing import Final

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, sys_tags

from ..errors import MirrorError

__all__ = ["Target"]

_LINUX: Final = re.compile(r"^(?:manylinux_\d+_\d+|manylinux\d+|musllinux_\d+_\d+|linux)_(.+)$")
_MANYLINUX: Final = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_MUSLLINUX: Final = re.compile(r"^musllinux_(\d+)_(\d+)_(.+)$")
_MACOS: Final = re.compile(r"^macosx_(\d+)_(\d+)_(.+)$")
#: the old manylinux names and the glibc version each stands for (PEP 600)
_LEGACY_MANYLINUX: Final = {
    "manylinux2014": (2, 17),
    "manylinux2010": (2, 12),
    "manylinux1": (2, 5),
}
_WINDOWS_MACHINES: Final = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}
#: sys_platform, platform_system, os_name for each platform family
_FAMILIES: Final = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    "darwin": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"},
    "win32": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
}


def _parse_version(text: str) -> tuple[int, ...]:
    parts = text.split(".") if "." in text else [text[:1], text[1:]]
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        message = f"--python-version {text!r} is not a Python version"
        raise MirrorError(message, hint="give X.Y (e.g. 3.12) or X.Y.Z")
    return tuple(int(p) for p in parts)


@dataclass(frozen=True, slots=True)
class Target:
    """The interpreter the mirrored files are for: this one, or a version and/or platform tag."""

    version: tuple[int, ...] | None = None  #: (X, Y) or (X, Y, Z); None: this interpreter's
    platform: str | None = None  #: a wheel platform tag; None: this machine's

    @classmethod
    def parse(cls, python_version: str | None, platform: str | None) -> Target:
        """The target ``--python-version`` / ``--platform`` name; `MirrorError` when malformed."""
        return cls(_parse_version(python_version) if python_version else None, platform or None)

    @property
    def label(self) -> str:
        if self.version is None and self.platform is None:
            here = f"{sys.platform} {host_platform.machine()}".strip()
            return f"this interpreter (Python {sys.version_info[0]}.{sys.version_info[1]}, {here})"
        version = ".".join(map(str, self.version or sys.version_info[:2]))
        return f"Python {version} on {self.platform or 'this platform'}"

    def tags(self) -> list[Tag]:
        """The wheel tags the target installs, most preferred first."""
        if self.version is None and self.platform is None:
            return list(sys_tags())
        version = (self.version or sys.version_info)[:2]
        platforms = _platforms(self.platform) if self.platform else None
        interpreter = f"cp{version[0]}{version[1]}"
        return [
            *cpython_tags(version, platforms=platforms),
            *compatible_tags(version, interpreter, platforms),
        ]

    def environments(self) -> list[dict[str, str]]:
        """Marker environments for the target; more than one where it is not fully known."""
        pythons: list[dict[str, str]] = [{}]
        if self.version is not None:
            short = f"{self.version[0]}.{self.version[1]}"
            fulls = [".".join(map(str, self.version))] if len(self.version) == 3 else []
            fulls = fulls or [f"{short}.0", f"{short}.99"]  # any patch release of X.Y
            pythons = [
                {"python_version": short, "python_full_version": f, "implementation_version": f}
                for f in fulls
            ]
        machines = _platform_environments(self.platform) if self.platform else [{}]
        return [{**python, **machine} for python in pythons for machine in machines]


def _platforms(tag: str) -> list[str]:
    """``tag`` and the older platform tags an installer on it also accepts."""
    prefix, _, arch = tag.partition("_")
    if prefix in _LEGACY_MANYLINUX:
        major, minor = _LEGACY_MANYLINUX[prefix]
        return _manylinux(major, minor, arch)
    if match := _MANYLINUX.match(tag):
        return _manylinux(int(match[1]), int(match[2]), match[3])
    if match := _MUSLLINUX.match(tag):
        major, minor, arch = int(match[1]), int(match[2]), match[3]
        return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
    if match := _MACOS.match(tag):
        return list(mac_platforms((int(match[1]), int(match[2])), match[3]))
    return [tag]


def _manylinux(major: int, minor: int, arch: str) -> list[str]:
    aliases = {version: name for name, version in _LEGACY_MANYLINUX.items()}
    out = []
    for m in range(minor, 4, -1):  # glibc 2.5 is the oldest manylinux
        out.append(f"manylinux_{major}_{m}_{arch}")
        if (major, m) in aliases:
            out.append(f"{aliases[major, m]}_{arch}")
    return out


def _platform_environments(tag: str) -> list[dict[str, str]]:
    """sys_platform / platform_machine (…) for a platform tag; every family when unknown."""
    if tag in _WINDOWS_MACHINES:
        return [{**_FAMILIES["win32"], "platform_machine": _WINDOWS_MACHINES[tag]}]
    if match := _LINUX.match(tag):
        return [{**_FAMILIES["linux"], "platform_machine": match[1]}]
    if match := _MACOS.match(tag):
        arch = match[3]
        machines = [arch] if arch in ("arm64", "x86_64") else ["arm64", "x86_64"]
        return [{**_FAMILIES["darwin"], "platform_machine": m} for m in machines]
    return [dict(family) for family in _FAMILIES.values()]
