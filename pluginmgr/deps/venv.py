"""`PluginEnv`: the plugins' virtual environment at ``<PLUGIN_DIR>/venv``.

* Made with ``--python``, else kept with the interpreter it was made with, else made with the
  **bundled interpreter** (the base installation of the Python running pluginmgr):
  `pluginmgr.deps.interpreter.choose_python`. Plugins run on the venv's interpreter, in a host
  process, so it need not be the server's; ``--python`` naming another interpreter than the one
  an existing venv was made with is refused (remove the venv to remake it).
* **Stale** when ``pyvenv.cfg`` names another Python version (major.minor) or implementation
  than its interpreter, or its interpreter is gone: the venv is rebuilt with a warning and every
  recorded requirement is installed again. A failed replay is a warning, never a reason not to
  start.
* What is installed, and whether a requirement is met, is read from the venv alone: nothing of
  the server's own environment reaches a plugin.
* Every install runs under a file lock (``.venv.lock`` beside the venv), so concurrent installs
  queue instead of corrupting the environment, and checks the installer's exit status.
* What was asked for is recorded in ``<venv>/pluginmgr-env.json`` (requirements by name, and the
  package sources; `pluginmgr.deps.venv_record`), which is what a rebuild replays.
* Requirements already satisfied are reported and never reinstalled; when all of them are, the
  installer is not even started.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from packaging.requirements import Requirement

from ..atomic import file_lock
from ..errors import InstallError
from ..settings import default_log_dir
from .installers import Installer, InstallOptions, disabled_error, get_installer
from .interpreter import (
    Interpreter,
    bundled_python,
    choose_python,
    read_pyvenv_cfg,
)
from .missing_packages import package_not_found
from .requirement_check import Installed, dist_name_version, parse_requirement, unsatisfied
from .venv_record import read_record, write_record

__all__ = [
    "EnsureResult",
    "InstallResult",
    "PluginEnv",
    "VenvState",
    "bundled_python",
    "default_venv_path",
    "parse_requirement",
]

_LOGGER = logging.getLogger(__name__)
VENV_DIR_NAME: Final = "venv"


def default_venv_path(plugin_dir: Path) -> Path:
    """``<PLUGIN_DIR>/venv`` (the documented location; upstream's code uses ``.venv``)."""
    return plugin_dir / VENV_DIR_NAME


def _mtime_ns(path: str) -> tuple[int, int]:
    """A directory's modification time and link count (which counts its subdirectories, such
    as ``.dist-info`` ones, so an install within the clock's granularity still shows)."""
    try:
        stat = os.stat(path)
    except OSError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_nlink)


