"""The plugin host: real child processes on a real venv, callbacks on a real store."""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
from pathlib import Path

from engine_runtime.host import GUEST_PATH, PluginHost

from .host_helpers import PTH_MODULE, VENV_MODULE, StoreCallbacks, plugin

WAL_PLUGIN = """
def process_writes(influxdb3_local, table_batches, args=None):
    rows = influxdb3_local.query("SELECT host, usage FROM cpu WHERE host = $h", {"h": "a"})
    influxdb3_local.info("rows", rows)
    for batch in table_batches:
        for row in batch["rows"]:
            influxdb3_local.info(batch["table_name"], row["time"], row["value"], row["raw"])
    influxdb3_local.write(LineBuilder("queued").tag("t", args["tag"]).int64_field("n", len(rows)))
    influxdb3_local.write_sync(LineBuilder("now").float64_field("v", 2.5).time_ns(7), False)
    influxdb3_local.info("read back", influxdb3_local.query("SELECT v FROM now"))
"""


def test_wal_call_queries_on_the_store_and_writes(
    host: PluginHost, plugin_dir: Path, callbacks: StoreCallbacks
) -> None:
    callbacks.store.write_lp("db", "cpu,host=a usage=0.5 1\ncpu,host=b usage=0.9 2")
    path = plugin(plugin_dir, "wal.py", WAL_PLUGIN)
    batch = {"table_name": "m", "rows": [{"time": 2**62 + 1, "value": math.inf, "raw": b"\x00"}]}

    result = host.run(
        "t1",
        "wal",
        path,
        "process_writes",
        database="db",
        payload={"table_batches": [batch]},
        args={"tag": "x"},
    )

    assert result.ok, result.traceback
    assert result.writes == {"db": ["queued,t=x n=1i"]}
    assert [text for _, _, text in callbacks.logs] == [
        "rows [{'host': 'a', 'usage': 0.5}]",
        f"m {2**62 + 1} inf b'\\x00'",
        "read back [{'v': 2.5}]",
    ]
    assert callbacks.store.query("db", "SELECT v FROM now") == [{"v": 2.5}]


