"""``<PLUGIN_DIR>/plugins.in``: the local plugins in use on a node, and why each is.

Fetched plugins are in the dependency set because plugins.lock pins them; local ones are not
pinned, so this operator file records them, one path under the plugin dir per line, then why
it is in::

    # Local plugins in use on this node: their requirements are resolved into pylock.toml.
    # ...
    ops/resampler/resampler.py  trigger
    tools/gapfill.py            added

``trigger``: `create trigger` (or ``serve`` at start, for the catalog's triggers) recorded it;
``added``: ``install deps PATH`` did, or the operator wrote the line (a line without a reason
is ``added``). ``pluginmgr remove PATH`` drops the line; deleting a trigger does not (as it
leaves a fetched plugin's pin in plugins.lock). An isolated trigger's plugin is not recorded:
its requirements go to the trigger's own environment; ``envs/isolated-only.txt`` lists the
plugins (local or pinned) that only isolated triggers use, which the shared set leaves out.
The file is kept sorted and written atomically; comment lines above an entry move with it, and
a comment at the end of a line is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from engine_runtime.environments import ENVS_DIR_NAME

from ..atomic import atomic_write, file_lock
from ..errors import LockfileError, PluginManagerError
from ..fetch.refs import LocalRef, parse_ref

__all__ = [
    "ADDED",
    "ISOLATED_ONLY_NAME",
    "PLUGINS_IN_NAME",
    "REASONS",
    "TRIGGER",
    "RecordedPlugin",
    "forget_plugins",
    "isolated_only",
    "local_plugin_name",
    "read_plugins_in",
    "record_catalog_plugins",
    "record_isolated_only",
    "record_plugins",
]

PLUGINS_IN_NAME: Final = "plugins.in"
#: under ``<PLUGIN_DIR>/envs/``: the plugins only isolated triggers use (`record_isolated_only`)
ISOLATED_ONLY_NAME: Final = "isolated-only.txt"
_ISOLATED_HEADER: Final = (
    "# Plugins only isolated triggers use: left out of the shared set (pylock.toml).\n"
    "# Rewritten by pluginmgr from the node's triggers; each has its own envs/<trigger>/.\n"
)
TRIGGER: Final = "trigger"
ADDED: Final = "added"
REASONS: Final = (TRIGGER, ADDED)
_LOCK: Final = ".plugins.in.lock"  # writers queue: two triggers created at once both land
_HEADER: Final = (
    "# Local plugins in use on this node: their requirements are resolved into pylock.toml.\n",
    "# One path under this directory per line, then why it is in (trigger or added).\n",
    "# `create trigger` and `install deps PATH` add lines, `pluginmgr remove PATH` drops one;\n",
    "# edits by hand are kept.\n",
)


@dataclass(frozen=True, slots=True)
class RecordedPlugin:
    """One entry: the plugin's path (relative, ``/``-separated), its reason and the comments
    that go with it (the lines above it, the end of its line)."""

    name: str
    reason: str
    comments: tuple[str, ...] = ()
    note: str = ""


def local_plugin_name(plugin_dir: Path, ref: str) -> str | None:
    """The name a local plugin reference is recorded under (``./a.py``, ``a.py``, an absolute
    path into the plugin dir all give ``a.py``); None for a fetched reference (gh:, git+,
    registry:) or a path outside the plugin dir."""
    try:
        parsed = parse_ref(ref)
    except PluginManagerError:
        return None
    if not isinstance(parsed, LocalRef):
        return None
    from engine_runtime import relative_plugin_name

    relative = relative_plugin_name(plugin_dir, parsed.path)
    if relative is None:
        return None
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or str(path) in ("", "."):
        return None
    return path.as_posix()


def _bad_line(path: Path, number: int, line: str, why: str) -> LockfileError:
    message = f"{path}, line {number}: {why}: {line.strip()!r}"
    return LockfileError(message, hint=f"fix or remove that line of {path}")


def _parse_line(plugin_dir: Path, path: Path, number: int, line: str) -> tuple[str, str, str]:
    """(name, reason, end-of-line comment) of an entry line."""
    body, hash_, comment = line.partition(" #")
    body, note = body.strip(), (hash_ + comment).strip()
    head, _, last = body.rpartition(" ")
    ref, reason = (head.strip(), last) if head and last in REASONS else (body, ADDED)
    name = local_plugin_name(plugin_dir, ref)
    if name is None:
        why = "not a local plugin path under the plugin dir"
        if ":" in ref:
            why += " (fetched plugins are in the set through plugins.lock)"
        raise _bad_line(path, number, line, why)
    return name, reason, note


def _read(plugin_dir: Path) -> tuple[dict[str, RecordedPlugin], tuple[str, ...]]:
    """The entries by name, and the comment lines after the last one."""
    path = plugin_dir / PLUGINS_IN_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, ()
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(f"cannot read {path}: {exc}", hint=f"fix or remove {path}") from None
    entries: dict[str, RecordedPlugin] = {}
    pending: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line in _HEADER or not line.strip():
            continue
        if line.lstrip().startswith("#"):
            pending.append(line.rstrip("\n"))
            continue
        name, reason, note = _parse_line(plugin_dir, path, number, line)
        previous = entries.get(name)
        if previous is not None and previous.reason == TRIGGER:
            reason = TRIGGER  # listed twice: the stronger reason wins
        entries[name] = RecordedPlugin(name, reason, tuple(pending), note)
        pending = []
    return entries, tuple(pending)


def read_plugins_in(plugin_dir: Path) -> dict[str, str]:
    """Recorded plugin name -> reason (``trigger`` or ``added``), sorted; {} without a file.

    :raises LockfileError: a line is not a local plugin path under the plugin dir.
    """
    entries, _tail = _read(plugin_dir)
    return {name: entries[name].reason for name in sorted(entries)}


def _write(plugin_dir: Path, entries: dict[str, RecordedPlugin], tail: tuple[str, ...]) -> None:
    width = max((len(name) for name in entries), default=0) + 2
    lines = list(_HEADER)
    for name in sorted(entries):
        entry = entries[name]
        lines += [f"{comment}\n" for comment in entry.comments]
        note = f"  {entry.note}" if entry.note else ""
        lines.append(f"{name.ljust(width)}{entry.reason}{note}\n")
    lines += [f"{comment}\n" for comment in tail]
    atomic_write(plugin_dir / PLUGINS_IN_NAME, "".join(lines).encode())


def record_plugins(plugin_dir: Path, refs: Iterable[str], *, reason: str) -> list[str]:
    """Record the local plugins among ``refs`` (fetched ones are skipped: plugins.lock pins
    them). ``trigger`` replaces ``added``, never the reverse. :returns: the names whose line
    was added or changed (the file is not written when there are none)."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}, not {reason!r}")
    names = [name for ref in refs if (name := local_plugin_name(plugin_dir, ref)) is not None]
    if not names:
        return []
    with file_lock(plugin_dir / _LOCK):
        entries, tail = _read(plugin_dir)
        changed = []
        for name in dict.fromkeys(names):
            entry = entries.get(name)
            if entry is None or (reason == TRIGGER and entry.reason != TRIGGER):
                comments, note = (entry.comments, entry.note) if entry else ((), "")
                entries[name] = RecordedPlugin(name, reason, comments, note)
                changed.append(name)
        if changed:
            _write(plugin_dir, entries, tail)
    return changed


