"""``pluginmgr index build`` and ``pluginmgr search``: the registry index from the command line.

``index build DIR`` walks DIR for ``manifest.toml`` files and writes an SDK-compatible
``index.json`` plus one deterministic ``{name}-{version}.tar.gz`` per plugin (the same tree
always gives the same bytes and hash). ``search TERM`` lists the plugins of an index whose name,
description or triggers match, with version, triggers and dependencies.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..atomic import atomic_write
from ..errors import PluginManagerError
from ._common import WholeHelpGroup

__all__ = ["index", "search"]

_FORMATS = click.Choice(["pretty", "json"])
#: what `index build` has always left its files at (the temp file's mode); see the README
_MODE = 0o600


class _RegistryCliError(PluginManagerError):
    """An index that cannot be built, read or found."""


@click.group(cls=WholeHelpGroup)
def index() -> None:
    """Build registry indexes (SDK index.json, schema 2.1)."""


@index.command("build")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", default="index.json", show_default=True, help="Index file.")
@click.option(
    "--artifacts-dir",
    default=None,
    help="Where the .tar.gz artifacts go. [default: next to the index]",
)
@click.option(
    "--artifacts-url",
    default="./",
    show_default=True,
    help="Base URL the index names for the artifacts.",
)
@click.option(
    "--published-at",
    default=None,
    help="ISO 8601 time recorded for every version. [default: now, UTC]",
)
def build(
    directory: str,
    output: str,
    artifacts_dir: str | None,
    artifacts_url: str,
    published_at: str | None,
) -> int:
    """Write DIRECTORY's plugins as an index and artifacts; exit 1 if any metadata is bad."""
    from registry_index import build_index, write_index

    stamp = published_at or datetime.now(tz=UTC).replace(microsecond=0).isoformat()
    report = build_index(Path(directory), artifacts_url=artifacts_url, published_at=stamp)
    target = Path(output)
    where = Path(artifacts_dir) if artifacts_dir else target.parent
    for name, data in sorted(report.artifacts.items()):
        atomic_write(where / name, data, mode=_MODE)
    atomic_write(target, write_index(report.index).encode("utf-8"), mode=_MODE)
    for entry in report.index.plugins:
        click.echo(f"{entry.name} {entry.version}  {entry.hash}")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    click.echo(f"wrote {target} ({len(report.index.plugins)} plugins) and artifacts in {where}")
    return 0 if report.ok else 1


def _read_index_text(location: str) -> tuple[str, str]:
    if location.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(location, timeout=30, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise _RegistryCliError(f"cannot read the index at {location}: {exc}") from None
        return response.text, location
    path = Path(location.removeprefix("file://"))
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        message = f"cannot read the index {path}: {exc.strerror or exc}"
        raise _RegistryCliError(message, hint="pass --index FILE or URL") from None


@click.command("search")
@click.argument("term", default="")
@click.option(
    "--index",
    "location",
    envvar="PLUGINMGR_PLUGIN_REGISTRY",
    default="index.json",
    show_default=True,
    help="Index file or URL. [env: PLUGINMGR_PLUGIN_REGISTRY]",
)
@click.option("--all-versions", is_flag=True, help="List every version, not just the newest.")
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
def search(term: str, location: str, all_versions: bool, output: str) -> int:
    """Plugins of an index whose name, description or triggers contain TERM."""
    from packaging.version import Version

    from registry_index import RegistryIndexError, read_index

    text, source = _read_index_text(location)
    try:
        parsed = read_index(text, source=source)
    except RegistryIndexError as exc:
        raise _RegistryCliError(str(exc)) from None
    needle = term.lower()
    found: dict[str, Any] = {}
    for entry in sorted(parsed.plugins, key=lambda e: (e.name, Version(e.version))):
        haystack = " ".join([entry.name, entry.description, *entry.triggers]).lower()
        if needle in haystack and (all_versions or not entry.yanked):
            key = f"{entry.name} {entry.version}" if all_versions else entry.name
            found[key] = {
                "name": entry.name,
                "version": entry.version,
                "triggers": list(entry.triggers),
                "python": list(entry.dependencies.python),
                "plugins": [f"{p.name}{p.version}" for p in entry.dependencies.plugins],
                "yanked": entry.yanked,
                "description": entry.description,
            }
    rows = list(found.values())
    if output == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for row in rows:
        deps = ", ".join(row["python"] + row["plugins"]) or "-"
        yanked = " (yanked)" if row["yanked"] else ""
        click.echo(f"{row['name']} {row['version']}{yanked}  [{', '.join(row['triggers'])}]")
        click.echo(f"    {row['description']}")
        click.echo(f"    dependencies: {deps}")
    if not rows:
        click.echo(f"no plugin matches {term!r} in {source}", err=True)
    return 0
