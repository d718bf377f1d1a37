"""InfluxDB 3.11's Processing Engine flags on real ``pluginmgr serve`` processes:
``--plugin-dir-only``, ``--disable-package-management``, ``--async-trigger-concurrency-limit``
and the renamed ``--exec-mem-pool-size`` / ``--file-cache-size``; bad values stop the start with
one line (in-process: they fail before the port is bound)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine_runtime import Catalog, ProcessingEngine
from pluginmgr import PluginManager, Settings
from pluginmgr.errors import INSTALL_DISABLED_MESSAGE, PLUGIN_INSTALLATION_DISABLED_MESSAGE
from pluginmgr.node.triggers import source_factory
from tests.helpers import run_cli
from tests.server.server_helpers import TRIGGER, Served, serve, trigger_body, write_plugin

TIMED = """
import time


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    start = time.time()
    time.sleep(0.5)
    return {"start": start, "end": time.time()}
"""
REFUSED = {"error": PLUGIN_INSTALLATION_DISABLED_MESSAGE}


def _env(**extra: str) -> dict[str, str]:
    scrubbed = ("INFLUXDB3_", "PLUGINMGR_", "UV_", "PIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    env.pop("VIRTUAL_ENV", None)
    env.update(UV_OFFLINE="1", UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", **extra)
    return env


@dataclass
class Node:
    served: Served
    plugin_dir: Path


def _node(root: Path, *args: str, env: dict[str, str]) -> Iterator[Node]:
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    write_plugin(plugin_dir, "timed.py", TIMED)
    with serve(plugin_dir, root, *args, env=env) as served:
        url = served.url
        httpx.post(f"{url}/api/v3/configure/database", json={"db": "db"})
        body = trigger_body("timed", "timed.py", "request:timed")
        body["trigger_settings"]["run_async"] = True
        assert httpx.post(url + TRIGGER, json=body, timeout=30).status_code == 200
        yield Node(served, plugin_dir)


@pytest.fixture(scope="module")
def dir_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """``--plugin-dir-only`` from its variable, one asynchronous run at a time."""
    env = _env(INFLUXDB3_PLUGIN_DIR_ONLY="true", INFLUXDB3_ASYNC_TRIGGER_CONCURRENCY_LIMIT="1")
    args = ("--disable-package-management",)
    yield from _node(tmp_path_factory.mktemp("dir-only"), *args, env=env)


@pytest.fixture(scope="module")
def no_packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """``--disable-package-management``, three asynchronous runs at once, the old size names."""
    args = ["--disable-package-management", "--async-trigger-concurrency-limit", "3"]
    args += ["--exec-mem-pool-bytes", "20%"]
    env = _env(INFLUXDB3_PARQUET_MEM_CACHE_SIZE="512MB")
    yield from _node(tmp_path_factory.mktemp("no-packages"), *args, env=env)


def _runs(url: str, count: int) -> list[tuple[float, float]]:
    """Ask the timed trigger ``count`` times at once; each run's (start, end)."""
    with ThreadPoolExecutor(count) as pool:
        answers = list(
            pool.map(lambda _: httpx.get(f"{url}/api/v3/engine/timed", timeout=30), range(count))
        )
    spans = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        spans.append((answer.json()["start"], answer.json()["end"]))
    return sorted(spans)


def _overlaps(spans: list[tuple[float, float]]) -> int:
    return sum(1 for (_s, end), (start, _e) in itertools.pairwise(spans) if start < end)


def test_plugin_dir_only_refuses_fetched_plugins_and_uploads(dir_only: Node) -> None:
    url = dir_only.served.url
    before = sorted(p.name for p in dir_only.plugin_dir.iterdir())
    gh = "gh:influxdata/downsampler/downsampler.py"
    refusals = [
        httpx.post(url + TRIGGER, json=trigger_body("gh", gh, "every:1h")),
        httpx.put(url + TRIGGER, json={"db": "db", "trigger_name": "timed", "plugin_filename": gh}),
        httpx.post(f"{url}/api/v3/plugins/files", json={"plugin_name": "a.py", "content": "x"}),
        httpx.put(f"{url}/api/v3/plugins/files", json={"plugin_name": "timed", "content": "x"}),
        httpx.put(f"{url}/api/v3/plugins/directory", json={"plugin_name": "timed", "files": []}),
        httpx.post(
            f"{url}/api/v3/plugin_test/wal", json={"filename": gh, "database": "db", "input_lp": ""}
        ),
    ]
    assert [(r.status_code, r.json()) for r in refusals] == [(403, REFUSED)] * len(refusals)
    assert sorted(p.name for p in dir_only.plugin_dir.iterdir()) == before
    rows = httpx.get(url + TRIGGER, params={"db": "db"}).json()
    assert [(r["trigger_name"], r["plugin_filename"]) for r in rows] == [("timed", "timed.py")]


