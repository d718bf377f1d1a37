"""The README's main job: fetch, pin and verify plugins from the fixture repository, served locally.

It starts a real HTTP server on 127.0.0.1 over ``fixtures/repo`` (laid out like
influxdata/influxdb3_plugins) and runs the ``pluginmgr`` command line against it, showing what a
user sees: a cold fetch, a warm start that sends no request, revalidation that downloads nothing,
the lock file, verification, tamper detection and an offline start with the server gone.
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
    print("\ndemo finished: every step behaved as expected")


if __name__ == "__main__":
    main()
