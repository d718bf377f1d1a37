"""Make the plugin venv importable inside the running runtime, without a restart.

The runtime runs on the same interpreter the venv was made for (the bundled interpreter), so it
can import the venv's packages directly: `activate` appends the venv's site-packages to
``sys.path`` (after the runtime's own paths, as InfluxDB 3 does, so a plugin dependency can never
shadow the runtime's libraries) and processes its ``.pth`` files. After each install,
`refresh_imports` picks up new ``.pth`` files and drops the import system's directory caches, so
the next plugin run imports what was just installed. Stdlib only.
"""

from __future__ import annotations

import importlib
import site
import sys
from pathlib import Path

__all__ = ["activate", "refresh_imports"]


def activate(site_packages: Path) -> None:
    """Append ``site_packages`` to ``sys.path`` once and process its ``.pth`` files.

    The directory may not exist yet (an empty venv): it is still added, so packages installed
    later are found after `refresh_imports`.
    """
    path = str(site_packages)
    if path not in sys.path:
        sys.path.append(path)
    refresh_imports(site_packages)


def refresh_imports(site_packages: Path) -> None:
    """See packages installed since the last call: new ``.pth`` files, fresh finder caches."""
    if site_packages.is_dir():
        # addsitedir skips paths already on sys.path but reads every .pth file again
        site.addsitedir(str(site_packages))
    # also forgets "directory does not exist" entries cached in sys.path_importer_cache
    importlib.invalidate_caches()
