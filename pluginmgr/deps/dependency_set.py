"""`DependencySet`: the plugin venv as one resolved set, locked in ``<PLUGIN_DIR>/pylock.toml``.

::

    inputs  (dep_inputs)   the declarations of the plugins in use + requirements.in +
                           constraints.txt
    resolve (dep_resolver) uv, for the venv's interpreter -> PyLock
    apply   (dep_sync)     uv pip sync: exactly the lock, hash-checked, extraneous removed

Every change (``install deps``, ``install package``, ``deps constrain``, creating a trigger)
is one transaction under ``<PLUGIN_DIR>/.pylock.lock``: re-resolve the whole set, write the
lock, sync; when the inputs still hash to the lock's inputs-sha256 and the venv holds exactly
the lock, nothing runs at all (`DependencySet._without_resolver`). A resolution that fails changes
nothing; a sync that fails puts the previous lock and operator files back. A lock whose inputs
changed since it was written is *stale*: `sync` refuses it, naming what changed, instead of
silently using or re-resolving it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..atomic import file_lock, restored_on_error
from ..check import count
from ..errors import InstallError, StaleLockError
from ..process import streaming_to
from .extend import extend_lock
from .inputs import (
    CONSTRAINTS_NAME,
    REQUIREMENTS_NAME,
    DependencyInputs,
    gather_inputs,
    interpreter_facts,
    read_spec_file,
    write_spec_file,
)
from .installers import InstallOptions, UvInstaller, find_uv
from .lock_cache import cached_lock
from .lock_graph import graph_problems
from .pylock import PYLOCK_NAME, PyLock
from .pylock_writer import write_pylock
from .resolver import ResolveOptions, resolve
from .status import (
    LockStatus,
    PackageChange,
    interpreter_change,
    package_changes,
    requester_changes,
    runtime_pinned_note,
)
from .sync import SyncPlan, SyncResult, plan_sync, sync_venv

if TYPE_CHECKING:
    from ..fetch.manager import PluginManager
    from .venv import PluginEnv

__all__ = ["DependencySet", "LockPlan", "LockStatus", "PackageChange"]

_TX_LOCK: Final = ".pylock.lock"


@dataclass(frozen=True, slots=True)
class LockPlan:
    """A resolution and how it differs from the lock it replaces."""

    previous: PyLock | None
    lock: PyLock
    changes: tuple[PackageChange, ...]
    written: bool


def _requesters(inputs: DependencyInputs) -> str:
    """``3 plugins`` (and ``requirements.in``), for the resolving message."""
    plugins = sum(1 for r in inputs.requesters if r.name != REQUIREMENTS_NAME)
    if len(inputs.requesters) == plugins:
        return count(plugins, "plugin")
    return f"{count(plugins, 'plugin')} and {REQUIREMENTS_NAME}" if plugins else REQUIREMENTS_NAME


class DependencySet:
    """Resolve, lock, sync and explain the plugin venv of one plugin directory."""

    def __init__(
        self,
        manager: PluginManager,
        env: PluginEnv,
        plugin_dir: Path,
        *,
        sources: InstallOptions | None = None,
        progress: Callable[[str], None] | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        """:param progress: told each step ("resolving …", "installed …") and uv's own output
        lines, for a client that waits on a long install.
        :param lock_dir: where pylock.toml (and the transaction's lock file) live [default:
            ``plugin_dir``; an isolated trigger's environment directory for its own set]."""
        self.manager = manager
        self.progress = progress
        self.env = env
        self.plugin_dir = plugin_dir
        self.lock_dir = lock_dir or plugin_dir
        self.sources = sources or InstallOptions()
        self.lock_path = self.lock_dir / PYLOCK_NAME
        self.requirements_path = plugin_dir / REQUIREMENTS_NAME
        self.constraints_path = plugin_dir / CONSTRAINTS_NAME

    # -- reading -----------------------------------------------------------------------------

    def read_lock(self) -> PyLock | None:
        return cached_lock(self.lock_path, self.manager.settings.cache_dir / "parsed-locks")

    def require_lock(self) -> PyLock:
        """The lock; `InstallError` saying how to make one when there is none."""
        lock = self.read_lock()
        if lock is None:
            message = f"there is no {self.lock_path}"
            raise InstallError(message, hint="run `pluginmgr deps lock` first")
        return lock

    def inputs(
        self,
        *,
        pinned_only: bool = True,
        all_plugins: bool | None = None,
        lock: PyLock | None = None,
    ) -> DependencyInputs:
        """What the set is resolved from (``pinned_only``: no request; see `gather_inputs`).

        :param all_plugins: every plugin under the plugin dir, or only those in use; None: as
            ``lock`` (default: the lock on disk) was resolved, so the choice persists.
        """
        if all_plugins is None:
            lock = lock or self.read_lock()
            all_plugins = lock is not None and lock.all_plugins
        facts = interpreter_facts(self.env.interpreter.version, self.env.interpreter.implementation)
        return gather_inputs(
            self.manager,
            self.plugin_dir,
            self.env.venv_path,
            facts,
            pinned_only=pinned_only,
            all_plugins=all_plugins,
        )

    def status(
        self, lock: PyLock | None = None, *, inputs: DependencyInputs | None = None
    ) -> LockStatus:
        """Whether the lock still matches the node's inputs (read now unless given)."""
        lock = lock or self.read_lock()
        if lock is None:
            return LockStatus("missing")
        inputs = inputs or self.inputs(lock=lock)
        differs = lock.inputs_sha256 != inputs.sha256
        declared = requester_changes(lock, inputs) if differs else []
        interpreter = interpreter_change(lock, inputs)
        if differs and not declared and interpreter is None:
            declared = ["its inputs changed (the lock's inputs-sha256 differs)"]
        graph = graph_problems(
            lock, self.env.markers
        )  # a package added by hand: the lock is not what it says
        changes = [*declared, *([interpreter] if interpreter else []), *graph]
        only = interpreter is not None and not declared and not graph
        note = runtime_pinned_note(lock)
        notes = (note,) if note else ()
        return LockStatus("stale" if changes else "fresh", tuple(changes), only, notes)

    def sync_plan(self, lock: PyLock) -> SyncPlan:
        return plan_sync(self.env.installed(), lock.installable(self.env.markers))

    def _without_resolver(
        self, sources: InstallOptions | None
    ) -> tuple[LockPlan, SyncResult] | None:
        """What `apply` answers when the resolver has nothing to add; None: resolve.

        * The lock is fresh (its inputs-sha256 is the current inputs' hash, the interpreter
          unchanged, as `status` checks): a resolution with the lock as
          uv's preferences would keep every pin, so the venv is only synced to it, and when it
          already holds exactly the lock (`plan_sync` empty) nothing runs at all.
        * Only new requesters, whose requirements the locked packages already meet
          (`extend_lock`): the lock records them and nothing is resolved.
        """
        lock = self.read_lock()
        if lock is None:
            return None
        inputs = self.inputs(lock=lock)
        if inputs.all_plugins != lock.all_plugins:
            return None  # another choice of plugins: resolve
        status = self.status(lock, inputs=inputs)
        if status.state == "fresh":
            new, written = lock, False
        else:
            extended = extend_lock(lock, inputs)
            if extended is None:
                return None
            new, written = extended, write_pylock(self.lock_path, extended)
        start = time.perf_counter()
        plan = self.sync_plan(new)
        if plan.empty and self.env.venv_python.exists():
            result = SyncResult(plan, ran_installer=False, seconds=time.perf_counter() - start)
        else:
            result = self._sync_venv(new, sources or self.sources)
        return LockPlan(lock, new, (), written=written), result

    # -- resolving ---------------------------------------------------------------------------

    @property
    def uv(self) -> Path:
        """The uv binary: the venv's installer's, else the one pluginmgr ships."""
        installer = self.env.installer
        return installer.uv if isinstance(installer, UvInstaller) else find_uv()[0]

    def _resolve_options(
        self, sources: InstallOptions, *, upgrade: bool, upgrade_packages: tuple[str, ...]
    ) -> ResolveOptions:
        return ResolveOptions(
            uv=self.uv,
            python=self.env.python,
            sources=sources,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            log_dir=self.manager.settings.log_dir,
            lock_dir=self.lock_dir,
        )

    def resolve(
        self,
        *,
        upgrade: bool = False,
        upgrade_packages: Sequence[str] = (),
        sources: InstallOptions | None = None,
        all_plugins: bool | None = None,
    ) -> LockPlan:
        """Resolve the current inputs; nothing is written. Siblings are read online unless
        the sources say offline. ``all_plugins``: see `inputs`."""
        sources = sources or self.sources
        previous = self.read_lock()
        inputs = self.inputs(pinned_only=sources.offline, all_plugins=all_plugins, lock=previous)
        options = self._resolve_options(
            sources, upgrade=upgrade, upgrade_packages=tuple(upgrade_packages)
        )
        self._tell(f"resolving the requirements of {_requesters(inputs)}…")
        with streaming_to(self._uv_line if self.progress else None):
            lock = resolve(inputs, options, previous=previous)
        lock = replace(lock, all_plugins=inputs.all_plugins)
        changes = package_changes(previous, lock)
        self._tell(f"resolved: {count(len(lock.packages), 'package')} ({len(changes)} changed)")
        return LockPlan(previous, lock, changes, written=False)

    def lock(
        self,
        *,
        upgrade: bool = False,
        upgrade_packages: Sequence[str] = (),
        dry_run: bool = False,
        sources: InstallOptions | None = None,
        all_plugins: bool | None = None,
    ) -> LockPlan:
        """Resolve and (unless ``dry_run``) write pylock.toml; the venv is not touched.
        ``all_plugins``: see `inputs` (the lock records the choice)."""
        with self._transaction():
            plan = self.resolve(
                upgrade=upgrade,
                upgrade_packages=upgrade_packages,
                sources=sources,
                all_plugins=all_plugins,
            )
            if dry_run:
                return plan
            return replace(plan, written=write_pylock(self.lock_path, plan.lock))

    # -- applying ----------------------------------------------------------------------------

    def sync(self, *, sources: InstallOptions | None = None) -> SyncResult:
        """Make the venv exactly the lock; refuse a missing or stale lock.

        A lock stale only because the interpreter changed (a Python upgrade) is re-resolved
        from the same declarations for this interpreter and rewritten; the result's
        ``relocked`` says so. Any other change is refused (`StaleLockError`).
        """
        lock = self.require_lock()
        status = self.status(lock)
        if status.state == "stale" and status.interpreter_only:
            # a Python upgrade: the same declarations, resolved again for this interpreter
            plan = self.lock(sources=sources)
            result = sync_venv(self.env, plan.lock, sources or self.sources)
            return replace(result, relocked=status.changes[0])
        if status.state == "stale":
            message = f"{self.lock_path} is stale: {'; '.join(status.changes)}"
            raise StaleLockError(message, changes=status.changes)
        return sync_venv(self.env, lock, sources or self.sources)

    def apply(
        self, *, upgrade_packages: Sequence[str] = (), sources: InstallOptions | None = None
    ) -> tuple[LockPlan, SyncResult]:
        """Re-resolve the whole set, write the lock and sync; all or nothing. When the lock
        is fresh and the venv matches it, neither the resolver nor the installer runs."""
        with self._transaction():
            return self._apply_locked(sources, upgrade_packages)

    def add_requirements(
        self, specs: Sequence[str], *, sources: InstallOptions | None = None
    ) -> tuple[LockPlan, SyncResult]:
        """Add operator requirements (kept in requirements.in, one per package name) and apply."""
        return self._edit(self.requirements_path, specs, "operator requirements", sources=sources)

    def constrain(
        self, specs: Sequence[str], *, remove: bool = False, sources: InstallOptions | None = None
    ) -> tuple[LockPlan, SyncResult]:
        """Add (or ``remove``) constraints in constraints.txt, then apply."""
        return self._edit(
            self.constraints_path, specs, "operator constraints", remove=remove, sources=sources
        )

    def _edit(
        self,
        path: Path,
        specs: Sequence[str],
        what: str,
        *,
        remove: bool = False,
        sources: InstallOptions | None,
    ) -> tuple[LockPlan, SyncResult]:
        from .venv import parse_requirement

        parsed = [parse_requirement(spec) for spec in specs]
        names = {canonicalize_name(r.name) for r in parsed}
        with self._transaction(), restored_on_error(path):
            current = read_spec_file(path)
            kept = [s for s in current if canonicalize_name(Requirement(s).name) not in names]
            if not remove and set(current) - set(kept) == {str(r) for r in parsed}:
                # each package is there with exactly these specs: the file stays, and the set
                # is re-resolved only if the lock or the venv no longer match it
                return self._apply_locked(sources)
            if remove:
                missing = names - {canonicalize_name(Requirement(s).name) for s in current}
                if missing:
                    message = f"{path.name} has nothing on {', '.join(sorted(missing))}"
                    raise InstallError(message, hint=f"see {path}")
            write_spec_file(path, kept if remove else [*kept, *map(str, parsed)], what=what)
            return self._apply_locked(sources)

    def _apply_locked(
        self, sources: InstallOptions | None, upgrade_packages: Sequence[str] = ()
    ) -> tuple[LockPlan, SyncResult]:
        """Resolve, write, sync, with the transaction lock held; the lock file is put back
        when anything fails; the resolver runs only when needed (`_without_resolver`)."""
        with restored_on_error(self.lock_path):
            quick = None if upgrade_packages else self._without_resolver(sources)
            if quick is not None:
                return quick
            plan = self.resolve(upgrade_packages=upgrade_packages, sources=sources)
            written = write_pylock(self.lock_path, plan.lock)
            result = self._sync_venv(plan.lock, sources or self.sources)
        return replace(plan, written=written), result

    def _sync_venv(self, lock: PyLock, sources: InstallOptions) -> SyncResult:
        """`sync_venv`, telling `progress` what it installs."""
        if self.progress is None:
            return sync_venv(self.env, lock, sources)
        pending = self.sync_plan(lock)
        if pending.install:
            names = ", ".join(f"{name} {new}" for name, (_old, new) in pending.install.items())
            self._tell(f"installing {count(len(pending.install), 'package')}: {names}")
        with streaming_to(self._uv_line):
            result = sync_venv(self.env, lock, sources)
        if result.ran_installer:
            done = count(len(result.plan.install), "package")
            self._tell(f"installed {done} in {result.seconds:.1f}s")
        return result

    def _tell(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def _uv_line(self, line: str) -> None:
        self._tell(f"  {line.strip()}")  # uv's own lines, under our steps

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with file_lock(self.lock_dir / _TX_LOCK):
            yield
