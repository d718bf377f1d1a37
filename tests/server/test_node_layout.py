"""``--node-id`` names the node's part of the data dir (``DATA_DIR/NODE_ID/``), as upstream:
real ``pluginmgr serve`` processes over one data directory, and the readers of ``--data-dir``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pluginmgr.node.data_layout import DataLayoutError, node_data, open_node_data
from tests.helpers import run_cli
from tests.node_helpers import write_catalog
from tests.server.test_serve_flags import server_env, serving

QUERY = "/api/v3/query_sql"


def _serve_args(data_dir: Path, node_id: str, cache: Path) -> list[str]:
    args = ["--node-id", node_id, "--data-dir", str(data_dir), "--without-auth"]
    return [*args, "--cache-dir", str(cache)]


def _rows(url: str) -> list[dict[str, object]]:
    answer = httpx.get(url + QUERY, params={"db": "db", "q": "SELECT host FROM cpu ORDER BY host"})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()
    return rows


def test_two_node_ids_keep_their_own_data_in_one_data_dir(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    for node_id, host in (("node-a", "a"), ("node-b", "b")):
        with serving(_serve_args(data, node_id, cache), server_env()) as running:
            written = httpx.post(
                f"{running.url}/api/v3/write_lp?db=db", content=f"cpu,host={host} v=1 1"
            )
            assert written.status_code == 204, written.text
        assert running.code == 0, running.stderr
    assert sorted(p.name for p in data.iterdir()) == ["node-a", "node-b"]
    assert (data / "node-a" / "store").is_dir() and (data / "node-a" / "catalog.json").is_file()
    with serving(_serve_args(data, "node-a", cache), server_env()) as running:
        assert _rows(running.url) == [{"host": "a"}]  # node-b's write is not node-a's
        assert "  data dir:   " + str(data / "node-a") in running.startup


def test_a_data_dir_from_before_the_layout_moves_into_the_node_on_first_start(
    tmp_path: Path,
) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    with serving(_serve_args(data, "node0", cache), server_env()) as running:
        httpx.post(f"{running.url}/api/v3/write_lp?db=db", content="cpu,host=old v=1 1")
        created = httpx.post(f"{running.url}/api/v3/configure/database", json={"db": "other"})
        assert created.status_code == 200, created.text
    # put it back as an older pluginmgr kept it: store/ and catalog.json at the top
    for part in ("store", "catalog.json", "cache.pickle"):  # no cache file: no plugin ran
        if (data / "node0" / part).exists():
            (data / "node0" / part).rename(data / part)
    (data / "node0" / "owner.lock").unlink()  # older versions took no lock
    (data / "node0").rmdir()
    with serving(_serve_args(data, "node0", cache), server_env()) as running:
        assert _rows(running.url) == [{"host": "old"}]  # nothing lost in the move
        names = httpx.get(f"{running.url}/api/v3/configure/database?format=json").json()
    moved = f"moved this node's data from {data} into {data / 'node0'} (one directory per node)"
    assert moved in running.stderr
    assert {row["iox::database"] for row in names} >= {"db", "other"}
    assert sorted(p.name for p in data.iterdir()) == ["node0"]


def test_top_level_data_beside_the_nodes_own_is_refused_and_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "node0" / "store").mkdir(parents=True)
    (data / "store").mkdir()
    with pytest.raises(DataLayoutError) as refused:
        open_node_data(data, "node0")
    assert f"{data} holds data at its top and in {data / 'node0'} (store)" in str(refused.value)
    assert (data / "store").is_dir() and (data / "node0" / "store").is_dir()  # nothing moved


@pytest.mark.parametrize("bad", ["../elsewhere", "a/b", "..", "store", "tokens.json", "a\nb"])
def test_a_node_id_that_cannot_name_a_directory_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: str
) -> None:
    args = ["--node-id", bad, "--data-dir", str(tmp_path / "data")]
    result = run_cli(capsys, "serve", *args, "--http-bind", "127.0.0.1:0")
    assert result.code == 1
    assert result.err.startswith(f"error: invalid node id {bad!r}: "), result.err
    assert len(result.err.splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_readers_of_the_data_dir_find_the_node(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    assert node_data(data) is None  # nothing served there yet
    write_catalog(data / "node0", [("one", "p.py", "request:one")])
    only = node_data(data)
    assert only is not None
    assert (only.node_id, only.catalog) == ("node0", data / "node0" / "catalog.json")
    write_catalog(data / "node1", [("two", "p.py", "request:two")])
    with pytest.raises(DataLayoutError) as several:
        node_data(data)
    assert str(several.value) == (
        f"data directory {data} holds several nodes (node0, node1) "
        "(hint: set INFLUXDB3_NODE_IDENTIFIER_PREFIX=NODE_ID, or pass -H URL)"
    )
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    listed = run_cli(capsys, "list", "--plugin-dir", str(plugin_dir), "--data-dir", str(data))
    assert listed.code == 1 and "holds several nodes (node0, node1)" in listed.err
    monkeypatch.setenv("INFLUXDB3_NODE_IDENTIFIER_PREFIX", "node1")
    args = ["--plugin-dir", str(plugin_dir), "--data-dir", str(data), "--format", "json"]
    picked = run_cli(capsys, "list", *args)
    assert picked.code == 0, picked.err
    triggers = json.loads(picked.out)["triggers_source"]
    assert triggers["location"] == str(data / "node1" / "catalog.json")
