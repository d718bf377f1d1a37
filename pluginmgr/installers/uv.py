"""uv: ``uv venv --python …`` and ``uv pip install --python <venv python> …``.

uv comes from the ``uv`` wheel on PyPI (a dependency of pluginmgr), so it is located with
``uv.find_uv_bin()`` first and on ``PATH`` second; the failure lists every place searched.
Always ``--python``: InfluxDB 3's old uv manager relied on ``VIRTUAL_ENV`` and hit the wrong env.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ..errors import InstallError
from ..process import ProcessResult, check, run
from .base import Installer, InstallOptions

__all__ = ["UvInstaller", "find_uv"]


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


def _source_args(options: InstallOptions) -> list[str]:
    args: list[str] = []
    if options.offline:
        args.append("--offline")
    if options.no_index:
        args.append("--no-index")
    if options.index_url:
        args += ["--index-url", options.index_url]
    for link in options.find_links:
        args += ["--find-links", link]
    if options.require_hashes:
        args.append("--require-hashes")
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

    def create_venv(self, venv: Path, python: Path, *, log_dir: Path | None) -> None:
        command: list[str | Path] = [
            self.uv,
            "venv",
            "--quiet",
            "--no-project",
            "--python",
            python,
            venv,
        ]
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
        command: list[str | Path] = [self.uv, "pip", "install", "--python", venv_python]
        command += _source_args(options)
        for path in requirement_files:
            command += ["-r", path]
        command += ["--", *requirements] if requirements else []
        what = f"installing {_describe(requirements, requirement_files)}"
        return check(run(command), what=what, log_dir=log_dir)


def _describe(requirements: Sequence[str], files: Sequence[Path]) -> str:
    parts = [*requirements, *(f"-r {path}" for path in files)]
    return ", ".join(parts) if parts else "nothing"
