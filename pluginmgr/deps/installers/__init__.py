"""Installers (uv, pip) and `get_installer`, which also knows ``disabled``."""

from __future__ import annotations

from typing import Final

from ...errors import INSTALL_DISABLED_MESSAGE, InstallDisabledError, InstallError
from .base import Installer, InstallOptions
from .pip import PipInstaller
from .uv import UvInstaller, find_uv

__all__ = [
    "PACKAGE_MANAGERS",
    "InstallOptions",
    "Installer",
    "PipInstaller",
    "UvInstaller",
    "disabled_error",
    "find_uv",
    "get_installer",
]

#: accepted --package-manager values; ``discover`` is upstream's default and means ours (uv)
PACKAGE_MANAGERS: Final = ("uv", "pip", "disabled", "discover")


def get_installer(name: str) -> Installer | None:
    """The installer for a ``--package-manager`` value; ``None`` for ``disabled``."""
    if name in ("uv", "discover"):
        return UvInstaller()
    if name == "pip":
        return PipInstaller()
    if name == "disabled":
        return None
    message = f"unknown package manager {name!r}: use one of uv, pip, disabled"
    raise InstallError(message, hint="set --package-manager or INFLUXDB3_PACKAGE_MANAGER")


def disabled_error() -> InstallDisabledError:
    """Upstream's refusal, word for word."""
    return InstallDisabledError(INSTALL_DISABLED_MESSAGE)
