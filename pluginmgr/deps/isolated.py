"""Isolated triggers: a trigger whose plugin's requirements are resolved into an environment of
its own instead of the shared set (``create trigger --isolated``).

::

    <PLUGIN_DIR>/envs/<trigger>/venv/          made like the shared venv (the same interpreter
                                               unless it exists already)
    <PLUGIN_DIR>/envs/<trigger>/pylock.toml    the trigger's plugin's requirements alone: no
                                               other plugin, no requirements.in, no
                                               constraints.txt (a conflict is what it avoids)
    <PLUGIN_DIR>/envs/isolated-only.txt        plugins that only isolated triggers use: left
                                               out of the shared set (pylock.toml)

The directory is `engine_runtime.environments.isolated_env_dir`, which the runtime also uses
to run the plugin on ``venv/bin/python``. Trigger names are unique per database only: an
isolated trigger whose directory another database's isolated trigger already has is refused.
Deleting an isolated trigger removes its directory (nothing else uses it; `forget_deleted`).

A plugin is in the shared set when a shared trigger uses it, when the operator added it, or
when it is pinned and no trigger uses it; one that only isolated triggers use is listed in
``isolated-only.txt``, which `pluginmgr.deps.plugins_in.record_isolated_only` rewrites from the
node's triggers whenever one is created or deleted (and ``serve`` at start), so ``deps lock``
leaves it out without reading the catalog.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engine_runtime.environments import isolated_env_dir

from ..errors import InstallError, PluginManagerError
from .dependency_set import DependencySet
from .inputs import DependencyInputs, interpreter_facts, requester_name
from .plugins_in import TRIGGER
from .pylock import Requester
from .venv import PluginEnv

if TYPE_CHECKING:
    from engine_runtime import TriggerDefinition

    from ..fetch.manager import PluginManager
    from .installers import InstallOptions
    from .pylock import PyLock
    from .sync import SyncResult

__all__ = [
    "IsolatedSet",
    "check_isolated_name",
    "forget_deleted",
    "isolated_env",
    "isolated_set",
    "new_env_dir",
    "sync_isolated",
]


def isolated_env(plugin_dir: Path, trigger_name: str, shared: PluginEnv) -> PluginEnv:
    """The venv of an isolated trigger: made, when it does not exist yet, with the shared
    venv's interpreter (and package manager), so every plugin of a node runs one Python."""
    venv = isolated_env_dir(plugin_dir, trigger_name) / "venv"
    python = None if (venv / "pyvenv.cfg").is_file() else shared.python
    return PluginEnv(
        venv, python=python, package_manager=shared.package_manager, log_dir=shared.log_dir
    )


