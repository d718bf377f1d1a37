"""``.py`` files from a ``git+`` commit or inside a registry artifact must compile (nothing is
run) before they are pinned, as a fetched ``gh:`` file must; other files pass as they are."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginmgr import PluginManager, Settings
from pluginmgr.errors import FetchError
from registry_index import IndexEntry, RegistryIndex, artifact_hash, write_index
from tests.git_helpers import make_origin
from tests.pluginmgr.test_registry_refs import PUBLISHED, _member, _tar

_BROKEN = b"def process_writes(influxdb3_local, table_batches, args=None)\n    pass\n"
_GOOD = b"def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


@pytest.mark.git
def test_a_git_plugin_that_does_not_compile_is_not_pinned(
    manager: PluginManager, tmp_path: Path
) -> None:
    origin = make_origin(tmp_path / "origin")
    commit = origin.commit(
        "broken", {"plugins/bad.py": _BROKEN, "plugins/pkg/more.py": b"\xff\xfe not utf-8\n"}
    )
    with pytest.raises(FetchError, match=r"does not compile as Python \(.*line 1\)") as caught:
        manager.fetch(f"git+{origin.url}@{commit}#path=plugins/bad.py")
    message = str(caught.value)
    assert f"plugin file bad.py in {origin.url}@{commit}#path=plugins/bad.py" in message
    assert "it starts: def process_writes(" in message
    with pytest.raises(FetchError, match=r"plugin file more\.py in .* is not UTF-8"):
        manager.fetch(f"git+{origin.url}@{commit}#path=plugins/pkg")
    assert not manager.settings.lock_path.exists()
    good = manager.fetch(f"git+{origin.url}@{origin.c1}#path=plugins/pkg")
    assert good.kind == "directory"


def _registry(root: Path, files: dict[str, bytes]) -> str:
    """A file:// registry of one plugin, ``broken`` 1.0.0, whose artifact holds ``files``."""
    manifest = b'manifest_schema_version = "1.3"\n[plugin]\nname = "broken"\nversion = "1.0.0"\n'
    members = [(_member("manifest.toml"), manifest)]
    members += [(_member(name), data) for name, data in files.items()]
    data = _tar(*members)
    (root / "artifacts").mkdir(parents=True)
    (root / "artifacts" / "broken-1.0.0.tar.gz").write_bytes(data)
    entry = IndexEntry(
        name="broken",
        version="1.0.0",
        published_at=PUBLISHED,
        description="a plugin with a syntax error",
        triggers=("process_writes",),
        hash=artifact_hash(data),
    )
    artifacts = (root / "artifacts").as_uri()
    index = RegistryIndex(schema_version="2.1", artifacts_url=artifacts, plugins=(entry,))
    (root / "index.json").write_text(write_index(index))
    return (root / "index.json").as_uri()


def test_a_registry_artifact_with_broken_python_is_not_pinned(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    files = {"broken.py": _GOOD, "lib/helper.py": b"x = (\n", "README.md": b"not python ("}
    settings = make_settings(plugin_registry=_registry(tmp_path / "registry", files))
    with PluginManager(settings) as manager, pytest.raises(FetchError) as caught:
        manager.fetch("registry:broken")
    message = str(caught.value)
    assert "plugin file lib/helper.py in file://" in message
    assert "broken-1.0.0.tar.gz does not compile as Python" in message
    assert "publish a fixed version" in message
    assert not settings.lock_path.exists()
    assert not (settings.cache_dir / "trees").exists()


def test_a_registry_artifact_of_python_that_compiles_is_pinned(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    files = {"broken.py": _GOOD, "lib/helper.py": b"# only a comment\n", "notes.txt": b"(("}
    settings = make_settings(plugin_registry=_registry(tmp_path / "registry", files))
    with PluginManager(settings) as manager:
        plugin = manager.fetch("registry:broken")
    assert (plugin.path / "lib" / "helper.py").read_bytes() == b"# only a comment\n"
    assert tarfile.is_tarfile(tmp_path / "registry" / "artifacts" / "broken-1.0.0.tar.gz")