def forget_plugins(plugin_dir: Path, refs: Iterable[str]) -> list[str]:
    """Drop the lines of ``refs``. :returns: the names dropped (the others were not listed)."""
    names = [local_plugin_name(plugin_dir, ref) for ref in refs]
    with file_lock(plugin_dir / _LOCK):
        entries, tail = _read(plugin_dir)
        dropped = [name for name in dict.fromkeys(names) if name is not None and name in entries]
        for name in dropped:
            del entries[name]
        if dropped:
            _write(plugin_dir, entries, tail)
    return dropped


def record_catalog_plugins(plugin_dir: Path, catalog: Path) -> list[str]:
    """Record the local plugins of the shared triggers in ``catalog`` (a node's catalog.json)
    as ``trigger``, as `create trigger` does, and which plugins only isolated triggers use
    (`record_isolated_only`). ``serve`` runs it at start, before it checks the lock: a node
    whose triggers were created before plugins.in existed keeps their requirements in the set.
    Idempotent. :returns: the names recorded in plugins.in now.

    :raises PluginManagerError: the catalog cannot be read (an `EngineError`'s message).
    """
    if not catalog.is_file():
        return []
    from engine_runtime import Catalog, EngineError

    try:
        triggers = Catalog(catalog).triggers()
    except EngineError as exc:
        raise PluginManagerError(exc.message, hint=exc.hint) from exc
    record_isolated_only(plugin_dir, [(t.plugin_filename, t.settings.isolated) for t in triggers])
    names = [t.plugin_filename for t in triggers if not t.settings.isolated]
    return record_plugins(plugin_dir, names, reason=TRIGGER)


def _plugin_name(plugin_dir: Path, ref: str) -> str:
    """The name a plugin has among the set's requesters: a local one's path, else its ref."""
    return local_plugin_name(plugin_dir, ref) or ref


def isolated_only(plugin_dir: Path) -> frozenset[str]:
    """The plugins only isolated triggers use (`record_isolated_only`); empty without a file."""
    path = plugin_dir / ENVS_DIR_NAME / ISOLATED_ONLY_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read {path}: {exc}"
        raise PluginManagerError(message, hint=f"remove {path}; serve rewrites it") from None
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def record_isolated_only(plugin_dir: Path, uses: Iterable[tuple[str, bool]]) -> frozenset[str]:
    """Rewrite ``envs/isolated-only.txt`` from every trigger's (plugin, isolated) pair: the
    plugins isolated triggers use and no shared one does. Not written when nothing changes
    (nor created when there is nothing to list). :returns: those plugins."""
    isolated: set[str] = set()
    shared: set[str] = set()
    for ref, is_isolated in uses:
        (isolated if is_isolated else shared).add(_plugin_name(plugin_dir, ref))
    only = frozenset(isolated - shared)
    if only == isolated_only(plugin_dir):
        return only
    path = plugin_dir / ENVS_DIR_NAME / ISOLATED_ONLY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _ISOLATED_HEADER + "".join(f"{name}\n" for name in sorted(only))
    atomic_write(path, text.encode())
    return only