class IsolatedSet(DependencySet):
    """The set of one isolated trigger: its plugin's declaration alone, locked in
    ``envs/<trigger>/pylock.toml`` and synced into ``envs/<trigger>/venv``."""

    def __init__(
        self,
        manager: PluginManager,
        env: PluginEnv,
        plugin_dir: Path,
        trigger_name: str,
        plugin_ref: str | None,
        *,
        sources: InstallOptions | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """:param plugin_ref: the trigger's plugin (its ``plugin_filename``); None: a plugin
        that declares nothing (its lock names no requester)."""
        env_dir = isolated_env_dir(plugin_dir, trigger_name)
        super().__init__(
            manager, env, plugin_dir, sources=sources, progress=progress, lock_dir=env_dir
        )
        self.trigger_name = trigger_name
        self.plugin_ref = plugin_ref

    def inputs(
        self,
        *,
        pinned_only: bool = True,
        all_plugins: bool | None = None,
        lock: PyLock | None = None,
    ) -> DependencyInputs:
        """The trigger's plugin's declaration, read from its pinned (or local) content."""
        from .plugin_deps import plugin_requirements

        del all_plugins, lock  # one plugin: there is no other choice of plugins
        facts = interpreter_facts(self.env.interpreter.version, self.env.interpreter.implementation)
        if self.plugin_ref is None:
            return DependencyInputs((), (), *facts)
        plugin = self.manager.fetch(self.plugin_ref)
        declared = plugin_requirements(self.manager, plugin, pinned_only=pinned_only)
        name = requester_name(plugin, self.plugin_dir)
        location = declared.location
        if location and Path(location).absolute().is_relative_to(self.plugin_dir.absolute()):
            # a local file: relative to the lock's directory, as in the shared lock
            relative = os.path.relpath(Path(location).absolute(), self.lock_dir.absolute())
            location = Path(relative).as_posix()
        requester = Requester(name, declared.source, declared.requirements, location, TRIGGER)
        requesters = (requester,) if declared.requirements else ()
        return DependencyInputs(requesters, (), *facts, members=frozenset({name}))


@contextlib.contextmanager
def new_env_dir(plugin_dir: Path, trigger_name: str) -> Iterator[Path]:
    """The trigger's environment directory, removed again (with ``envs/`` when that is left
    empty) if the block fails and the directory did not exist before it."""
    env_dir = isolated_env_dir(plugin_dir, trigger_name)
    existed, envs_existed = env_dir.exists(), env_dir.parent.exists()
    try:
        yield env_dir
    except BaseException:
        if not existed:
            shutil.rmtree(env_dir, ignore_errors=True)
        if not envs_existed:
            with contextlib.suppress(OSError):
                env_dir.parent.rmdir()  # only when empty
        raise


def check_isolated_name(
    plugin_dir: Path | None, triggers: Iterable[TriggerDefinition], database: str, name: str
) -> Path:
    """The environment directory of a new isolated trigger ``name`` of ``database``.

    :raises PluginManagerError: there is no plugin dir.
    :raises InvalidTriggerError: the name cannot be a directory's.
    :raises AlreadyExistsError: an isolated trigger of another database has that directory.
    """
    if plugin_dir is None:
        message = f"trigger {name} cannot be isolated: the server has no plugin directory"
        raise PluginManagerError(message, hint="start it with --plugin-dir DIR")
    from engine_runtime.catalog import ALREADY_EXISTS_MESSAGE
    from engine_runtime.errors import AlreadyExistsError

    env_dir = isolated_env_dir(plugin_dir, name)  # InvalidTriggerError for a name like ../x
    for other in triggers:
        if other.trigger_name == name and other.database != database and other.settings.isolated:
            message = (
                f"{ALREADY_EXISTS_MESSAGE}: {env_dir} is the environment of the isolated "
                f"trigger {name} of database {other.database}"
            )
            hint = "choose another name: names are unique per database, environments per node"
            raise AlreadyExistsError(message, hint=hint)
    return env_dir


def forget_deleted(
    plugin_dir: Path | None,
    deleted: Iterable[TriggerDefinition],
    remaining: Iterable[TriggerDefinition],
) -> list[Path]:
    """After triggers were deleted: remove the environments of the isolated ones and rewrite
    which plugins only isolated triggers use (from the ``remaining`` triggers).
    :returns: the directories removed."""
    if plugin_dir is None:
        return []
    from .plugins_in import record_isolated_only

    removed = []
    for trigger in deleted:
        if trigger.settings.isolated:
            env_dir = isolated_env_dir(plugin_dir, trigger.trigger_name)
            if env_dir.exists():
                shutil.rmtree(env_dir)
                removed.append(env_dir)
    record_isolated_only(plugin_dir, [(t.plugin_filename, t.settings.isolated) for t in remaining])
    return removed


def sync_isolated(
    manager: PluginManager,
    shared: PluginEnv,
    plugin_dir: Path,
    trigger_name: str,
    plugin_ref: str,
    sources: InstallOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> SyncResult:
    """Resolve the trigger's plugin's requirements into its own lock and sync its own venv,
    which is made even when the plugin declares nothing (the plugin runs on its interpreter).
    A conflict within the plugin's own requirements changes nothing."""
    env = isolated_env(plugin_dir, trigger_name, shared)
    own = IsolatedSet(
        manager, env, plugin_dir, trigger_name, plugin_ref, sources=sources, progress=progress
    )
    own.lock_dir.mkdir(parents=True, exist_ok=True)
    _plan, synced = own.apply()
    return synced


def isolated_set(
    manager: PluginManager,
    shared: PluginEnv,
    plugin_dir: Path,
    trigger_name: str,
    *,
    sources: InstallOptions | None = None,
) -> IsolatedSet:
    """The set of the isolated trigger ``trigger_name`` as its lock records it (``deps lock
    --trigger``, ``deps sync --trigger``): the plugin is the lock's requester.

    :raises InstallError: the trigger has no environment of its own here (no lock), or its
        name cannot be a directory's.
    """
    from engine_runtime.errors import EngineError

    from .pylock import PYLOCK_NAME, read_pylock

    try:
        env_dir = isolated_env_dir(plugin_dir, trigger_name)
    except EngineError as exc:  # a name like ../x: ours, for the CLI's one-line error
        raise InstallError(exc.message, hint=exc.hint) from None
    lock = read_pylock(env_dir / PYLOCK_NAME)
    if lock is None:
        path = env_dir / PYLOCK_NAME
        message = f"trigger {trigger_name} has no environment of its own: there is no {path}"
        hint = f"create it with `pluginmgr create trigger {trigger_name} --isolated ...`"
        raise InstallError(message, hint=hint)
    ref = lock.requesters[0].name if lock.requesters else None
    env = isolated_env(plugin_dir, trigger_name, shared)
    return IsolatedSet(manager, env, plugin_dir, trigger_name, ref, sources=sources)


def sync_isolated_envs(
    manager: PluginManager,
    shared: PluginEnv,
    plugin_dir: Path,
    *,
    sources: InstallOptions | None = None,
) -> list[str]:
    """Bring every isolated trigger's venv to its committed lock, as ``serve`` does the shared
    one at start (a node set up from committed locks has the locks, not the venvs); one line
    per environment synced or failed, for the server's log. Nothing here stops the server."""
    from .pylock import PYLOCK_NAME

    lines: list[str] = []
    for lock_path in sorted((plugin_dir / "envs").glob(f"*/{PYLOCK_NAME}")):
        name = lock_path.parent.name
        try:
            result = isolated_set(manager, shared, plugin_dir, name, sources=sources).sync()
        except PluginManagerError as exc:
            lines.append(f"warning: the isolated trigger {name}'s venv was not synced: {exc}")
            continue
        if result.ran_installer:
            lines.append(f"synced {lock_path.parent / 'venv'} to {lock_path}")
    return lines
