"""The README's main job: fetch, pin and verify plugins, then install what they declare.

It starts a real HTTP server on 127.0.0.1 over ``fixtures/repo`` (laid out like
influxdata/influxdb3_plugins) and runs the ``pluginmgr`` command line against it, showing what a
user sees: a cold fetch, a warm start that sends no request, revalidation that downloads nothing,
the lock file, verification, tamper detection and an offline start with the server gone. Then it
installs a plugin's declared dependencies into ``<PLUGIN_DIR>/venv`` with uv from a loopback
package index that answers as PyPI does (``tests/pypi_index.py``, serving wheels and sdists built
from ``fixtures/packages``), and runs plugins once with ``pluginmgr test``
(a WAL plugin, a schedule plugin over seeded data, the request plugin whose dependency was just
installed, and one that raises). Last, it starts ``pluginmgr serve`` with its own data directory,
creates a write trigger and a request trigger from ``gh:`` references, writes sample data, and
shows the trigger's output, an HTTP call to the request trigger and the plugin logs.
"""

from __future__ import annotations

import json
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pluginmgr.testing import RepoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.pypi_index, the loopback package index
from tests.pypi_index import FIXTURE_YANKED, PackageIndex, index_files  # noqa: E402

GREETER = "gh:examples/greeter/greeter.py"
REFS = [
    "gh:examples/wal_plugin/wal_plugin.py",
    "gh:influxdata/downsampler/downsampler.py",
    "gh:influxdata/notifier/notifier_plugin.py",
]


