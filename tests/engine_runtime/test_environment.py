"""A running runtime process imports from the plugin venv and sees installs without a restart.

The runtime here is a real child process on the same interpreter; the venv is made and filled by
`PluginEnv` with real uv from the test wheelhouse while the child waits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pluginmgr.installers import InstallOptions
from pluginmgr.venv import PluginEnv, default_venv_path

pytestmark = pytest.mark.usefixtures("uv_sandbox")

RUNTIME = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from engine_runtime import activate, refresh_imports

    site_packages = Path(sys.argv[1])
    plugin_file = Path(sys.argv[2])
    activate(site_packages)
    stdlib = min(i for i, p in enumerate(sys.path) if p.endswith("lib-dynload"))
    print("appended", sys.path.index(str(site_packages)) > stdlib)
    try:
        import pm_alpha
        print("before: importable")
    except ModuleNotFoundError as exc:
        print("before:", exc)
    sys.stdout.flush()
    sys.stdin.readline()  # the parent installs meanwhile
    refresh_imports(site_packages)
    namespace = {"__name__": "plugin"}
    exec(compile(plugin_file.read_text(), str(plugin_file), "exec"), namespace)
    print("plugin:", namespace["process_writes"](None, [], None))
    import pth_only
    print("pth:", pth_only.VALUE)
    """
)

PLUGIN = textwrap.dedent(
    """
    import pm_alpha

    def process_writes(influxdb3_local, table_batches, args=None):
        return pm_alpha.greet()
    """
)


def test_the_runtime_imports_packages_installed_while_it_runs(
    plugin_dir: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    env = PluginEnv(default_venv_path(plugin_dir))
    assert env.ensure().created
    plugin = plugin_dir / "uses_alpha.py"
    plugin.write_text(PLUGIN)
    runtime = subprocess.Popen(
        [sys.executable, "-c", RUNTIME, str(env.site_packages), str(plugin)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert runtime.stdout is not None and runtime.stdin is not None
    try:
        assert runtime.stdout.readline().strip() == "appended True"
        assert runtime.stdout.readline().strip() == "before: No module named 'pm_alpha'"
        options = InstallOptions(find_links=(str(wheelhouse),), no_index=True, offline=True)
        env.install(["pm-alpha"], options=options)
        extra = tmp_path / "extra"
        extra.mkdir()
        (extra / "pth_only.py").write_text("VALUE = 'from a .pth path'\n")
        (env.site_packages / "extra.pth").write_text(f"{extra}\n")
        out, err = runtime.communicate("go\n", timeout=60)
    finally:
        runtime.kill()
    assert runtime.returncode == 0, err
    assert out.splitlines() == ["plugin: alpha+beta-1.0", "pth: from a .pth path"]