def test_async_limit_one_runs_one_at_a_time(dir_only: Node) -> None:
    assert _overlaps(_runs(dir_only.served.url, 3)) == 0


def test_async_limit_three_lets_runs_overlap(no_packages: Node) -> None:
    assert _overlaps(_runs(no_packages.served.url, 3)) >= 1


def test_disable_package_management_refuses_installs_and_leaves_the_venv(
    no_packages: Node,
) -> None:
    url = no_packages.served.url
    base = f"{url}/api/v3/configure/plugin_environment"
    answer = httpx.post(f"{base}/install_packages", json={"packages": ["pm-alpha"]})
    assert (answer.status_code, answer.json()) == (403, {"error": INSTALL_DISABLED_MESSAGE})
    assert not (no_packages.plugin_dir / "venv").exists()  # not made at start either


def test_the_query_pool_is_sized_by_the_old_and_new_names(tmp_path: Path) -> None:
    """``--exec-mem-pool-bytes 1MB`` sizes the query pool: an aggregate of 100,000 groups runs
    out of it (DataFusion's own error, 400), where the default pool answers it."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    args = ("--exec-mem-pool-bytes", "1MB", "--disable-package-management")
    lines = "\n".join(f"cpu,host=h{i} usage={i}.5 {i}" for i in range(100_000))
    query = {"db": "pool", "q": "SELECT host, count(*) FROM cpu GROUP BY host"}
    with serve(plugin_dir, tmp_path, *args, env=_env(INFLUXDB3_PARQUET_MEM_CACHE_SIZE="1GB")) as s:
        assert httpx.get(f"{s.url}/health").status_code == 200
        write = httpx.post(f"{s.url}/api/v3/write_lp", params={"db": "pool"}, content=lines)
        assert write.status_code == 204
        answer = httpx.post(f"{s.url}/api/v3/query_sql", json=query, timeout=30)
    assert answer.status_code == 400
    assert "Resources exhausted" in answer.json()["error"]
    assert "warning: --exec-mem-pool-size" not in s.stderr
    assert "warning: --file-cache-size 1GB is accepted and not applied" in s.stderr
    with serve(plugin_dir, tmp_path / "default", "--disable-package-management", env=_env()) as s:
        httpx.post(f"{s.url}/api/v3/write_lp", params={"db": "pool"}, content=lines)
        answer = httpx.post(f"{s.url}/api/v3/query_sql", json=query, timeout=30)
    assert answer.status_code == 200 and len(answer.json()) == 100_000


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["--async-trigger-concurrency-limit", "0"], {}, 2, "0 is not in the range x>=1"),
        (
            ["--exec-mem-pool-size", "lots"],
            {},
            1,
            "error: invalid --exec-mem-pool-size 'lots': use a percentage of the memory (20%) "
            "or a size (512MB)\n",
        ),
        (
            ["--file-cache-size", "150%"],
            {},
            1,
            "error: invalid --file-cache-size '150%': a percentage must be > 0 and <= 100\n",
        ),
        (
            [],
            {"INFLUXDB3_EXEC_MEM_POOL_BYTES": "2 bananas"},
            1,
            "error: invalid --exec-mem-pool-size '2 bananas'",
        ),
        (
            [],
            {"INFLUXDB3_ASYNC_TRIGGER_CONCURRENCY_LIMIT": "many"},
            2,
            "'many' is not a valid integer",
        ),
    ],
)
def test_bad_values_stop_the_start_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    code: int,
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    where = ["--plugin-dir", str(tmp_path / "p"), "--data-dir", str(tmp_path / "d")]
    done = run_cli(capsys, "serve", *where, "--without-auth", *args)
    assert done.code == code
    assert message in done.err
    if code == 1:
        assert done.err.count("\n") == 1
    assert not (tmp_path / "p").exists()  # nothing created before the check


def test_plugin_dir_only_fails_a_fetched_trigger_when_it_starts(
    tmp_path: Path, plugin_dir: Path
) -> None:
    """A ``gh:`` trigger made before the flag was set is not fetched nor run: it is reported
    as failed with upstream's message (no network: the refusal comes first)."""
    settings = Settings(
        plugin_dir=plugin_dir, cache_dir=tmp_path / "cache", lock_path=plugin_dir / "plugins.lock"
    )
    manager = PluginManager(settings)
    source_for = source_factory(manager, dir_only=True)
    engine = ProcessingEngine(Catalog(None), plugin_dir=plugin_dir, source_for=source_for)
    try:
        engine.create_database("db")
        write_plugin(plugin_dir, "timed.py", TIMED)
        engine.create_trigger("db", "gh", "gh:influxdata/downsampler/downsampler.py", "every:1h")
        engine.create_trigger("db", "local", "timed.py", "request:local")
        assert engine.trigger_state("db", "gh") == f"failed: {PLUGIN_INSTALLATION_DISABLED_MESSAGE}"
        assert engine.trigger_state("db", "local") == "running"
    finally:
        engine.shutdown()
        manager.close()