def pluginmgr(*args: str, expect: int = 0) -> str:
    """Run the installed CLI the way a user would, echo it, and check its exit status."""
    print(f"\n$ pluginmgr {shlex.join(args)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pluginmgr", *args], capture_output=True, text=True, check=False
    )
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    if done.returncode != expect:
        raise SystemExit(f"demo failed: exit {done.returncode}, expected {expect}")
    return done.stdout


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pluginmgr-demo-") as tmp:
        plugin_dir, cache = Path(tmp) / "plugins", Path(tmp) / "cache"
        plugin_dir.mkdir()
        with RepoServer(ROOT / "fixtures" / "repo") as server:
            common = ["--plugin-dir", str(plugin_dir), "--cache-dir", str(cache)]
            online = [*common, "--plugin-repo", server.url]

            step(f"cold fetch from the fixture repository at {server.url}")
            pluginmgr("fetch", *REFS, *online)
            print(f"[server saw {len(server.requests)} requests]")

            step("warm start: the lock file pins the bytes, the store has them")
            server.reset()
            pluginmgr("fetch", *REFS, *online)
            print(f"[server saw {len(server.requests)} requests]")

            step("revalidate with the repository (conditional requests)")
            server.reset()
            pluginmgr("lock", "--upgrade", *online)
            statuses = sorted(r.status for r in server.requests)
            print(f"[server answered {statuses}, {server.bytes_sent} body bytes]")

            step("the lock file")
            print((plugin_dir / "plugins.lock").read_text())

            step("verify every stored byte")
            pluginmgr("verify", *common)

            step("tamper with a stored plugin: verify names it, the next fetch restores it")
            blob = Path(
                json.loads(pluginmgr("fetch", REFS[0], "--format", "json", *common))["plugins"][0][
                    "path"
                ]
            )
            blob.chmod(0o644)
            blob.write_text("import os; os.system('echo pwned')\n")
            pluginmgr("verify", *common, expect=1)
            server.reset()
            pluginmgr("fetch", REFS[0], *online)
            print(f"[server saw {len(server.requests)} request: the pinned bytes came back]")

        step("the server is gone: offline start from lock + store")
        pluginmgr("fetch", "--offline", *REFS, *common)

        step("a reference that is not pinned cannot be fetched offline")
        pluginmgr(
            "fetch", "--offline", "gh:examples/hello_request/hello_request.py", *common, expect=1
        )

        step("unsafe references are refused before any request")
        pluginmgr("fetch", "gh:../../etc/passwd", *common, expect=1)

        step("version history of a reference")
        pluginmgr("versions", REFS[0], *common)

        files = index_files(Path(tmp) / "index")
        with (
            RepoServer(ROOT / "fixtures" / "repo") as server,
            PackageIndex(files, yanked=FIXTURE_YANKED) as index,
        ):
            online = [*common, "--plugin-repo", server.url]
            install_dependencies(plugin_dir, online, index.url)
            run_plugins(Path(tmp), online)
            serve(Path(tmp), [*online, "--index-url", index.url])
    print("\ndemo finished: every step behaved as expected")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], token: str) -> None:
    """Until ``/health`` answers 200 (it needs the token, as InfluxDB 3 Core's does)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("demo failed: pluginmgr serve exited")
        try:
            if httpx.get(f"{url}/health", headers=headers, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("demo failed: pluginmgr serve did not come up")


def serve(tmp: Path, online: list[str]) -> None:
    """The server: triggers from gh: references, data in, the trigger's output and an HTTP call."""
    import httpx

    data_dir = tmp / "data"
    step("a token for the server (stored hashed; shown once)")
    token = json.loads(
        pluginmgr("create", "token", "--admin", "--data-dir", str(data_dir), "--format", "json")
    )["token"]
    url = f"http://127.0.0.1:{_free_port()}"
    args = ["--data-dir", str(data_dir), "--http-bind", url.removeprefix("http://"), *online]
    step(f"pluginmgr serve {shlex.join(args)}")
    process = subprocess.Popen([sys.executable, "-m", "pluginmgr", "serve", *args])
    try:
        _wait_healthy(url, process, token)
        remote = ["-H", url, "--token", token]
        step("a database, a write trigger and a request trigger from gh: references")
        pluginmgr("create", "database", "home", *remote)
        pluginmgr(
            "create", "trigger", "reports", "-d", "home", "--trigger-spec", "all_tables",
            "--plugin-filename", REFS[0], *remote,
        )  # fmt: skip
        pluginmgr(
            "create", "trigger", "hello", "-d", "home", "--trigger-spec", "request:hello",
            "--plugin-filename", "gh:examples/hello_request/hello_request.py",
            "--trigger-arguments", "greeting=hello", *remote,
        )  # fmt: skip
        pluginmgr("show", "triggers", "-d", "home", *remote)
        shown = pluginmgr("show", "plugins", "-d", "home", "--format", "csv", *remote)
        if "home/hello" not in shown or "home/reports" not in shown:
            raise SystemExit("demo failed: show plugins does not name the triggers using them")

        step("write sample data; the write trigger reports what it saw")
        pluginmgr(
            "write", "-d", "home", "room,name=kitchen temp=21.5,hum=40i\n"
            "room,name=office temp=19.0,hum=38i\nboiler,site=a on=t", *remote,
        )  # fmt: skip
        sql = "SELECT table_name, row_count FROM write_reports ORDER BY table_name"
        for _ in range(50):
            done = subprocess.run(
                [sys.executable, "-m", "pluginmgr", "query", "-d", "home", sql, *remote],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode == 0 and "room" in done.stdout:
                break
            time.sleep(0.1)
        pluginmgr("query", "-d", "home", sql, *remote)

        step("an HTTP call to the request trigger")
        print(f"\n$ curl -H 'Authorization: Bearer ...' '{url}/api/v3/engine/hello?name=demo'")
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"{url}/api/v3/engine/hello?name=demo", headers=headers)
        print(answer.status_code, answer.text)
        if answer.status_code != 200 or answer.json()["message"] != "hello, demo":
            raise SystemExit("demo failed: the request trigger did not answer")
        print("\n$ curl (no token)")
        refused = httpx.get(f"{url}/api/v3/engine/hello")
        print(refused.status_code, refused.text)

        step("what the plugins logged, as SQL over system.processing_engine_logs")
        pluginmgr(
            "query", "-d", "home",
            "SELECT trigger_name, log_level, log_text FROM system.processing_engine_logs "
            "ORDER BY event_time", *remote,
        )  # fmt: skip
    finally:
        step("SIGTERM: running plugins finish, the cache is saved, the WAL flushed")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        print(f"[pluginmgr serve exited with {code}]")
    if code != 0:
        raise SystemExit("demo failed: the server did not stop cleanly")