@dataclass(frozen=True, slots=True)
class VenvState:
    """``missing``, ``ok`` or ``stale`` (with the reason)."""

    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EnsureResult:
    """What `PluginEnv.ensure` did."""

    created: bool = False
    rebuilt: bool = False
    reason: str | None = None
    replayed: tuple[str, ...] = ()
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What `PluginEnv.install` did: which requirements were already met, what changed."""

    requested: tuple[str, ...]
    satisfied: tuple[str, ...]
    changed: Mapping[str, str] = field(default_factory=dict)
    ran_installer: bool = False
    seconds: float = 0.0
    output: str = ""
    environment: EnsureResult = field(default_factory=EnsureResult)


class PluginEnv:
    """The plugin venv: create, check, rebuild, install into, and report on it."""

    def __init__(
        self,
        venv_path: Path,
        *,
        python: Path | None = None,
        package_manager: str = "uv",
        installer: Installer | None = None,
        log_dir: Path | None = None,
    ) -> None:
        """:param python: the interpreter to make the venv with (``--python``); None: the one
        an existing venv was made with, else the bundled one (`choose_python`)."""
        self.venv_path = venv_path
        self.requested_python = python
        self.package_manager = package_manager
        self.installer = installer if installer is not None else get_installer(package_manager)
        self.log_dir = log_dir or default_log_dir()  # not the plugin dir: operators commit it
        self._interp: tuple[Interpreter, str] | None = None
        self._view: tuple[tuple[str, tuple[int, int]], Installed] | None = None
        self._lock_path = venv_path.with_name(f".{venv_path.name}.lock")

    @property
    def interpreter(self) -> Interpreter:
        """The venv's interpreter, chosen (and probed) once: see `choose_python`.

        :raises InstallError: ``--python`` is not a Python, or the venv was made by another.
        """
        if self._interp is None:
            self._interp = choose_python(self.venv_path, self.requested_python)
        return self._interp[0]

    @property
    def python(self) -> Path:
        """The interpreter's path: what the venv is made with and locks are resolved for."""
        return self.interpreter.path

    @property
    def python_source(self) -> str:
        """Why `python` is the one: ``--python``, ``the venv's`` or ``bundled``."""
        self.interpreter  # noqa: B018 - chooses it
        assert self._interp is not None  # noqa: S101 - set just above; narrows the type
        return self._interp[1]

    @property
    def markers(self) -> dict[str, str]:
        """PEP 508 marker values of the venv's interpreter: which locked packages apply."""
        return dict(self.interpreter.markers)

    @property
    def venv_python(self) -> Path:
        return self.venv_path / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        major, minor = self.interpreter.version
        return self.venv_path / "lib" / f"python{major}.{minor}" / "site-packages"

    # -- state -------------------------------------------------------------------------------

    def state(self) -> VenvState:
        """Whether the venv exists and was made for this interpreter."""
        cfg_path = self.venv_path / "pyvenv.cfg"
        if not cfg_path.is_file():
            return VenvState("missing")
        cfg = read_pyvenv_cfg(cfg_path)
        version = cfg.get("version_info") or cfg.get("version") or ""
        want = "{}.{}".format(*self.interpreter.version)
        if ".".join(version.split(".")[:2]) != want:
            return VenvState("stale", f"it was made for Python {version or '?'}, not {want}")
        implementation = cfg.get("implementation")
        if implementation and implementation.lower() != self.interpreter.implementation.lower():
            reason = f"it was made for {implementation}, not {self.interpreter.implementation}"
            return VenvState("stale", reason)
        if not self.venv_python.exists():
            home = cfg.get("home", "?")
            return VenvState("stale", f"its interpreter is gone (home = {home})")
        return VenvState("ok")

    def installed(self) -> dict[str, str]:
        """Distributions in the venv: canonical name -> version, from the ``.dist-info``
        directories' names (`dist_name_version`), which a no-op install and a server start
        read."""
        if not self.site_packages.is_dir():
            return {}
        parsed = (dist_name_version(entry) for entry in self.site_packages.iterdir())
        return dict(found for found in parsed if found is not None)

    def unsatisfied(self, requirements: Sequence[str]) -> list[str]:
        """The requirements the venv alone does not satisfy (what the plugin host imports:
        nothing of the server's environment), markers evaluated for the venv's interpreter;
        extras are checked through."""
        return unsatisfied(requirements, self._installed_view(), environment=self.markers)

    def _installed_view(self) -> Installed:
        """The venv's distributions, read again only when its site-packages changed (an
        install or removal renames ``.dist-info`` directories): a server start checks every
        trigger's plugin against one read of its hundreds of distributions."""
        path = str(self.site_packages)
        key = (path, _mtime_ns(path))
        view = self._view
        if view is None or view[0] != key:
            view = (key, Installed.scan([path]))
            self._view = view
        return view[1]

    def recorded_requirements(self) -> tuple[str, ...]:
        """Requirements installed through pluginmgr, replayed on a rebuild."""
        return read_record(self.venv_path).requirements

    # -- lifecycle ---------------------------------------------------------------------------

    def ensure(self) -> EnsureResult:
        """Create the venv if missing, rebuild it if stale; never leaves a half-made venv."""
        with file_lock(self._lock_path):
            return self._ensure()

    def _ensure(self) -> EnsureResult:
        state = self.state()
        if state.status == "ok":
            return EnsureResult()
        if self.installer is None:
            return EnsureResult(warning=f"package manager disabled: no venv at {self.venv_path}")
        if state.status == "missing":
            self._create()
            return EnsureResult(created=True)
        return self._rebuild(state.reason or "stale")

    def _create(self) -> None:
        assert self.installer is not None  # noqa: S101 - callers checked; narrows the type
        try:
            self.installer.create_venv(self.venv_path, self.python, log_dir=self.log_dir)
            # its code runs in the server: nobody else may reach it, whatever the umask
            os.chmod(self.venv_path, 0o700)
        except BaseException:
            shutil.rmtree(self.venv_path, ignore_errors=True)
            raise

    def _rebuild(self, reason: str) -> EnsureResult:
        _LOGGER.warning("rebuilding %s: %s", self.venv_path, reason)
        record = read_record(self.venv_path)
        aside = self.venv_path.with_name(f".{self.venv_path.name}.stale-{time.time_ns()}")
        self.venv_path.rename(aside)
        try:
            self._create()
        except BaseException:
            aside.rename(self.venv_path)
            raise
        warning = None
        if record.requirements:
            try:
                self._run_installer(
                    [Requirement(r) for r in record.requirements], (), record.options()
                )
            except InstallError as exc:
                warning = f"rebuilt {self.venv_path} but could not reinstall its packages: {exc}"
                _LOGGER.warning("%s", warning)
        write_record(self.venv_path, record)
        shutil.rmtree(aside, ignore_errors=True)
        return EnsureResult(
            rebuilt=True, reason=reason, replayed=record.requirements, warning=warning
        )

    # -- installs ----------------------------------------------------------------------------

    def sync(self, requirements: Path, extraneous: Sequence[str], options: InstallOptions) -> str:
        """Make the venv exactly the hashed ``requirements`` file (created first if missing).

        :param extraneous: installed distributions the file does not list (pip removes them
            itself; uv's sync finds them on its own).
        :returns: the installer's output.
        """
        if self.installer is None:
            raise disabled_error()
        with file_lock(self._lock_path):
            self._ensure()
            return self.installer.sync(
                self.venv_python, requirements, extraneous, options=options, log_dir=self.log_dir
            )

    def install(
        self,
        requirements: Sequence[str],
        *,
        requirement_files: Sequence[Path] = (),
        file_requirements: Sequence[str] = (),
        options: InstallOptions | None = None,
    ) -> InstallResult:
        """Install what is not yet satisfied; report what already was.

        :param file_requirements: the requirements read from ``requirement_files`` (for the
            satisfied check and the record; the files themselves go to the installer).
        """
        if self.installer is None:
            raise disabled_error()
        options = options or InstallOptions()
        parsed = [parse_requirement(r) for r in (*requirements, *file_requirements)]
        if not parsed and not requirement_files:
            raise InstallError("nothing to install", hint="name packages or pass -r FILE")
        with file_lock(self._lock_path):
            environment = self._ensure()
            before = self.installed()
            in_venv = Installed.scan([self.site_packages])
            markers = self.markers
            satisfied = tuple(
                str(r) for r in parsed if not unsatisfied([str(r)], in_venv, environment=markers)
            )
            requested = tuple(str(r) for r in parsed)
            if len(satisfied) == len(parsed) and parsed:
                write_record(self.venv_path, read_record(self.venv_path).add(parsed, options))
                return InstallResult(requested, satisfied, environment=environment)
            start = time.perf_counter()
            try:
                result = self._run_installer(
                    [parse_requirement(r) for r in requirements], requirement_files, options
                )
            except InstallError as exc:
                names = [r.name for r in parsed]
                missing = package_not_found(exc.output, names, options, log_path=exc.log_path)
                raise missing or exc from None
            after = self.installed()
            changed = {name: v for name, v in after.items() if before.get(name) != v}
            write_record(self.venv_path, read_record(self.venv_path).add(parsed, options))
        seconds = time.perf_counter() - start
        return InstallResult(
            requested, satisfied, changed, True, seconds, result.output, environment
        )

    def _run_installer(
        self, requirements: Sequence[Requirement], files: Sequence[Path], options: InstallOptions
    ) -> Any:
        assert self.installer is not None  # noqa: S101 - callers checked; narrows the type
        return self.installer.install(
            self.venv_python,
            [str(r) for r in requirements],
            requirement_files=files,
            options=options,
            log_dir=self.log_dir,
        )
