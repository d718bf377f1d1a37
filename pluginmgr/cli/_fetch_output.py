"""How fetching shows itself: a progress display on stderr while references fetch, and the
report (pretty or JSON) when they are done; ``fetch`` and the lifecycle commands share it."""

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
from ..fetch.manager import PluginManager
from ._common import emit_json, err_console

__all__ = ["ProgressBar", "run_fetch", "show_report", "stdout"]

#: the plugin commands' output
stdout = Console(highlight=False, soft_wrap=True)


#: show a progress bar from this many references, or for files at least this large
_MANY_REFS: Final = 5


_LARGE_FILE: Final = 1024 * 1024


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
