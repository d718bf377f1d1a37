"""A real full disk under a real ``pluginmgr serve``: the write answers 507 and is never kept."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.disk_helpers import fill
from tests.server.test_serve_flags import server_env, serving

COUNT = "SELECT count(*) AS n FROM m"


def _count(url: str) -> int:
    answer = httpx.get(f"{url}/api/v3/query_sql", params={"db": "db", "q": COUNT}, timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.json()[0]["n"])


def test_a_write_the_disk_refuses_answers_507_and_is_never_kept(
    tiny_disk: Path, tmp_path: Path
) -> None:
    args = ["--node-id", "n", "--data-dir", str(tiny_disk), "--without-auth"]
    args += ["--wal-flush-interval", "10ms", "--cache-dir", str(tmp_path / "cache")]
    write = "/api/v3/write_lp?db=db"
    with serving(args, server_env()) as running:
        url = running.url
        assert httpx.post(url + write, content="m v=1i 1").status_code == 204
        filler = fill(tiny_disk)
        big = "\n".join(f'm,host=x{i} v=1i,pad="{"p" * 100}" {10**6 + i}' for i in range(200))
        refused = httpx.post(url + write, content=big, timeout=10)
        assert refused.status_code == 507, refused.text
        assert "No space left on device" in refused.json()["error"]
        assert _count(url) == 1  # not applied in memory
        filler.unlink()
        assert httpx.post(url + write, content="m v=2i 2").status_code == 204
        assert _count(url) == 2
    assert running.code == 0, running.stderr
    with serving(args, server_env()) as running:
        assert _count(running.url) == 2  # the refused rows did not come back from the WAL
