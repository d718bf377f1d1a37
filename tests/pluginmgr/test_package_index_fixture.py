"""The loopback package index (`tests.pypi_index`) answers as the simple repository API says:
checked here over HTTP against the specification's rules, so the install tests that use it test
pluginmgr against a faithful PyPI."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.index_pages import TEXT_HTML, V1_HTML, V1_JSON, select_content_type
from tests.pypi_index import FIXTURE_YANKED, PackageIndex, index_files

UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
GAMMA_WHEEL = "pm_gamma-0.2.0-py3-none-any.whl"


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str | None] = {}
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = dict(attrs)
        elif tag == "meta":
            found = dict(attrs)
            self.meta[found.get("name") or ""] = found.get("content")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.anchors.append((self._open, data))
            self._open = None


def anchors(text: str) -> _Anchors:
    parser = _Anchors()
    parser.feed(text)
    return parser


def get(index: PackageIndex, path: str, **headers: str) -> httpx.Response:
    return httpx.get(index.base_url + path.lstrip("/"), headers=headers, follow_redirects=False)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, TEXT_HTML),
        ("*/*", TEXT_HTML),
        (UV_ACCEPT, V1_JSON),
        (PIP_ACCEPT, V1_JSON),
        ("application/vnd.pypi.simple.v1+html", V1_HTML),
        ("application/vnd.pypi.simple.latest+json", V1_JSON),
        ("application/*", V1_HTML),  # a tie: Warehouse's order decides
        ("application/vnd.pypi.simple.v1+json;q=0, */*;q=0.5", TEXT_HTML),
        ("application/json", TEXT_HTML),  # nothing offered is acceptable: the default
    ],
)
def test_content_negotiation_follows_warehouse(accept: str | None, chosen: str) -> None:
    assert select_content_type(accept) == chosen


def test_json_project_page_has_every_pep_691_and_700_field(package_index: PackageIndex) -> None:
    answer = get(package_index, "/simple/pm-gamma/", Accept=UV_ACCEPT)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == V1_JSON and answer.headers["vary"] == "Accept"
    assert int(answer.headers["x-pypi-last-serial"]) > 0
    page: dict[str, Any] = answer.json()
    assert page["meta"]["api-version"] == "1.1" and page["name"] == "pm-gamma"
    assert page["versions"] == ["0.1.0", "0.2.0", "0.3.0"]
    files = {entry["filename"]: entry for entry in page["files"]}
    assert sorted(files) == [
        "pm_gamma-0.1.0-py3-none-any.whl", "pm_gamma-0.1.0.tar.gz", GAMMA_WHEEL,
        "pm_gamma-0.2.0.tar.gz", "pm_gamma-0.3.0-py3-none-any.whl", "pm_gamma-0.3.0.tar.gz",
    ]  # fmt: skip
    for name, entry in files.items():
        source = package_index.files / name
        body = httpx.get(entry["url"])
        assert body.content == source.read_bytes()
        assert body.headers["content-length"] == str(entry["size"]) == str(source.stat().st_size)
        assert entry["hashes"] == {"sha256": hashlib.sha256(body.content).hexdigest()}
        when = datetime.strptime(entry["upload-time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert when.replace(tzinfo=UTC).timestamp() == pytest.approx(source.stat().st_mtime)
        assert entry["yanked"] == FIXTURE_YANKED.get(name, False)
    assert files["pm_gamma-0.3.0.tar.gz"]["requires-python"] == ">=3.99,<5"
    wheel = files[GAMMA_WHEEL]
    assert wheel["core-metadata"] == wheel["dist-info-metadata"] == wheel["data-dist-info-metadata"]
    metadata = httpx.get(wheel["url"] + ".metadata")
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(metadata.content).hexdigest()}
    with zipfile.ZipFile(package_index.files / GAMMA_WHEEL) as archive:
        assert metadata.content == archive.read("pm_gamma-0.2.0.dist-info/METADATA")
    assert files["pm_gamma-0.2.0.tar.gz"]["core-metadata"] is False
    assert httpx.get(files["pm_gamma-0.2.0.tar.gz"]["url"] + ".metadata").status_code == 404


def test_html_pages_carry_the_same_facts_escaped(package_index: PackageIndex) -> None:
    root = get(package_index, "/simple/")
    assert root.headers["content-type"] == "text/html; charset=utf-8"
    listed = {text: attrs["href"] for attrs, text in anchors(root.text).anchors}
    assert listed["pm-gamma"] == "/simple/pm-gamma/" and "pm-libx" in listed

    page = get(package_index, "/simple/pm-gamma/", Accept="application/vnd.pypi.simple.v1+html")
    assert page.headers["content-type"] == f"{V1_HTML}; charset=utf-8"
    assert 'data-requires-python="&gt;=3.99,&lt;5"' in page.text
    parsed = anchors(page.text)
    assert parsed.meta["pypi:repository-version"] == "1.1"
    by_name = {text: attrs for attrs, text in parsed.anchors}
    json_files = get(package_index, "/simple/pm-gamma/", Accept=V1_JSON).json()["files"]
    for entry in json_files:
        attrs = by_name[entry["filename"]]
        assert attrs["href"] == f"{entry['url']}#sha256={entry['hashes']['sha256']}"
        assert attrs.get("data-requires-python") == entry["requires-python"]
        assert attrs.get("data-yanked", False) == entry["yanked"]
        core = entry["core-metadata"]
        expected = f"sha256={core['sha256']}" if core else None
        assert attrs.get("data-core-metadata") == attrs.get("data-dist-info-metadata") == expected


def test_redirects_and_404s_as_pypi(package_index: PackageIndex) -> None:
    moved = get(package_index, "/simple/PM_Gamma/?x=1")
    assert (moved.status_code, moved.headers["location"]) == (301, "/simple/pm-gamma/?x=1")
    slash = get(package_index, "/simple/pm-gamma")
    assert (slash.status_code, slash.headers["location"]) == (308, "/simple/pm-gamma/")
    assert get(package_index, "/simple").headers["location"] == "/simple/"
    for path in ("/simple/pm-nothing/", "/packages/aa/bb/cc/x.whl", "/", "/simple/a/b/"):
        assert get(package_index, path).status_code == 404, path
    assert "/simple/PM_Gamma/?x=1" in package_index.requests


def test_files_answer_head_and_byte_ranges(package_index: PackageIndex) -> None:
    page = get(package_index, "/simple/pm-gamma/", Accept=V1_JSON).json()
    url = next(f["url"] for f in page["files"] if f["filename"] == GAMMA_WHEEL)
    data = (package_index.files / GAMMA_WHEEL).read_bytes()
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["accept-ranges"] == "bytes"
    tail = httpx.get(url, headers={"Range": "bytes=-22"})
    assert tail.status_code == 206 and tail.content == data[-22:]
    assert tail.headers["content-range"] == f"bytes {len(data) - 22}-{len(data) - 1}/{len(data)}"
    middle = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == data[10:20]
    assert httpx.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416


def test_without_metadata_yanked_without_reason_and_publishing(
    index_dir: Path, tmp_path: Path
) -> None:
    files = Path(shutil.copytree(index_dir, tmp_path / "files"))
    with pytest.raises(ValueError, match=r"pm_nope-1\.0\.whl"):
        PackageIndex(files, yanked={"pm_nope-1.0.whl": True}).__enter__()
    with PackageIndex(files, yanked={GAMMA_WHEEL: True}, metadata=False) as index:
        page = get(index, "/simple/pm-gamma/", Accept=V1_JSON).json()
        wheel = next(f for f in page["files"] if f["filename"] == GAMMA_WHEEL)
        assert wheel["yanked"] is True and wheel["core-metadata"] is False
        assert httpx.get(wheel["url"] + ".metadata").status_code == 404
        html = get(index, "/simple/pm-gamma/").text
        assert "data-core-metadata" not in html and 'data-yanked=""' in html

        shutil.copy2(files / GAMMA_WHEEL, files / "pm_gamma-0.4.0-py3-none-any.whl")
        page = get(index, "/simple/pm-gamma/", Accept=V1_JSON).json()
        assert page["versions"][-1] == "0.4.0"


def test_an_html_only_index_answers_html_whatever_is_asked(index_dir: Path) -> None:
    with PackageIndex(index_dir, json_pages=False) as index:
        for accept in (V1_JSON, UV_ACCEPT, PIP_ACCEPT, V1_HTML):
            page = get(index, "/simple/pm-gamma/", Accept=accept)
            assert page.headers["content-type"] == f"{TEXT_HTML}; charset=utf-8", accept
            assert GAMMA_WHEEL in [name for _attrs, name in anchors(page.text).anchors]
        assert get(index, "/simple/", Accept=V1_JSON).text.startswith("<!DOCTYPE html>")


def test_index_files_are_the_same_bytes_and_times_every_time(tmp_path: Path) -> None:
    first, second = index_files(tmp_path / "a"), index_files(tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert {n for n in names if n.endswith(".tar.gz")} == {
        n.replace("-py3-none-any.whl", ".tar.gz") for n in names if n.endswith(".whl")
    }
    for name in names:
        a, b = first / name, second / name
        assert a.read_bytes() == b.read_bytes()
        assert a.stat().st_mtime_ns == b.stat().st_mtime_ns


@pytest.mark.usefixtures("uv_sandbox")
@pytest.mark.parametrize(
    ("requirement", "chosen"), [("pm-gamma", "0.1.0"), ("pm-gamma==0.2.0", "0.2.0")]
)
def test_pip_reads_the_index_as_uv_does(
    package_index: PackageIndex, requirement: str, chosen: str
) -> None:
    """pip skips the yanked 0.2.0 unless pinned (and warns with the reason), and 0.3.0."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    command += ["--disable-pip-version-check", "--quiet", "--report", "-"]
    done = subprocess.run(
        [*command, "--index-url", package_index.url, requirement],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["install"]
    assert item["metadata"]["version"] == chosen
    assert item["download_info"]["url"].endswith(f"pm_gamma-{chosen}-py3-none-any.whl")
    if chosen == "0.2.0":
        assert "broken release: use pm-gamma 0.1.0" in done.stderr
