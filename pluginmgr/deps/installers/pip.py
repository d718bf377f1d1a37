"""pip, for sites that forbid uv: ``python -m venv`` and ``<venv python> -m pip install``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .base import ONLY_BINARY, Command, Installer, InstallOptions, InstallRequest

__all__ = ["PipInstaller"]


class PipInstaller(Installer):
    """Installs with the venv's own pip; exit statuses are checked, unlike upstream."""

    name = "pip"

    def venv_command(self, venv: Path, python: Path) -> Command:
        return [python, "-m", "venv", venv]

    def install_command(self, request: InstallRequest) -> Command:
        options = request.options
        command: Command = [request.venv_python, "-m", "pip", "install"]
        command += ["--disable-pip-version-check", "--no-input"]
        # pip has no offline switch: offline means no index, only --find-links
        if options.no_index or options.offline:
            command.append("--no-index")
        if options.index_url and not options.offline:
            command += ["--index-url", options.index_url]
        for link in options.find_links:
            command += ["--find-links", link]
        if options.require_hashes:
            command.append("--require-hashes")
        if not options.allow_build:
            command += ONLY_BINARY
        for path in request.requirement_files:
            command += ["-r", path]
        return command + list(request.requirements)

    def sync_commands(
        self,
        venv_python: Path,
        requirements: Path,
        extraneous: Sequence[str],
        options: InstallOptions,
    ) -> list[Command]:
        # pip has no sync: install the hashed set without resolving, then remove the rest
        request = InstallRequest(
            venv_python, [], [requirements], replace(options, require_hashes=True)
        )
        commands = [[*self.install_command(request), "--no-deps"]]
        if extraneous:
            commands.append([venv_python, "-m", "pip", "uninstall", "-y", *extraneous])
        return commands
