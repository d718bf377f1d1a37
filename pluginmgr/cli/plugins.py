"""``fetch``, ``versions`` and ``verify``: thin adapters over `PluginManager` (``lock`` is in
`pluginmgr.cli.lifecycle`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Final

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from ..errors import PluginManagerError
from ..fetch.fetched import FetchedPlugin, FetchProgress, FetchReport
from ..fetch.lockfile import format_timestamp
from ..fetch.manager import PluginManager
from ._common import emit_json, err_console, manager_from, pass_options, settings_options

__all__ = ["ProgressBar", "fetch", "run_fetch", "show_report", "verify", "versions"]

_FORMATS: Final = click.Choice(["pretty", "json"])
#: show a progress bar from this many references, or for files at least this large
_MANY_REFS: Final = 5
_LARGE_FILE: Final = 1024 * 1024
stdout = Console(highlight=False, soft_wrap=True)


class ProgressBar:
    """A rich progress display on stderr: one bar for the references, one per large file.

    The overall bar counts plugins (``3/6 plugins``): a fetch does not know the sizes of the
    files ahead. The bar of a large file counts its bytes.

    :param console: where to draw (default: stderr); ``rich.print(bar)`` renders the bars now.
    """

    class _Amount(ProgressColumn):
        """A task's progress: ``3/6 plugins`` for a counted task, bytes for a file's."""

        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn()

        def render(self, task: Task) -> Text:
            unit = task.fields.get("unit")
            if unit is None:
                return self._bytes.render(task)
            total = "?" if task.total is None else f"{task.total:.0f}"
            return Text(f"{task.completed:.0f}/{total} {unit}", style="progress.download")

    def __init__(self, total: int, *, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            ProgressBar._Amount(),
            console=console or err_console(),
            transient=True,
        )
        self._overall = self._progress.add_task(
            f"fetching {total} plugins", total=total, unit="plugins"
        )
        self._files: dict[str, Any] = {}
        self._show_overall = total >= _MANY_REFS

    def __rich__(self) -> Progress:
        return self._progress

    def bytes(self, ref: str, received: int, total: int | None) -> None:
        if total is None or total < _LARGE_FILE:
            return
        task = self._files.get(ref)
        if task is None:
            task = self._files[ref] = self._progress.add_task(ref, total=total)
        self._progress.update(task, completed=received)

    def done(self, ref: str) -> None:
        if self._show_overall:
            self._progress.advance(self._overall)
        if ref in self._files:
            self._progress.remove_task(self._files.pop(ref))

    @contextmanager
    def shown(self) -> Iterator[None]:
        if not self._show_overall:
            self._progress.update(self._overall, visible=False)
        with self._progress:
            yield


def run_fetch(manager: PluginManager, refs: Sequence[str], *, refresh: bool) -> FetchReport:
    if not err_console().is_terminal:
        return manager.fetch_many(refs, refresh=refresh)
    bar = ProgressBar(len(refs))
    sink: FetchProgress = bar.bytes
    with bar.shown():
        return manager.fetch_many(refs, refresh=refresh, progress=sink, on_done=bar.done)


def _plugin_json(plugin: FetchedPlugin) -> dict[str, Any]:
    data = asdict(plugin)
    data["path"] = str(plugin.path)
    return data


def _print_plugins(plugins: Sequence[FetchedPlugin]) -> None:
    for plugin in plugins:
        stdout.print(plugin.ref, markup=False)
        rows = [("source", plugin.source), ("sha256", plugin.sha256), ("path", str(plugin.path))]
        rows.append(("status", f"{plugin.origin}, {plugin.kind}, {plugin.size} bytes"))
        for label, value in rows:
            stdout.print(f"  {label:<7} {value}", markup=False)


def show_report(report: FetchReport, output: str) -> None:
    if output == "json":
        errors = [_error_json(ref, exc) for ref, exc in report.errors]
        emit_json({"plugins": [_plugin_json(p) for p in report.plugins], "errors": errors})
    else:
        _print_plugins(report.plugins)
        for _ref, exc in report.errors:
            err_console().print(f"error: {exc}", markup=False)
    if report.errors:
        raise click.exceptions.Exit(1)


def _error_json(ref: str, exc: PluginManagerError) -> dict[str, str]:
    return {"ref": ref, "code": type(exc).__name__, "message": str(exc)}


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