def test_a_failing_plugin_is_a_result_and_its_queued_writes_are_dropped(
    host: PluginHost, plugin_dir: Path
) -> None:
    path = plugin(
        plugin_dir,
        "fails.py",
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.write(LineBuilder("m").int64_field("v", 1))
            raise ValueError(f"boom at {call_time.year}")
        """,
    )
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    result = host.run(
        "t", "schedule", path, "process_scheduled_call", database="db", payload={"call_time": when}
    )

    assert not result.ok
    assert (result.error, result.error_type) == ("ValueError: boom at 2026", "ValueError")
    assert result.traceback is not None and str(path) in result.traceback
    assert "pluginmgr_guest" not in result.traceback
    assert result.writes == {}


def test_query_errors_and_write_sync_errors_keep_upstreams_words(
    host: PluginHost, plugin_dir: Path
) -> None:
    path = plugin(
        plugin_dir,
        "errors.py",
        """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            found = {}
            try:
                influxdb3_local.query("SELEC nonsense")
            except Exception as exc:
                found["query"] = [type(exc).__name__, str(exc)]
            try:
                influxdb3_local.query("SELECT arrow_cast(1.5, 'Decimal128(5,2)') AS d")
            except Exception as exc:
                found["decimal"] = [type(exc).__name__, str(exc)]
            try:
                influxdb3_local.write_sync_to_db("_internal", LineBuilder("m").int64_field("v", 1),
                                                 True)
            except Exception as exc:
                found["write"] = [type(exc).__name__, str(exc)]
            return found
        """,
    )
    payload = {"query_parameters": {}, "request_headers": {}, "request_body": b""}

    result = host.run("t", "request", path, "process_request", database="db", payload=payload)

    assert result.response is not None
    found = json.loads(result.response.body)
    assert found["query"][0] == "QueryError"
    assert found["query"][1].startswith("error: ")
    assert found["query"][1].endswith("executing query on db: SELEC nonsense")
    assert found["decimal"] == [
        "QueryError",
        "error: Unsupported data type: decimal128(5, 2) executing query on db: "
        "SELECT arrow_cast(1.5, 'Decimal128(5,2)') AS d",
    ]
    assert found["write"] == [
        "Exception",
        "error writing line protocol to _internal: cannot write to the _internal database",
    ]


def test_request_returns_a_dict_and_a_tuple_with_status_and_headers(
    host: PluginHost, plugin_dir: Path
) -> None:
    path = plugin(
        plugin_dir,
        "req.py",
        """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            if query_parameters.get("form") == "tuple":
                return "created", 201, {"X-Thing": request_headers["x-thing"]}
            return {"body": request_body.decode(), "q": query_parameters}
        """,
    )
    payload = {
        "query_parameters": {"form": "dict"},
        "request_headers": {"x-thing": "yes"},
        "request_body": b"hello",
    }

    as_dict = host.run("t", "request", path, "process_request", database="db", payload=payload)
    payload["query_parameters"] = {"form": "tuple"}
    as_tuple = host.run("t", "request", path, "process_request", database="db", payload=payload)

    assert as_dict.response is not None and as_dict.response.status == 200
    assert as_dict.response.headers == {"Content-Type": "application/json"}
    assert json.loads(as_dict.response.body) == {"body": "hello", "q": {"form": "dict"}}
    assert as_tuple.response is not None
    assert (as_tuple.response.status, as_tuple.response.body) == (201, b"created")
    assert as_tuple.response.headers == {"Content-Type": "text/html", "X-Thing": "yes"}


def test_runs_one_after_another_start_no_thread_and_run_on_a_thread_named_for_each(
    host: PluginHost, plugin_dir: Path
) -> None:
    path = plugin(
        plugin_dir,
        "who.py",
        """
        import threading

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            me = threading.current_thread()
            return {"ident": me.ident, "name": me.name, "threads": threading.active_count()}
        """,
    )
    payload = {"query_parameters": {}, "request_headers": {}, "request_body": b""}
    answers = []
    for trigger in ("db/a", "db/b", "db/c", "db/d"):
        result = host.run(
            trigger, "request", path, "process_request", database="db", payload=payload
        )
        assert result.response is not None
        answers.append(json.loads(result.response.body))

    # the reading thread runs the run it read; two of them take turns, no more are started
    assert len({a["ident"] for a in answers}) <= 2
    assert answers[-1]["threads"] == answers[1]["threads"]
    assert [a["name"] for a in answers] == ["run-db/a", "run-db/b", "run-db/c", "run-db/d"]


def test_logs_and_prints_arrive_in_order(
    host: PluginHost, plugin_dir: Path, callbacks: StoreCallbacks
) -> None:
    path = plugin(
        plugin_dir,
        "logs.py",
        """
        import sys
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("one", 1)
            print("two")
            influxdb3_local.warn("three")
            print("four", file=sys.stderr)
            influxdb3_local.error("five")
            print("six, unfinished", end="")
        """,
    )

    host.run("t9", "wal", path, "process_writes", database="db", payload={"table_batches": []})

    assert callbacks.logs == [
        ("t9", "INFO", "one 1"),
        ("t9", "INFO", "two"),
        ("t9", "WARN", "three"),
        ("t9", "ERROR", "four"),
        ("t9", "ERROR", "five"),
        ("t9", "INFO", "six, unfinished"),
    ]


def test_the_cache_holds_live_objects_in_the_host(
    host: PluginHost, plugin_dir: Path, callbacks: StoreCallbacks
) -> None:
    path = plugin(
        plugin_dir,
        "cache.py",
        """
        import collections, threading
        def process_writes(influxdb3_local, table_batches, args=None):
            cache = influxdb3_local.cache
            if args["step"] == "put":
                window = collections.deque(maxlen=2)
                cache.put("window", window, ttl=60)
                cache.put("lock", threading.Lock())  # not data: a live object, as upstream
                cache.put("g", [1, 2], use_global=True)
                cache.put("id", id(window))
                return
            window = cache.get("window")
            window.extend([1, 2, 3])
            influxdb3_local.info(
                type(window).__name__, list(cache.get("window")), id(window) == cache.get("id"),
                type(cache.get("lock")).__name__, cache.get("g", use_global=True),
                cache.get("missing", "dflt"), cache.delete("window"), cache.get("window"),
            )
        """,
    )
    for step in ("put", "get"):
        result = host.run(
            "db/tc",
            "wal",
            path,
            "process_writes",
            database="db",
            payload={"table_batches": []},
            args={"step": step},
        )
        assert result.ok, result.traceback

    assert [text for _, _, text in callbacks.logs] == [
        "deque [2, 3] True lock [1, 2] dflt True None"
    ]


def test_the_host_sees_the_venv_and_nothing_of_the_server(
    host: PluginHost, plugin_dir: Path, host_python: Path
) -> None:
    path = plugin(
        plugin_dir,
        "imports.py",
        f"""
        import importlib, sys
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            found = {{}}
            for name in ("pluginmgr", "engine_runtime", "httpx", "pyarrow", "datafusion",
                         "{VENV_MODULE}", "{PTH_MODULE}", "pluginmgr_guest"):
                try:
                    importlib.import_module(name)
                    found[name] = "ok"
                except Exception as exc:
                    found[name] = type(exc).__name__
            return {{"found": found, "path": sys.path, "isolated": sys.flags.isolated,
                     "prefix": sys.prefix,
                     "api": sorted(n for n in dir(influxdb3_local) if not n.startswith("__")),
                     "cache": sorted(n for n in dir(influxdb3_local.cache)
                                     if not n.startswith("__"))}}
        """,
    )
    payload = {"query_parameters": {}, "request_headers": {}, "request_body": b""}

    result = host.run("t", "request", path, "process_request", database="db", payload=payload)

    assert result.response is not None
    seen = json.loads(result.response.body)
    assert seen["found"] == {
        "pluginmgr": "ModuleNotFoundError",
        "engine_runtime": "ModuleNotFoundError",
        "httpx": "ModuleNotFoundError",
        "pyarrow": "ModuleNotFoundError",
        "datafusion": "ModuleNotFoundError",
        VENV_MODULE: "ok",
        PTH_MODULE: "ok",
        "pluginmgr_guest": "ok",
    }
    assert seen["isolated"] == 1
    assert seen["api"] == sorted(
        "info warn error query write cache write_to_db write_sync write_sync_to_db".split()
    )
    assert seen["cache"] == ["delete", "get", "put"]
    assert seen["prefix"] == str(host_python.parent.parent)
    server_site = {p for p in sys.path if p.endswith("site-packages")}
    assert not server_site & set(seen["path"])
    assert seen["path"][-2:] == [str(plugin_dir), str(GUEST_PATH)]
    assert set(os.listdir(GUEST_PATH)) - {"__init__.py", "__pycache__"} == {"pluginmgr_guest"}


def test_a_package_plugin_imports_its_own_modules(host: PluginHost, plugin_dir: Path) -> None:
    package = plugin_dir / "pkg_plugin"
    package.mkdir()
    plugin(package, "helper.py", "VALUE = 41\n")
    plugin(
        package,
        "__init__.py",
        """
        from .helper import VALUE
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.write(LineBuilder("pkg").int64_field("v", VALUE + 1))
        """,
    )
    result = host.run(
        "t", "wal", package, "process_writes", database="db", payload={"table_batches": []}
    )
    assert result.writes == {"db": ["pkg v=42i"]}


def test_a_return_value_that_is_no_response_fails_with_response_error(
    host: PluginHost, plugin_dir: Path
) -> None:
    path = plugin(
        plugin_dir,
        "none.py",
        """
        import os
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            if os.fork() == 0:
                return "from the child"  # the host's fork guard ends it before it answers
            os.wait()
            return None
        """,
    )
    payload = {"query_parameters": {}, "request_headers": {}, "request_body": b""}

    result = host.run("t", "request", path, "process_request", database="db", payload=payload)

    assert (result.ok, result.error_type) == (False, "ResponseError")
    assert result.error == "Unsupported return type from Python function"  # the engine's words
    again = host.run("t", "request", path, "process_request", database="db", payload=payload)
    assert again.error_type == "ResponseError"


def test_plugins_are_reloaded_when_they_change_and_files_get_fresh_globals(
    host: PluginHost, plugin_dir: Path, callbacks: StoreCallbacks
) -> None:
    code = """
    calls = []
    def process_writes(influxdb3_local, table_batches, args=None):
        calls.append(1)
        influxdb3_local.info("{version}", len(calls), __name__)
    """
    path = plugin(plugin_dir, "versions.py", code.format(version="v1"))
    payload: dict[str, object] = {"table_batches": []}
    for _ in range(2):
        host.run("t", "wal", path, "process_writes", database="db", payload=payload)
    plugin(plugin_dir, "versions.py", code.format(version="v2"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    host.run("t", "wal", path, "process_writes", database="db", payload=payload)

    assert [text for _, _, text in callbacks.logs] == [
        "v1 1 builtins",
        "v1 1 builtins",
        "v2 1 builtins",
    ]


def test_load_failures_keep_upstreams_words_and_an_oserror_is_the_plugins(
    host: PluginHost, plugin_dir: Path
) -> None:
    payload: dict[str, object] = {"table_batches": []}
    no_entry = plugin(plugin_dir, "no_entry.py", "def other():\n    pass\n")
    broken = plugin_dir / "broken_pkg"
    broken.mkdir()
    plugin(broken, "__init__.py", "import not_installed_anywhere\n")
    oserror = plugin(
        plugin_dir,
        "oserror.py",
        "def process_writes(api, b, args=None):\n    open('/no')\n",
    )

    missing = host.run("t", "wal", no_entry, "process_writes", database="db", payload=payload)
    failed = host.run("t", "wal", broken, "process_writes", database="db", payload=payload)
    pid = host.pid
    own = host.run("t", "wal", oserror, "process_writes", database="db", payload=payload)

    assert (missing.stage, missing.error_type) == ("load", "MissingEntryPointError")
    assert missing.error == (
        "the process_writes function is not present in the plugin. Should be defined as: "
        "process_writes(influxdb3_local, table_batches, args=None)"
    )
    assert failed.stage == "load"
    assert failed.error == (
        "Failed to import plugin module 'broken_pkg': ModuleNotFoundError: No module named "
        "'not_installed_anywhere'\nHint: Check for syntax errors or missing dependencies in "
        "Python files."
    )
    assert (own.stage, own.error_type, host.pid) == ("call", "FileNotFoundError", pid)
