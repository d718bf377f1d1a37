"""Wheels and plugins for the dependency-set tests: a conflict pair and a utils library whose
later releases break its users (0.3.1 works, 0.4.0 and 0.5.0 do not)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from tests.wheels import build_project_wheels

__all__ = ["PROJECTS", "build_dep_wheels", "declare", "use"]

#: (name, version, dependencies) of the wheels `build_dep_wheels` builds
PROJECTS: Final = [
    ("pm-libx", "1.0", ()),
    ("pm-libx", "2.0", ()),
    ("pm-liby", "1.0", ("pm-libx>=2",)),
    ("pm-utils", "0.3.1", ()),
    ("pm-utils", "0.4.0", ()),
    ("pm-utils", "0.5.0", ()),
]


def build_dep_wheels(projects: Path, out: Path) -> Path:
    """Build every wheel of `PROJECTS` into ``out`` (project sources go to ``projects``)."""
    return build_project_wheels(PROJECTS, projects, out)


def declare(plugin_dir: Path, relative: str, requirements: Iterable[str], how: str) -> None:
    """Write a plugin at ``relative`` declaring ``requirements`` in a sibling manifest.toml
    (``how="manifest"``) or a PEP 723 block (``how="pep723"``)."""
    path = plugin_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"
    listed = ", ".join(json.dumps(r) for r in requirements)
    if how == "manifest":
        (path.parent / "manifest.toml").write_text(f"[dependencies]\npython = [{listed}]\n")
        path.write_text(body)
    else:
        path.write_text(f"# /// script\n# dependencies = [{listed}]\n# ///\n{body}")


def use(plugin_dir: Path, *relative: str, reason: str = "added") -> None:
    """Put local plugins in the dependency set (plugins.in), as ``install deps`` (``added``)
    or ``create trigger`` (``trigger``) does."""
    from pluginmgr.deps.plugins_in import record_plugins

    record_plugins(plugin_dir, relative, reason=reason)
