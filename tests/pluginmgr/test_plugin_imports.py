"""A plugin's module-level imports, run as the plugin host would: in a real subprocess of the
venv's interpreter, which sees nothing of the server's environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pluginmgr.deps.imports import ImportProblem, check_imports, import_statements
from pluginmgr.deps.installers import find_uv
from pluginmgr.deps.venv import bundled_python

SOURCE = """
from __future__ import annotations
import json, os.path as osp
from typing import TYPE_CHECKING
from . import helpers
from .sub import thing
import helpers as h
if TYPE_CHECKING:
    import never_at_run_time
try:
    import optional_lib
except ImportError:
    optional_lib = None
try:
    import needed_inside_try
finally:
    pass
if True:
    from collections import abc
def process_writes(influxdb3_local, table_batches, args=None):
    import inside_a_function
"""


def test_only_module_level_absolute_imports_of_others_count() -> None:
    # relative imports and the plugin's own modules, TYPE_CHECKING blocks, optional imports
    # (a try that catches ImportError) and imports inside functions are left out
    assert import_statements(
        [SOURCE, "import json, os.path as osp\n", "def broken(:\n"], own=["helpers"]
    ) == [
        "import json, os.path as osp",
        "from typing import TYPE_CHECKING",
        "import needed_inside_try",
        "from collections import abc",
    ]


def _venv(tmp_path: Path, **modules: str) -> tuple[Path, Path]:
    """A real venv (its interpreter, its site-packages) holding ``modules``."""
    root = tmp_path / "venv"
    command = [str(find_uv()[0]), "venv", "-q", "--offline", "--python", str(bundled_python())]
    subprocess.run([*command, str(root)], check=True, timeout=120, capture_output=True)
    site = root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)
    return root / "bin" / "python", site


def test_a_package_plugin_imports_from_the_venv_and_skips_its_own_modules(
    tmp_path: Path,
) -> None:
    python, site = _venv(tmp_path, venv_lib="VALUE = 1\n")
    package = tmp_path / "plugins" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .helpers import x\nimport venv_lib\n")
    (package / "helpers.py").write_text("import helpers\nfrom venv_lib import VALUE\nx = 1\n")
    assert check_imports(package, python) is None
    (package / "more.py").write_text("from venv_lib import MISSING\n")
    problem = check_imports(package, python)
    assert problem == ImportProblem(
        "from venv_lib import MISSING",
        f"ImportError: cannot import name 'MISSING' from 'venv_lib' ({site / 'venv_lib.py'})",
    )


def test_an_import_that_hangs_is_cut_at_the_timeout(tmp_path: Path) -> None:
    python, _site = _venv(tmp_path, slow="import time\ntime.sleep(30)\n")
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import slow\n")
    problem = check_imports(plugin, python, timeout=1.0)
    assert problem == ImportProblem("import slow", "its imports did not finish within 1s")


def test_a_package_only_the_server_has_does_not_import(tmp_path: Path) -> None:
    # click and httpx are pluginmgr's own: the plugin host (the venv's interpreter) has neither
    python, _site = _venv(tmp_path)
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json\nimport click\n")
    problem = check_imports(plugin, python)
    assert problem == ImportProblem("import click", "ModuleNotFoundError: No module named 'click'")
