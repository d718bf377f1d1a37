"""A venv that plugins cannot run in, said in one line (`venv_problem`), and the shell command
that replaces it (`venv_rebuild_command`).

Apart from `venv` because these serve the operator's view of a broken venv (a server start,
``doctor``, a trigger refused), not the venv's lifecycle: neither touches the venv.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from .installers import InstallOptions
from .interpreter import read_pyvenv_cfg
from .pylock import PYLOCK_NAME
from .venv import default_venv_path

__all__ = ["venv_problem", "venv_rebuild_command"]


def venv_problem(venv: Path) -> str | None:
    """Why plugins cannot run in the venv at ``venv``: the interpreter it links to no longer
    exists. A venv of another Python than the server's is no problem: plugins run on the
    venv's own interpreter.

    :returns: one line naming the venv, the missing interpreter and its ``pyvenv.cfg``; None
        when the venv works or is absent.
    """
    cfg_path = venv / "pyvenv.cfg"
    if not cfg_path.is_file():
        return None
    cfg = read_pyvenv_cfg(cfg_path)
    python = venv / "bin" / "python"
    if not python.exists():
        target = python.readlink() if python.is_symlink() else python
        home = cfg.get("home", "?")
        return (
            f"{venv} links to an interpreter that no longer exists ({target}; home = {home} in "
            f"{cfg_path}): nothing can be installed into it"
        )
    return None


def venv_rebuild_command(
    venv: Path, plugin_dir: Path, *, sources: InstallOptions | None = None
) -> str:
    """The shell command that replaces ``venv`` (whose interpreter is gone) with one for the
    bundled interpreter, from pylock.toml.

    The venv is removed first: `deps sync` alone leaves a foreign venv in place when the lock
    has nothing to install. Without a pylock.toml the command locks first.
    """
    options = ["--plugin-dir", str(plugin_dir)]
    if venv != default_venv_path(plugin_dir):
        options += ["--virtual-env-location", str(venv)]
    sources = sources or InstallOptions()
    options += [arg for link in sources.find_links for arg in ("--find-links", link)]
    if sources.index_url:
        options += ["--index-url", sources.index_url]
    if sources.no_index:
        options.append("--no-index")
    if sources.offline:
        options.append("--offline")
    tail = shlex.join(options)
    steps = [f"rm -rf {shlex.quote(str(venv))}"]
    if not (plugin_dir / PYLOCK_NAME).is_file():
        steps.append(f"pluginmgr deps lock {tail}")
    steps.append(f"pluginmgr deps sync {tail}")
    return " && ".join(steps)
