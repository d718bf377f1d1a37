"""`Catalog.update_trigger`: each given field changes, the rest is kept, the change is on disk,
and a bad value changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_runtime import Catalog, EngineError


def _catalog(path: Path) -> Catalog:
    catalog = Catalog(path)
    catalog.create_database("db")
    catalog.create_trigger("db", "t", "a.py", "every:1h", arguments={"k": "v"})
    return catalog


def test_given_fields_change_and_survive_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    catalog = _catalog(path)
    catalog.fail_trigger("db", "t", "host died")
    catalog.update_trigger(
        "db", "t", plugin_filename="b.py", error_behavior="retry", disabled=False
    )
    reread = Catalog(path).get_trigger("db", "t")
    assert (reread.plugin_filename, reread.settings.error_behavior) == ("b.py", "retry")
    assert (reread.disabled, reread.failure) == (False, None)  # enabled: no longer failed
    assert dict(reread.arguments or {}) == {"k": "v"}  # not given: kept
    catalog.update_trigger("db", "t", arguments=None, replace_arguments=True)
    assert Catalog(path).get_trigger("db", "t").arguments is None


@pytest.mark.parametrize(
    "change",
    [{"error_behavior": "explode"}, {"plugin_filename": "  "}, {"arguments": {"k": 1}}],
)
def test_a_bad_value_changes_nothing(tmp_path: Path, change: dict[str, object]) -> None:
    path = tmp_path / "catalog.json"
    catalog = _catalog(path)
    before = path.read_bytes()
    replace = "arguments" in change
    with pytest.raises(EngineError):
        catalog.update_trigger("db", "t", replace_arguments=replace, **change)  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert catalog.get_trigger("db", "t").plugin_filename == "a.py"