def run_plugins(tmp: Path, online: list[str]) -> None:
    """`pluginmgr test`: real plugins, offline, against a fresh embedded store."""
    seed = tmp / "seed.lp"
    seed.write_text(
        "home,room=Kitchen temp=21.5,hum=40.2 1755000000000000000\n"
        "home,room=Kitchen temp=22.5,hum=41.0 1755000300000000000\n"
        "home,room=Office temp=19.0,hum=38.5 1755000000000000000\n",
        encoding="utf-8",
    )
    step("run the gh: WAL plugin once on some line protocol (InfluxDB 3's test JSON)")
    lp = "cpu,host=a usage=0.5 1\ncpu,host=b usage=0.7 2\nmem,host=a used=12i 3"
    pluginmgr("test", "wal_plugin", REFS[0], "-d", "demo", "--lp", lp, *online)

    step("a schedule plugin against seeded data: DATE_BIN over 10-minute buckets")
    args = "source_measurement=home,target_measurement=home_10m,interval=10min"
    pluginmgr(
        "test", "schedule_plugin", REFS[1], "-d", "demo", "--seed-lp", str(seed),
        "--schedule", "every:10m", "--input-arguments", args, *online,
    )  # fmt: skip

    step(f"a request plugin whose dependency was installed above: {GREETER}")
    pluginmgr("test", "request_plugin", GREETER, "-d", "demo", "--method", "GET", *online)

    step("a plugin that raises: exit 1, its logs and the real cause kept")
    broken = tmp / "plugins" / "broken.py"
    broken.write_text(
        "def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    influxdb3_local.info('about to fail')\n"
        "    return 1 / 0\n",
        encoding="utf-8",
    )
    pluginmgr("test", "wal_plugin", "broken.py", "-d", "demo", "--lp", "x v=1", *online, expect=1)


def install_dependencies(plugin_dir: Path, online: list[str], index_url: str) -> None:
    """The plugin venv from the package index at ``index_url``: a lock, a no-op, a conflict."""
    index = ["--index-url", index_url]
    step(
        f"{GREETER} declares pm-alpha>=1.0 (PEP 723): every plugin's requirements are resolved "
        f"together into PLUGIN_DIR/pylock.toml and the venv synced to it, from {index_url}"
    )
    pluginmgr("install", "deps", GREETER, *online, *index)

    step("the lock records what the index serves: URL, size, upload time and hash of each file")
    print((plugin_dir / "pylock.toml").read_text())

    step("again: the lock does not change and the venv already matches it (no install)")
    pluginmgr("install", "deps", GREETER, *online, *index)

    step("who needs pm-beta, read from the lock (no resolver)")
    pluginmgr("deps", "why", "pm-beta", *online)

    step("a local plugin that needs pm-beta<1: refused before anything changes, both named")
    (plugin_dir / "old_beta.py").write_text(
        '# /// script\n# dependencies = ["pm-beta<1"]\n# ///\n'
        "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n",
        encoding="utf-8",
    )
    pluginmgr("install", "deps", "old_beta.py", *online, *index, expect=1)
    (plugin_dir / "old_beta.py").unlink()

    step("the venv's python imports it")
    venv_python = plugin_dir / "venv" / "bin" / "python"
    code = "import pm_alpha; print(pm_alpha.greet())"
    print(f"\n$ {venv_python} -c {shlex.quote(code)}")
    done = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True)
    print(done.stdout.strip() or done.stderr)
    if done.stdout.strip() != "alpha+beta-2.0":
        raise SystemExit("demo failed: the installed package does not import")

    step("a package the index does not have: exit 1, the venv and the lock untouched")
    pluginmgr("install", "package", "pm-missing", *online, *index, expect=1)

    step("--package-manager disabled refuses, as InfluxDB 3 does")
    args = ["--plugin-dir", str(plugin_dir), "--package-manager", "disabled"]
    pluginmgr("install", "package", "pm-gamma", *args, expect=1)


if __name__ == "__main__":
    main()
