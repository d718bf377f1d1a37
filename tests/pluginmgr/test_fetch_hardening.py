"""What a hostile or broken plugin repository cannot get pinned: a body dripped slower than the
fetch deadline, a body cut short of its Content-Length, an HTML soft-404, binary or non-UTF-8
``.py`` files, a ``file://`` symlink out of the repository, control characters in references;
and the temp files a killed mirror sync leaves. Real loopback servers and real files."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pluginmgr.mirror.sync import sync_mirror
from tests.conftest import FIXTURES
from tests.helpers import repo_args, run_cli

PLUGIN = b"def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"

#: path -> (status, headers, body, seconds between bytes or None)
Answer = tuple[int, dict[str, str], bytes, float | None]


@dataclass
class Hostile:
    url: str
    answers: dict[str, Answer]


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    """A loopback HTTP server answering each path as the test says, even wrongly."""
    answers: dict[str, Answer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body, drip = answers.get(self.path, (404, {}, b"", None))
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                if drip is None:
                    self.wfile.write(body)
                    return
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(drip)
            except OSError:
                pass  # the client gave up: that is the point
            finally:
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Hostile(f"http://127.0.0.1:{server.server_address[1]}/", answers)
    finally:
        server.shutdown()
        server.server_close()


Fetch = Callable[..., "tuple[int, str, Path]"]


@pytest.fixture
def fetch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Fetch:
    def run(repo: str, ref: str, *extra: str) -> tuple[int, str, Path]:
        plugin_dir = tmp_path / "plugins"
        plugin_dir.mkdir(exist_ok=True)
        args = repo_args(repo, plugin_dir, tmp_path / "cache")
        result = run_cli(capsys, "fetch", ref, *args, *extra)
        return result.code, result.err, plugin_dir / "plugins.lock"

    return run


def test_a_body_dripped_past_the_fetch_deadline_fails_and_nothing_is_pinned(
    hostile: Hostile, fetch: Fetch
) -> None:
    hostile.answers["/slow.py"] = (200, {}, PLUGIN, 0.2)  # ~80 bytes at 5/s: 16 s in all
    started = time.monotonic()
    code, err, lock = fetch(hostile.url, "gh:slow.py", "--fetch-deadline", "1")
    took = time.monotonic() - started
    assert code == 1
    assert "did not finish downloading within the 1s fetch deadline" in err, err
    assert "raise --fetch-deadline" in err
    assert took < 8, f"the fetch took {took:.1f}s with a 1s deadline"
    assert not lock.exists()


def test_a_fast_file_within_the_deadline_is_pinned(hostile: Hostile, fetch: Fetch) -> None:
    hostile.answers["/ok.py"] = (200, {}, PLUGIN, None)
    code, err, lock = fetch(hostile.url, "gh:ok.py", "--fetch-deadline", "5")
    assert code == 0, err
    assert "gh:ok.py" in lock.read_text()


def _cut_server(body: bytes, declared: int) -> Iterator[str]:
    """A server that declares ``declared`` bytes, sends ``body`` and closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
                conn.sendall(head.encode() + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_body_cut_short_of_its_content_length_is_refused(fetch: Fetch) -> None:
    for repo in _cut_server(PLUGIN[:20], declared=len(PLUGIN)):
        code, err, lock = fetch(repo, "gh:cut.py")
    assert code == 1
    assert err.startswith("error: "), err
    assert len(err.strip().splitlines()) == 1
    assert not lock.exists()


def test_a_body_longer_than_its_content_length_is_refused(fetch: Fetch, tmp_path: Path) -> None:
    # HTTP/1.1 ends the body at the declared 5 bytes: httpx alone hands over "def p"
    for repo in _cut_server(PLUGIN, declared=5):
        code, err, lock = fetch(repo, "gh:long.py", "--retries", "0")
    assert code == 1
    assert f"is not the 5 bytes its Content-Length declares ({len(PLUGIN)} bytes arrived)" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not lock.exists()
    stored = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "blobs" in p.parts]
    assert not stored, "nothing may be stored"


SOFT_404 = b"<!DOCTYPE html>\n<html><body><h1>Page not found</h1></body></html>\n"


