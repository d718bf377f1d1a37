"""uv: ``uv venv --python …`` and ``uv pip install --python <venv python> …``.

uv comes from the ``uv`` wheel on PyPI (a dependency of pluginmgr), so it is located with
``uv.find_uv_bin()`` first and on ``PATH`` second; the failure lists every place searched.
Always ``--python``: InfluxDB 3's old uv manager relied on ``VIRTUAL_ENV`` and hit the wrong env.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ...errors import InstallError
from .base import ONLY_BINARY, Command, Installer, InstallOptions, InstallRequest

__all__ = ["UvInstaller", "find_uv", "source_args"]


def find_uv() -> tuple[Path, str]:
    """Locate the uv binary. :returns: (path, where it was found)."""
    searched: list[str] = []
    try:
        import uv  # the PyPI package's shim, stdlib only

        return Path(uv.find_uv_bin()), "the uv package"
    except (ImportError, FileNotFoundError) as exc:
        searched.append(f"the uv package ({exc})")
    on_path = shutil.which("uv")
    if on_path:
        return Path(on_path), "PATH"
    searched.append("PATH")
    message = f"uv was not found (searched: {'; '.join(searched)})"
    raise InstallError(message, hint="pip install uv, or use --package-manager pip")


def source_args(options: InstallOptions) -> list[str]:
    """uv's flags for where packages come from (and wheels only, unless ``allow_build``)."""
    args: list[str] = []
    if options.offline:
        args.append("--offline")
    if options.no_index:
        args.append("--no-index")
    if options.index_url:  # --default-index: uv ranks UV_DEFAULT_INDEX above --index-url
        args += ["--default-index", options.index_url]
    for link in options.find_links:
        args += ["--find-links", link]
    if options.require_hashes:
        args.append("--require-hashes")
    if not options.allow_build:
        args += ONLY_BINARY
    for path in options.build_constraints:
        args += ["--build-constraints", path]
    return args


class UvInstaller(Installer):
    """Installs with uv (10-100x faster than pip; cold and warm caches)."""

    name = "uv"

    def __init__(self, uv_bin: Path | None = None) -> None:
        self._uv = uv_bin

    @property
    def uv(self) -> Path:
        if self._uv is None:
            self._uv = find_uv()[0]
        return self._uv

    def venv_command(self, venv: Path, python: Path) -> Command:
        return [self.uv, "venv", "--quiet", "--no-project", "--python", python, venv]

    def install_command(self, request: InstallRequest) -> Command:
        options = request.options
        command: Command = [self.uv, "pip", "install", "--python", request.venv_python]
        command += source_args(options)
        for path in request.requirement_files:
            command += ["-r", path]
        return command + (["--", *request.requirements] if request.requirements else [])

    def sync_commands(
        self,
        venv_python: Path,
        requirements: Path,
        extraneous: Sequence[str],
        options: InstallOptions,
    ) -> list[Command]:
        base: Command = [self.uv, "pip", "sync", "--python", venv_python, "--require-hashes"]
        return [[*base, "--allow-empty-requirements", *source_args(options), requirements]]
