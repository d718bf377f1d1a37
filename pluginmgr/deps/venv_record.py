"""What was asked of the plugin venv, recorded in ``<venv>/pluginmgr-env.json``: the
requirements by name and the package sources they came from. A rebuild of a stale venv replays
it.

Apart from `venv` because it is a file format (versioned, written atomically, an unreadable one
ignored with a warning), not the venv's lifecycle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..atomic import atomic_write
from .installers import InstallOptions

__all__ = ["RECORD_FORMAT", "RECORD_NAME", "VenvRecord", "read_record", "write_record"]

_LOGGER = logging.getLogger(__name__)
#: the record's file name, inside the venv
RECORD_NAME: Final = "pluginmgr-env.json"
RECORD_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class VenvRecord:
    """Requirements installed through pluginmgr, and the sources they were installed from."""

    requirements: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False

    def options(self) -> InstallOptions:
        """The recorded package sources."""
        return InstallOptions(self.find_links, self.index_url, self.no_index)

    def add(self, requirements: Iterable[Requirement], options: InstallOptions) -> VenvRecord:
        """This record with ``requirements`` (replacing earlier ones of the same names) and
        ``options`` merged in."""
        by_name = {canonicalize_name(Requirement(r).name): r for r in self.requirements}
        for req in requirements:
            by_name[canonicalize_name(req.name)] = str(req)
        merged = self.options().merged(options) if self.requirements else options
        return VenvRecord(
            tuple(by_name.values()), merged.find_links, merged.index_url, merged.no_index
        )


def read_record(venv_path: Path) -> VenvRecord:
    """The venv's record; an empty one when it is absent, unreadable or of an unknown format."""
    path = venv_path / RECORD_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return VenvRecord()
    except (OSError, ValueError) as exc:
        _LOGGER.warning("ignoring unreadable %s: %s", path, exc)
        return VenvRecord()
    if not isinstance(raw, dict) or raw.get("format_version") != RECORD_FORMAT:
        _LOGGER.warning("ignoring %s: unknown format", path)
        return VenvRecord()
    return VenvRecord(
        tuple(raw.get("requirements", ())),
        tuple(raw.get("find_links", ())),
        raw.get("index_url"),
        bool(raw.get("no_index", False)),
    )


def write_record(venv_path: Path, record: VenvRecord) -> None:
    """Write ``record`` into the venv (atomically); nothing when there is no venv."""
    if not venv_path.is_dir():
        return
    data = {"format_version": RECORD_FORMAT, **asdict(record)}
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write(venv_path / RECORD_NAME, text.encode())
