"""A plugin's module-level imports, run as the runtime would, in a real subprocess."""

from __future__ import annotations

from pathlib import Path

from pluginmgr.plugin_imports import ImportProblem, check_imports, import_statements

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


def _site(tmp_path: Path, **modules: str) -> Path:
    site = tmp_path / "venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)
    return site


def test_a_package_plugin_imports_from_the_venv_and_skips_its_own_modules(
    tmp_path: Path,
) -> None:
    site = _site(tmp_path, venv_lib="VALUE = 1\n")
    package = tmp_path / "plugins" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .helpers import x\nimport venv_lib\n")
    (package / "helpers.py").write_text("import helpers\nfrom venv_lib import VALUE\nx = 1\n")
    assert check_imports(package, site, venv=tmp_path / "venv") is None
    (package / "more.py").write_text("from venv_lib import MISSING\n")
    problem = check_imports(package, site, venv=tmp_path / "venv")
    assert problem == ImportProblem(
        "from venv_lib import MISSING",
        f"ImportError: cannot import name 'MISSING' from 'venv_lib' ({site / 'venv_lib.py'})",
    )


def test_an_import_that_hangs_is_cut_at_the_timeout(tmp_path: Path) -> None:
    site = _site(tmp_path, slow="import time\ntime.sleep(30)\n")
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import slow\n")
    problem = check_imports(plugin, site, timeout=1.0)
    assert problem == ImportProblem("import slow", "its imports did not finish within 1s")
