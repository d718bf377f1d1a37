"""`isolated_env_dir`: where an isolated trigger's environment is, for both sides."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_runtime.environments import isolated_env_dir, isolated_python
from engine_runtime.errors import InvalidTriggerError


def test_an_isolated_triggers_environment_is_under_envs() -> None:
    plugins = Path("/srv/plugins")
    assert isolated_env_dir(plugins, "iceberg sync") == plugins / "envs" / "iceberg sync"
    assert isolated_python(plugins, "t") == plugins / "envs" / "t" / "venv" / "bin" / "python"


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "../x", "a\\b", "a\0b"])
def test_a_name_that_is_not_one_directory_is_refused(name: str) -> None:
    with pytest.raises(InvalidTriggerError) as refused:
        isolated_env_dir(Path("/srv/plugins"), name)
    assert refused.value.message == (
        f"trigger name {name!r} cannot name the directory of an isolated environment "
        "(envs/<trigger name>)"
    )
    assert refused.value.hint == "choose a name without a slash, a backslash or a leading dot"
