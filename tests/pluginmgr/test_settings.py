"""Settings precedence: flag > environment > default, each with its reason."""

from __future__ import annotations

from pathlib import Path

from pluginmgr import DEFAULT_PLUGIN_REPO, Settings
from pluginmgr.settings import resolve_setting


def test_flag_beats_env_beats_default() -> None:
    env = {"INFLUXDB3_PLUGIN_REPO": "http://env/"}
    assert resolve_setting("http://flag/", env, "INFLUXDB3_PLUGIN_REPO", "d") == (
        "http://flag/",
        "flag",
    )
    assert resolve_setting(None, env, "INFLUXDB3_PLUGIN_REPO", "d") == (
        "http://env/",
        "env:INFLUXDB3_PLUGIN_REPO",
    )
    assert resolve_setting(None, {}, "INFLUXDB3_PLUGIN_REPO", "d") == ("d", "default")
    assert resolve_setting(None, {"X": ""}, "X", "d") == ("d", "default"), "empty counts as unset"


def test_from_sources_derives_lock_and_cache_paths(tmp_path: Path) -> None:
    env = {"INFLUXDB3_PLUGIN_DIR": str(tmp_path / "p"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    settings = Settings.from_sources(env)
    assert settings.plugin_dir == tmp_path / "p"
    assert settings.lock_path == tmp_path / "p" / "plugins.lock"
    assert settings.cache_dir == tmp_path / "xdg" / "pluginmgr"
    assert settings.plugin_repo == DEFAULT_PLUGIN_REPO
    assert settings.sources["plugin_dir"] == "env:INFLUXDB3_PLUGIN_DIR"
    assert settings.sources["lock_path"] == "plugin_dir"
    bare = Settings.from_sources({"XDG_CACHE_HOME": str(tmp_path)}, lock_file="x.lock")
    assert bare.plugin_dir is None and bare.lock_path == Path("x.lock")


def test_token_is_not_in_repr() -> None:
    settings = Settings(plugin_dir=None, plugin_repo_token="s3cret")
    assert "s3cret" not in repr(settings)
