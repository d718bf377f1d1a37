"""``pluginmgr serve --object-store s3`` against a real S3-compatible server (moto's, on
loopback): the persisted files go to the bucket, the WAL stays in the data dir, a restart
answers from the bucket; a missing bucket flag or an unreachable endpoint fails in one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import run_cli
from tests.s3_server import KEY_ID, SECRET, S3Server, running_s3
from tests.server.test_serve_flags import server_env, serving


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


def test_serve_keeps_the_files_in_the_bucket_and_survives_a_restart(
    tmp_path: Path, s3: S3Server
) -> None:
    bucket = s3.bucket()
    data = tmp_path / "data"
    env = server_env(
        HOME=str(tmp_path / "home"),
        AWS_ACCESS_KEY_ID=KEY_ID,  # the credentials from upstream's variables
        AWS_SECRET_ACCESS_KEY=SECRET,
        INFLUXDB3_BUCKET=bucket,
    )
    args = [
        "--object-store", "s3", "--aws-endpoint", s3.endpoint, "--aws-allow-http",
        "--data-dir", str(data), "--node-id", "n0", "--without-auth",
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    query = {"db": "db", "q": "SELECT host, usage FROM cpu ORDER BY host"}
    with serving(args, env) as first:
        written = httpx.post(
            f"{first.url}/api/v3/write_lp?db=db",
            content="cpu,host=a usage=1 1\ncpu,host=b usage=2 2",
        )
        assert written.status_code == 204, written.text
        rows = httpx.get(f"{first.url}/api/v3/query_sql", params=query).json()
        assert rows == [{"host": "a", "usage": 1.0}, {"host": "b", "usage": 2.0}]
    assert first.code == 0, first.stderr
    assert f"  files:      s3://{bucket}/n0/store ({s3.endpoint})" in first.startup
    objects = s3.objects(f"{bucket}/n0/store")
    assert "files.json" in objects and any(o.startswith("files/") for o in objects), objects
    store = data / "n0" / "store"
    assert (store / "wal").is_dir()
    assert not (store / "files").exists() and not (store / "files.json").exists()
    with serving(args, env) as second:
        again = httpx.get(f"{second.url}/api/v3/query_sql", params=query).json()
        assert again == rows
    assert second.code == 0, second.stderr


def test_s3_without_a_bucket_is_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    done = run_cli(capsys, "serve", "--object-store", "s3", "--data-dir", str(tmp_path / "d"))
    assert (done.code, done.err) == (
        1,
        "error: --object-store s3 needs a bucket (hint: pass --bucket NAME or set "
        "INFLUXDB3_BUCKET)\n",
    )
    assert not (tmp_path / "d").exists()


def test_s3_without_a_data_dir_for_its_wal_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    done = run_cli(capsys, "serve", "--object-store", "s3", "--bucket", "b")
    assert (done.code, done.err) == (
        1,
        "error: --object-store s3 needs a data directory for its WAL (hint: pass --data-dir "
        "DIR or set INFLUXDB3_DB_DIR)\n",
    )


def test_an_unreachable_endpoint_fails_the_start_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    done = run_cli(
        capsys, "serve", "--object-store", "s3", "--bucket", "metrics",
        "--aws-endpoint", "http://127.0.0.1:9", "--aws-allow-http",
        "--aws-access-key-id", KEY_ID, "--aws-secret-access-key", SECRET,
        "--data-dir", str(data), "--plugin-dir", str(tmp_path / "plugins"),
        "--http-bind", "127.0.0.1:0",
    )  # fmt: skip
    assert done.code == 1
    assert done.err.startswith(
        "error: cannot reach the object store at http://127.0.0.1:9, bucket 'metrics': "
    )
    assert done.err.count("\n") == 1 and "hint: check --aws-endpoint, --bucket" in done.err
    assert not data.exists() and not (tmp_path / "plugins").exists()  # nothing created


def test_a_missing_bucket_fails_the_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, s3: S3Server
) -> None:
    done = run_cli(
        capsys, "serve", "--object-store", "s3", "--bucket", "no-such-bucket",
        "--aws-endpoint", s3.endpoint, "--aws-allow-http",
        "--aws-access-key-id", KEY_ID, "--aws-secret-access-key", SECRET,
        "--data-dir", str(tmp_path / "data"), "--http-bind", "127.0.0.1:0",
    )  # fmt: skip
    assert (done.code, done.err) == (
        1,
        f"error: the object store at {s3.endpoint}, bucket 'no-such-bucket': the bucket does "
        "not exist (hint: create the bucket, or pass the right --bucket)\n",
    )
    assert not (tmp_path / "data").exists()


def test_an_http_endpoint_without_allow_http_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    done = run_cli(
        capsys, "serve", "--object-store", "s3", "--bucket", "b",
        "--aws-endpoint", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "data"),
        "--http-bind", "127.0.0.1:0",
    )  # fmt: skip
    assert (done.code, done.err) == (
        1,
        "error: the object store endpoint http://127.0.0.1:9 is plain HTTP (hint: pass "
        "--aws-allow-http, or use an https:// endpoint)\n",
    )
