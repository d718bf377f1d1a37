"""The installer seam: the commands that create a venv and install into it, run and checked here."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from ...process import ProcessResult, check, run

__all__ = ["ONLY_BINARY", "Command", "InstallOptions", "InstallRequest", "Installer", "caller_path"]

Command = list[str | Path]
#: the flag (uv's and pip's) that installs wheels only
ONLY_BINARY: Final = ["--only-binary", ":all:"]


def caller_path(location: str, cwd: Path | None = None) -> str:
    """``location`` (a path or URL the operator typed) with a relative path made absolute
    against ``cwd`` (the caller's; default: the process's). URLs and absolute paths are kept.

    uv runs in temporary directories (resolving) and the server in its own, so a relative
    ``--find-links wh`` must be read where the operator typed it.
    """
    base = cwd or Path.cwd()
    parts = urlsplit(location)
    if parts.scheme == "" and location:
        return os.path.normpath(base / location)
    if parts.scheme == "file" and not parts.netloc and not parts.path.startswith("/"):
        return Path(os.path.normpath(base / unquote(parts.path))).as_uri()
    return location


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """Where packages may come from. ``offline`` never touches the network.

    Wheels only, unless ``allow_build``: building an sdist runs its build backend, which
    nothing pins, so a wheel missing (or refused for its hash) never quietly becomes a build.
    """

    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False
    offline: bool = False
    require_hashes: bool = False
    allow_build: bool = False
    #: files of hashed pins for the build backends (``--build-constraints``), with allow_build
    build_constraints: tuple[str, ...] = ()

    def from_caller(self, cwd: Path | None = None) -> InstallOptions:
        """These options with each relative path made absolute (`caller_path`)."""
        index_url = caller_path(self.index_url, cwd) if self.index_url else None
        links = tuple(caller_path(link, cwd) for link in self.find_links)
        return replace(self, find_links=links, index_url=index_url)

    def merged(self, other: InstallOptions) -> InstallOptions:
        """Options that can satisfy both (used to replay every recorded install at once)."""
        return InstallOptions(
            find_links=tuple(dict.fromkeys((*self.find_links, *other.find_links))),
            index_url=other.index_url or self.index_url,
            no_index=self.no_index and other.no_index,
            offline=self.offline or other.offline,
            require_hashes=self.require_hashes and other.require_hashes,
            allow_build=self.allow_build or other.allow_build,
        )


@dataclass(frozen=True, slots=True)
class InstallRequest:
    """One install: into the environment of ``venv_python``, these requirements and files."""

    venv_python: Path
    requirements: Sequence[str]
    requirement_files: Sequence[Path]
    options: InstallOptions

    def describe(self) -> str:
        parts = [*self.requirements, *(f"-r {path}" for path in self.requirement_files)]
        return ", ".join(parts) or "nothing"


class Installer(ABC):
    """Creates venvs and installs into them; every exit status is checked (upstream ignores pip's).

    Subclasses only say which commands to run.
    """

    name: str

    @abstractmethod
    def venv_command(self, venv: Path, python: Path) -> Command:
        """The command that creates a venv at ``venv`` for the interpreter ``python``."""

    @abstractmethod
    def install_command(self, request: InstallRequest) -> Command:
        """The command that carries out ``request``."""

    @abstractmethod
    def sync_commands(
        self,
        venv_python: Path,
        requirements: Path,
        extraneous: Sequence[str],
        options: InstallOptions,
    ) -> list[Command]:
        """The commands that make the environment exactly the hashed ``requirements`` file:
        install what it lists (hash-checked, no dependency resolution), remove ``extraneous``."""

    def create_venv(self, venv: Path, python: Path, *, log_dir: Path | None) -> None:
        """Create a venv at ``venv`` (which does not exist); raise `InstallError` on failure."""
        command = self.venv_command(venv, python)
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
        """Install into the environment of ``venv_python``; raise `InstallError` on failure."""
        request = InstallRequest(venv_python, requirements, requirement_files, options)
        what = f"installing {request.describe()}"
        return check(run(self.install_command(request)), what=what, log_dir=log_dir)

    def sync(
        self,
        venv_python: Path,
        requirements: Path,
        extraneous: Sequence[str],
        *,
        options: InstallOptions,
        log_dir: Path | None,
    ) -> str:
        """Run `sync_commands`; raise `InstallError` on the first failure. :returns: the output."""
        outputs = []
        for command in self.sync_commands(venv_python, requirements, extraneous, options):
            result = check(run(command), what="syncing the plugin venv", log_dir=log_dir)
            outputs.append(result.output)
        return "\n".join(outputs)
