"""``fetch``, ``versions`` and ``verify``: thin adapters over `PluginManager` (``lock`` is in
`pluginmgr.cli.lifecycle`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Final

import click

from ..fetch.lockfile import format_timestamp
from ._common import emit_json, manager_from, pass_options, settings_options
from ._fetch_output import (
    ProgressBar,
    run_fetch,
    show_report,
    stdout,
)

__all__ = ["ProgressBar", "fetch", "run_fetch", "show_report", "verify", "versions"]

_FORMATS: Final = click.Choice(["pretty", "json"])


@click.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("--refresh", is_flag=True, help="Revalidate with the source even if pinned.")
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
@settings_options
@pass_options
def fetch(options: dict[str, Any]) -> None:
    """Fetch plugin references, pin them in plugins.lock and print where they are.

    REFS are gh:PATH, git+URL[@REV]#path=PATH, registry:NAME[SPEC] or paths under --plugin-dir.
    """
    refs, refresh, output = options.pop("refs"), options.pop("refresh"), options.pop("output")
    with manager_from(options) as manager:
        show_report(run_fetch(manager, refs, refresh=refresh), output)


@click.command()
@click.argument("ref")
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
@settings_options
@pass_options
def versions(options: dict[str, Any]) -> None:
    """List every distinct content seen for REF: time, sha256, size, source."""
    ref, output = options.pop("ref"), options.pop("output")
    with manager_from(options) as manager:
        found = manager.versions(ref)
    if output == "json":
        emit_json({"ref": ref, "versions": [asdict(v) for v in found]})
        return
    if not found:
        stdout.print(f"no versions of {ref} fetched yet", markup=False)
        return
    # plain columns, full hashes: this output is for copying into `lock` and for grep
    stdout.print(f"{'first seen (UTC)':<20}  {'last seen (UTC)':<20}  {'sha256':<64}  size  source")
    for version in found:
        first, last = format_timestamp(version.first_seen), format_timestamp(version.last_seen)
        row = f"{first:<20}  {last:<20}  {version.sha256}  {version.size}  {version.source}"
        stdout.print(row, markup=False)


@click.command()
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
@settings_options
@pass_options
def verify(options: dict[str, Any]) -> None:
    """Re-hash every stored plugin and check every pinned reference; exit 1 on any problem.

    It reads only the store: whether the sources still serve the pinned bytes is
    `pluginmgr outdated` (or `pluginmgr doctor`, which also checks they are reachable).
    """
    output = options.pop("output")
    with manager_from(options) as manager:
        report = manager.verify()
        lock_path = manager.settings.lock_path
    if output == "json":
        problems = [{"ref": ref, "problem": text} for ref, text in report.lock_problems]
        emit_json(
            {
                "ok": report.ok,
                "blobs_checked": report.blobs_checked,
                "corrupted": report.corrupted,
                "lock_problems": problems,
            }
        )
    else:
        stdout.print(f"checked {report.blobs_checked} stored blobs against {lock_path}")
        for digest in report.corrupted:
            stdout.print(f"corrupted: blob {digest} (quarantined; fetch again to restore)")
        for ref, problem in report.lock_problems:
            stdout.print(f"problem: {ref}: {problem}", markup=False)
        if report.ok:
            stdout.print("ok: every stored blob and pinned reference verified")
    if not report.ok:
        raise click.exceptions.Exit(1)