@pytest.mark.parametrize(
    ("body", "headers", "problem"),
    [
        (SOFT_404, {"Content-Type": "text/plain"}, "is an HTML page, not Python source"),
        (b"  \n<HTML>oops</HTML>", {}, "is an HTML page, not Python source"),
        (b"print('hi')\n", {"Content-Type": "text/html; charset=utf-8"}, "is an HTML page"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", {}, "is binary (it has NUL bytes)"),
        ("x = 'caf\u00e9'\n".encode("latin-1"), {}, "is not UTF-8 (byte 8)"),
        (b"<head><title>404</title></head>", {}, "is an HTML page"),
        (b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>', {}, "does not compile"),
        (b'{"message": "Not Found", "status": 404}\n', {}, "is a data document"),
        (b"404: Not Found", {}, "does not compile as Python"),
        (b"x = 1\n\x1b[2Jgotcha\n", {}, "has the control byte b'\\x1b' at byte 6"),
        (b"def p", {}, "does not compile as Python (expected '(', line 1)"),
    ],
    ids=[
        *("soft-404", "html-no-doctype", "served-as-html", "binary", "latin-1", "head"),
        *("xml-error", "json-error", "404-text", "control-bytes", "cut-short"),
    ],
)
def test_a_py_that_is_not_python_source_is_refused(
    hostile: Hostile, fetch: Fetch, body: bytes, headers: dict[str, str], problem: str
) -> None:
    hostile.answers["/bad.py"] = (200, headers, body, None)
    code, err, lock = fetch(hostile.url, "gh:bad.py")
    assert code == 1
    assert f"plugin file {hostile.url}bad.py {problem}" in err, err
    assert "; it starts: " in err and "nothing was pinned" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not lock.exists()


def test_the_error_shows_how_the_body_starts_on_one_printable_line(
    hostile: Hostile, fetch: Fetch
) -> None:
    hostile.answers["/cut.py"] = (200, {}, b"import os\n\ndef process_writes(a, b", None)
    code, err, _lock = fetch(hostile.url, "gh:cut.py")
    assert code == 1
    assert "it starts: import os⏎⏎def process_writes(a, b" in err, err


def test_a_plugin_that_compiles_is_pinned_without_running(
    hostile: Hostile, fetch: Fetch, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    body = f"open({str(marker)!r}, 'w').close()\n\ndef process_writes(a, b, args=None):\n    pass\n"
    hostile.answers["/ok.py"] = (200, {}, body.encode(), None)
    code, err, lock = fetch(hostile.url, "gh:ok.py")
    assert code == 0, err
    assert "gh:ok.py" in lock.read_text()
    assert not marker.exists(), "compiling must not run the module"


def test_a_file_repository_symlink_out_of_the_repository_is_refused(
    tmp_path: Path, fetch: Fetch
) -> None:
    secret = tmp_path / "secret.py"
    secret.write_bytes(b"TOKEN = 'do not publish'\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inside.py").write_bytes(PLUGIN)
    (repo / "escape.py").symlink_to(secret)
    (repo / "alias.py").symlink_to(repo / "inside.py")  # inside: fine
    code, err, lock = fetch(repo.as_uri() + "/", "gh:escape.py")
    assert code == 1
    assert "Path traversal detected" in err and f"outside the repository {repo}" in err, err
    assert not lock.exists()
    code, err, lock = fetch(repo.as_uri() + "/", "gh:alias.py")
    assert code == 0, err


@pytest.mark.parametrize("ref", ["gh:a%00b.py", "gh:a%0ab.py", "gh:a%0db.py", "./a\x00b.py"])
def test_control_characters_in_a_reference_are_one_error_line(
    tmp_path: Path, fetch: Fetch, ref: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    code, err, lock = fetch(repo.as_uri() + "/", ref)
    assert code in (1, 2), err
    assert err.startswith("error: ") and "control character" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not lock.exists()


def test_a_sync_removes_the_temp_files_a_killed_sync_left(tmp_path: Path) -> None:
    source = (FIXTURES / "repo").as_uri() + "/"
    dest = tmp_path / "mirror"
    first = sync_mirror(source, dest)
    assert first.ok and first.temp_files_removed == 0
    plugin = dest / next(p for p in first.new if p.endswith(".py"))
    left = [plugin.parent / f".{plugin.name}.k2j4_x9q.tmp", dest / ".mirror.json.abcdefgh.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    mine = dest / "notes.tmp"  # not our temp name: the operator's, kept
    mine.write_text("keep me")
    again = sync_mirror(source, dest)
    assert again.ok and again.temp_files_removed == 2
    assert not any(path.exists() for path in left)
    assert mine.read_text() == "keep me"


def test_a_mirror_sync_refuses_a_plugin_file_that_is_an_html_page(tmp_path: Path) -> None:
    source = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repo", source)
    victim = next(p for p in sorted(source.rglob("*.py")) if "influxdata" in p.parts)
    victim.write_bytes(SOFT_404)
    dest = tmp_path / "mirror"
    report = sync_mirror(source.as_uri() + "/", dest)
    relative = victim.relative_to(source).as_posix()
    failed = {f.path: f.message for f in report.failures}
    assert "is an HTML page, not Python source" in failed[relative], failed
    assert not (dest / relative).exists()  # never mirrored as a plugin


def test_temp_file_cleanup_does_not_follow_a_symlinked_directory(tmp_path: Path) -> None:
    source = (FIXTURES / "repo").as_uri() + "/"
    dest = tmp_path / "mirror"
    sync_mirror(source, dest)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    theirs = outside / ".data.abcdefgh.tmp"  # our temp name, but not in DEST
    theirs.write_text("not the mirror's")
    (dest / "linked").symlink_to(outside, target_is_directory=True)
    assert sync_mirror(source, dest).temp_files_removed == 0
    assert theirs.read_text() == "not the mirror's"
