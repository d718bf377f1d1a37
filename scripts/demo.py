"""The README's main job: fetch, pin and verify plugins, then install what they declare.

It starts a real HTTP server on 127.0.0.1 over ``fixtures/repo`` (laid out like
influxdata/influxdb3_plugins) and runs the ``pluginmgr`` command line against it, showing what a
user sees: a cold fetch, a warm start that sends no request, revalidation that downloads nothing,
the lock file, verification, tamper detection and an offline start with the server gone. Then it
installs a plugin's declared dependencies into ``<PLUGIN_DIR>/venv`` with uv, offline, from a
wheelhouse built from ``fixtures/packages``, and runs plugins once with ``pluginmgr test``
(a WAL plugin, a schedule plugin over seeded data, the request plugin whose dependency was just
installed, and one that raises).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from pluginmgr.testing import RepoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.wheels, the offline wheel builder
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

        with RepoServer(ROOT / "fixtures" / "repo") as server:
            install_dependencies(Path(tmp), plugin_dir, [*common, "--plugin-repo", server.url])
            run_plugins(Path(tmp), [*common, "--plugin-repo", server.url])
    print("\ndemo finished: every step behaved as expected")


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


def install_dependencies(tmp: Path, plugin_dir: Path, online: list[str]) -> None:
    from tests.wheels import build_wheelhouse

    wheelhouse = build_wheelhouse(tmp / "wheelhouse")
    offline = ["--no-index", "--find-links", str(wheelhouse)]
    step(f"{GREETER} declares pm-alpha>=1.0 (PEP 723): install it into PLUGIN_DIR/venv, offline")
    pluginmgr("install", "deps", GREETER, *online, *offline)

    step("again: everything is satisfied, uv is not even started")
    pluginmgr("install", "deps", GREETER, *online, *offline)

    step("the venv's python imports it")
    venv_python = plugin_dir / "venv" / "bin" / "python"
    code = "import pm_alpha; print(pm_alpha.greet())"
    print(f"\n$ {venv_python} -c {shlex.quote(code)}")
    done = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True)
    print(done.stdout.strip() or done.stderr)
    if done.stdout.strip() != "alpha+beta-1.0":
        raise SystemExit("demo failed: the installed package does not import")

    step("a package that does not exist: uv's reason, exit 1, the venv untouched")
    pluginmgr(
        "install", "package", "pm-missing", "--plugin-dir", str(plugin_dir), *offline, expect=1
    )

    step("--package-manager disabled refuses, as InfluxDB 3 does")
    args = ["--plugin-dir", str(plugin_dir), "--package-manager", "disabled"]
    pluginmgr("install", "package", "pm-gamma", *args, expect=1)


if __name__ == "__main__":
    main()
