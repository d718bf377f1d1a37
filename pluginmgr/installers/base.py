"""The installer seam: create a venv for an interpreter, install requirements into it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..process import ProcessResult

__all__ = ["InstallOptions", "Installer"]


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """Where packages may come from. ``offline`` never touches the network."""

    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False
    offline: bool = False
    require_hashes: bool = False

    def merged(self, other: InstallOptions) -> InstallOptions:
        """Options that can satisfy both (used to replay every recorded install at once)."""
        return InstallOptions(
            find_links=tuple(dict.fromkeys((*self.find_links, *other.find_links))),
            index_url=other.index_url or self.index_url,
            no_index=self.no_index and other.no_index,
            offline=self.offline or other.offline,
            require_hashes=self.require_hashes and other.require_hashes,
        )


class Installer(ABC):
    """Creates venvs and installs into them. Implementations must check exit statuses."""

    name: str

    @abstractmethod
    def create_venv(self, venv: Path, python: Path, *, log_dir: Path | None) -> None:
        """Create a venv at ``venv`` (which does not exist) for the interpreter ``python``."""

    @abstractmethod
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
