"""Which Python the plugin venv is made with, and what that Python is.

Plugins run in a host process on the venv's own interpreter, so the venv's Python is not tied
to the server's: ``--python PATH`` (the bundled interpreter beside the engine, or any other)
makes the venv, and locks are resolved for it. `choose_python` picks it, with its reason::

    --python PATH          the operator's choice; refused when the venv exists and was made
                           by another interpreter (remove the venv to remake it)
    the venv's own         the interpreter an existing venv was made with (its bin/python,
                           followed to the base installation), so commands without --python
                           keep the venv as it is
    bundled                the base installation of the Python running pluginmgr

`probe_interpreter` asks an interpreter (in a subprocess, stdlib only) for its version,
implementation, real executable and PEP 508 marker values, which decide which locked packages
apply to the venv; the running interpreter answers without a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..errors import InstallError
from ..process import run

__all__ = [
    "Interpreter",
    "bundled_python",
    "choose_python",
    "probe_interpreter",
    "read_pyvenv_cfg",
    "venv_base_python",
]

_LOGGER = logging.getLogger(__name__)
_PROBE_TIMEOUT: Final = 60.0
_PYTHON_HINT: Final = "pass the path of a Python 3 executable, e.g. /usr/bin/python3.11"
# what the probed interpreter prints: packaging.markers.default_environment(), by hand
_PROBE: Final = """
import json, os, platform, sys
def full(info):
    text = f"{info.major}.{info.minor}.{info.micro}"
    return text if info.releaselevel == "final" else text + info.releaselevel[0] + str(info.serial)
print(json.dumps({
    "executable": os.path.realpath(sys.executable),
    "version": [sys.version_info[0], sys.version_info[1]],
    "markers": {
        "implementation_name": sys.implementation.name,
        "implementation_version": full(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
}))
"""


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A Python interpreter as it describes itself."""

    path: Path
    version: tuple[int, int]
    implementation: str
    #: the real executable (symlinks and shims followed): what identifies the installation
    executable: Path
    #: PEP 508 marker values for this interpreter (``python_version``, ``sys_platform``, ...)
    markers: Mapping[str, str] = field(default_factory=dict)

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


def bundled_python() -> Path:
    """The base interpreter of the running Python (not a venv's copy of it)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin"
    candidates = [
        base / f"python{version}",
        base / "python3",
        Path(getattr(sys, "_base_executable", sys.executable)),
        Path(sys.executable),
    ]
    return next((c for c in candidates if c.is_file()), Path(sys.executable))


def _own(python: Path) -> Interpreter:
    from packaging.markers import default_environment

    executable = Path(os.path.realpath(sys.executable))
    version = (sys.version_info.major, sys.version_info.minor)
    markers = {str(k): str(v) for k, v in default_environment().items()}
    return Interpreter(python, version, platform.python_implementation(), executable, markers)


def probe_interpreter(python: Path, *, what: str = "the interpreter") -> Interpreter:
    """Ask ``python`` what it is; `InstallError` naming ``what`` when it is not a Python 3.

    :param what: how the message names it (``--python /x``, ``the venv's interpreter``).
    """
    if python.resolve() in {bundled_python().resolve(), Path(sys.executable).resolve()}:
        return _own(python)
    try:
        result = run([python, "-I", "-c", _PROBE], timeout=_PROBE_TIMEOUT)
    except (InstallError, OSError) as exc:
        detail = exc.message if isinstance(exc, InstallError) else (exc.strerror or str(exc))
        message = f"{what} {python} cannot be run: {detail}"
        raise InstallError(message, hint=_PYTHON_HINT) from None
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
        markers = {str(k): str(v) for k, v in data["markers"].items()}
        major, minor = (int(n) for n in data["version"])
        executable = Path(data["executable"])
    except (ValueError, IndexError, KeyError, TypeError, AttributeError):
        said = result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or [""]
        detail = f": {said[-1][:200]}" if said[-1] else ""
        message = f"{what} {python} is not a Python 3 interpreter{detail}"
        raise InstallError(message, hint=_PYTHON_HINT) from None
    implementation = markers.get("platform_python_implementation", "CPython")
    return Interpreter(python, (major, minor), implementation, executable, markers)


def venv_base_python(venv: Path) -> Path | None:
    """The interpreter ``venv`` was made with (its ``bin/python`` followed to the base
    installation, else ``home`` in ``pyvenv.cfg``); None without a venv or when it is gone."""
    if not (venv / "pyvenv.cfg").is_file():
        return None
    link = venv / "bin" / "python"
    if link.exists():
        real = link.resolve()
        if not real.is_relative_to(venv.resolve()):
            return real
    cfg = read_pyvenv_cfg(venv / "pyvenv.cfg")
    home = cfg.get("home")
    version = ".".join((cfg.get("version_info") or cfg.get("version") or "").split(".")[:2])
    if not home:
        return None
    candidates = [Path(home) / f"python{version}", Path(home) / "python3"]
    return next((c for c in candidates if version and c.is_file()), None)


def choose_python(venv: Path, requested: Path | None) -> tuple[Interpreter, str]:
    """The interpreter the venv at ``venv`` is (or will be) made with, and why (see the module
    docstring); logged. :raises InstallError: ``requested`` is not a Python, or the venv exists
    and was made by another interpreter."""
    chosen, source = _choose(venv, requested)
    _LOGGER.info("the venv %s: Python %s (%s, %s)", venv, chosen.version_text, chosen.path, source)
    return chosen, source


def _choose(venv: Path, requested: Path | None) -> tuple[Interpreter, str]:
    made_by = venv_base_python(venv)
    if requested is None:
        if made_by is not None:
            try:
                return probe_interpreter(made_by, what="the venv's interpreter"), "the venv's"
            except InstallError as exc:  # a broken venv is rebuilt, not a reason to stop
                _LOGGER.warning("%s; the bundled interpreter is used instead", exc.message)
        return probe_interpreter(bundled_python()), "bundled"
    chosen = probe_interpreter(requested, what="--python")
    if made_by is None:
        return chosen, "--python"
    existing = probe_interpreter(made_by, what="the venv's interpreter")
    if existing.executable != chosen.executable:
        message = (
            f"{venv} was made by {existing.executable} (Python {existing.version_text}), not by "
            f"--python {requested} ({chosen.executable}, Python {chosen.version_text})"
        )
        hint = f"remove it to remake it with that interpreter (rm -rf {venv}), or drop --python"
        raise InstallError(message, hint=hint)
    return chosen, "--python"


def read_pyvenv_cfg(path: Path) -> dict[str, str]:
    """``pyvenv.cfg`` as lower-cased keys and their values."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values
