"""``mirror sync`` and ``mirror verify``: a static copy of a plugin repository for air gaps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from ..settings import DEFAULT_RETRIES
from ._common import WholeHelpGroup, emit_json, err_console

if TYPE_CHECKING:
    from ..mirror.sync import MirrorReport, VerifyResult

__all__ = ["mirror"]

_FORMATS: Final = click.Choice(["pretty", "json"])
_UNLOCKED_WARNING: Final = (
    "warning: without --pylock, DEST/wheels holds whatever pip resolves today from the plugins' "
    "requirements, not what nodes locked; pass --pylock PLUGIN_DIR/pylock.toml for the exact "
    "locked set"
)


@click.group(cls=WholeHelpGroup)
def mirror() -> None:
    """Copy a plugin repository into a directory any node (or static web server) can use."""


@mirror.command()
@click.argument("source")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--plugins",
    default=None,
    help="Comma-separated plugin names or directories, in any case (plus what they need).",
)
@click.option("--prune", is_flag=True, help="Delete mirrored files the source no longer has.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Downloads in flight at once.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0, max=10),
    default=DEFAULT_RETRIES,
    show_default=True,
    help="Retries on connection errors, timeouts and 5xx.",
)
@click.option(
    "--with-deps",
    is_flag=True,
    help=(
        "Also fill DEST/wheels: the files --pylock locks, else every wheel the plugins' declared "
        "requirements resolve to today (pip download)."
    ),
)
@click.option(
    "--python-version",
    default=None,
    metavar="X.Y",
    help="With --with-deps: wheels for this Python.",
)
@click.option(
    "--platform",
    "platform_tag",
    default=None,
    metavar="TAG",
    help="With --with-deps: wheels for this platform (e.g. manylinux2014_x86_64).",
)
@click.option(
    "--find-links",
    multiple=True,
    metavar="DIR|URL",
    help="With --with-deps: also look for wheels here (repeatable).",
)
@click.option(
    "--no-index",
    is_flag=True,
    help="With --with-deps: use only --find-links (with --pylock, also the lock's local files).",
)
@click.option(
    "--index-url",
    default=None,
    metavar="URL",
    help="With --with-deps: the package index to use instead of PyPI.",
)
@click.option(
    "--pylock",
    "pylocks",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE|DIR",
    help=(
        "With --with-deps: DEST/wheels gets exactly the files this pylock.toml locks, verified "
        "against its hashes (a plugin dir means DIR/pylock.toml; repeatable)."
    ),
)
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
def sync(
    source: str,
    dest: Path,
    plugins: str | None,
    prune: bool,
    concurrency: int,
    retries: int,
    with_deps: bool,
    python_version: str | None,
    platform_tag: str | None,
    find_links: tuple[str, ...],
    no_index: bool,
    index_url: str | None,
    pylocks: tuple[Path, ...],
    output: str,
) -> None:
    """Mirror SOURCE (an http(s):// or file:// plugin repository, git+URL@REV, or a registry
    index URL ending in .json) into DEST.

    Re-running transfers only what changed (artifacts DEST holds with the index hash, and files
    a source's own SHA256SUMS vouches for, cost no request); nothing is deleted without --prune.
    Serve DEST with any static web server, or point nodes at it with --plugin-repo
    file:///DEST/ (and --plugin-registry file:///DEST/index.json). With --with-deps
    --pylock PLUGIN_DIR/pylock.toml, DEST/wheels holds exactly the files the nodes locked and
    they run `pluginmgr deps sync --offline --no-index --find-links DEST/wheels`; with
    --with-deps alone, pip resolves the plugins' declared requirements today.
    """
    from ..mirror.sync import WheelOptions, sync_mirror

    chosen = python_version or platform_tag or find_links or no_index or index_url or pylocks
    if not with_deps and chosen:
        message = (
            "--python-version, --platform, --find-links, --no-index, --index-url and --pylock "
            "need --with-deps"
        )
        raise click.UsageError(message)
    if with_deps and not pylocks:
        click.echo(_UNLOCKED_WARNING, err=True)

    wheel_options = WheelOptions(
        find_links=find_links,
        no_index=no_index,
        index_url=index_url,
        python_version=python_version,
        platform=platform_tag,
        pylocks=pylocks,
    )

    names = [n.strip() for n in plugins.split(",") if n.strip()] if plugins else None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("mirroring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err_console(),
        transient=True,
        disable=not err_console().is_terminal,
    )
    task = bar.add_task("", total=None)

    def progress(path: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, description=path)

    with bar:
        report = sync_mirror(
            source,
            dest,
            plugins=names,
            prune=prune,
            concurrency=concurrency,
            retries=retries,
            progress=progress,
            with_deps=with_deps,
            wheel_options=wheel_options,
        )
    if output == "json":
        emit_json({"mirror": report.to_dict()})
    else:
        _print_sync(report)
    if not report.ok:
        raise click.exceptions.Exit(1)


def _print_sync(report: MirrorReport) -> None:
    if report.temp_files_removed:
        note = f"note: removed {report.temp_files_removed} temp files an interrupted sync left"
        click.echo(note, err=True)
    click.echo(f"mirrored {report.source} -> {report.dest}")
    if report.rev:
        click.echo(f"  commit  {report.rev}")
    counts = (
        f"  files   {len(report.new)} new, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deleted)} deleted"
    )
    click.echo(counts)
    click.echo(f"  network {report.requests} requests, {report.bytes_downloaded} bytes")
    if report.wheels:
        click.echo(f"  wheels  {len(report.wheels)} in {report.dest / 'wheels'}")
    for path in report.deleted:
        click.echo(f"  deleted {path}")
    if report.stale:
        click.echo(f"  kept    {len(report.stale)} files the source no longer has (use --prune)")
    for failure in report.failures:
        click.echo(f"  failed  {failure.path}: {failure.message}", err=True)
    if report.failures:
        click.echo("  the previous copies of failed files were kept; re-run to retry", err=True)


@mirror.command()
@click.argument("dest", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
def verify(dest: Path, output: str) -> None:
    """Re-hash every file in DEST against SHA256SUMS and mirror.json; exit 1 if any differ."""
    from ..mirror.sync import verify_mirror

    result = verify_mirror(dest)
    if output == "json":
        emit_json(
            {
                "dest": str(result.dest),
                "ok": result.ok,
                "checked": len(result.checked),
                "missing": list(result.missing),
                "tampered": list(result.tampered),
            }
        )
    else:
        _print_verify(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


def _print_verify(result: VerifyResult) -> None:
    for path in result.missing:
        click.echo(f"missing   {path}", err=True)
    for path in result.tampered:
        click.echo(f"tampered  {path}", err=True)
    if result.ok:
        click.echo(f"ok: {len(result.checked)} files in {result.dest} match SHA256SUMS")
    else:
        bad = len(result.missing) + len(result.tampered)
        hint = "re-run `pluginmgr mirror sync SOURCE DEST` to restore them"
        click.echo(f"{bad} of {len(result.checked)} files failed verification; {hint}", err=True)
