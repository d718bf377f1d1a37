"""pip, for sites that forbid uv: ``python -m venv`` and ``<venv python> -m pip install``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..process import ProcessResult, check, run
from .base import Installer, InstallOptions
from .uv import _describe

__all__ = ["PipInstaller"]


class PipInstaller(Installer):
    """Installs with the venv's own pip; exit statuses are checked, unlike upstream."""

    name = "pip"

    def create_venv(self, venv: Path, python: Path, *, log_dir: Path | None) -> None:
        command: list[str | Path] = [python, "-m", "venv", venv]
        check(run(command), what=f"creating the plugin venv {venv}", log_dir=log_dir)

    def install(
        self,
        venv_python: Path,
        requirements: Sequence[str],
        *,
        requirement_files: Sequence[Path] = (),
        options: InstallOptions,
        log_dir: Path | None,
    ) -> ProcessResult:
        command: list[str | Path] = [venv_python, "-m", "pip", "install"]
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
        for path in requirement_files:
            command += ["-r", path]
        command += requirements
        what = f"installing {_describe(requirements, requirement_files)}"
        return check(run(command), what=what, log_dir=log_dir)
