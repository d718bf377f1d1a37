"""Publishing a registry the way InfluxData does: ``index.json`` plus one artifact per plugin."""

from __future__ import annotations

import json
from pathlib import Path

from pluginmgr.mirror.discover import LIBRARY_PATH
from registry_index import build_index, write_index

__all__ = ["PUBLISHED", "add_library_entry", "drop_library_entry", "publish_registry"]

PUBLISHED = "2026-11-22T00:00:00+00:00"


def publish_registry(
    plugins: Path,
    out: Path,
    *,
    artifacts_url: str,
    artifacts_dir: str = "artifacts",
    published_at: str = PUBLISHED,
) -> dict[str, bytes]:
    """Build the index of the plugins under ``plugins`` into ``out/index.json`` and their
    artifacts into ``out/artifacts_dir``; return the artifacts by file name."""
    built = build_index(plugins, artifacts_url=artifacts_url, published_at=published_at)
    assert built.ok, built.errors
    folder = out / artifacts_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in built.artifacts.items():
        (folder / name).write_bytes(data)
    (out / "index.json").write_text(write_index(built.index), encoding="utf-8")
    return built.artifacts


def add_library_entry(root: Path, name: str, path: str, *, required: tuple[str, ...] = ()) -> None:
    """List one more plugin in the repository's ``plugin_library.json``."""
    library_path = root / LIBRARY_PATH
    data = json.loads(library_path.read_text())
    plugins = data["plugin_library"]["plugins"]
    by_name = {p["name"]: p["path"] for p in plugins}
    plugins.append(
        {
            "name": name,
            "path": path,
            "description": f"{name} for the mirror tests",
            "required_plugins": [{"name": r, "path": by_name[r]} for r in required],
        }
    )
    library_path.write_text(json.dumps(data, indent=2))


def drop_library_entry(root: Path, name: str) -> None:
    """Remove a plugin from the repository's ``plugin_library.json``."""
    library_path = root / LIBRARY_PATH
    data = json.loads(library_path.read_text())
    plugins = data["plugin_library"]["plugins"]
    data["plugin_library"]["plugins"] = [p for p in plugins if p["name"] != name]
    library_path.write_text(json.dumps(data, indent=2))
