"""The pages of `tests.pypi_index.PackageIndex`: what it reads from each file and how the simple
API's HTML (PEP 503, 592, 629, 658, 714) and JSON (PEP 691, 700) pages present it."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

__all__ = [
    "API_VERSION",
    "DIST_SUFFIXES",
    "TEXT_HTML",
    "V1_HTML",
    "V1_JSON",
    "IndexFile",
    "project_page",
    "read_index_file",
    "root_page",
    "select_content_type",
]

API_VERSION: Final = "1.1"
TEXT_HTML: Final = "text/html"
V1_HTML: Final = "application/vnd.pypi.simple.v1+html"
V1_JSON: Final = "application/vnd.pypi.simple.v1+json"
DIST_SUFFIXES: Final = (".whl", ".tar.gz", ".zip")
_OFFERS: Final = (TEXT_HTML, V1_HTML, V1_JSON)  # Warehouse's order, which breaks ties
_ALIASES: Final = {
    "application/vnd.pypi.simple.latest+html": V1_HTML,
    "application/vnd.pypi.simple.latest+json": V1_JSON,
}
#: ``upload-time`` as PEP 700 writes it (and PyPI serves it)
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                with contextlib.suppress(ValueError):
                    quality = float(value)
        media = media.lower()
        ranges.append((_ALIASES.get(media, media), quality))
    return ranges


def select_content_type(accept: str | None) -> str:
    """The page type for an ``Accept`` header, as Warehouse picks it: the offer of highest
    quality (an offer's quality is that of the most specific range matching it), ties in the
    order text/html, v1+html, v1+json; text/html when no header or nothing matches."""
    if not accept or not accept.strip():
        return TEXT_HTML
    ranges = _accept_ranges(accept)
    scored = []
    for rank, offer in enumerate(_OFFERS):
        kind = offer.split("/")[0]
        patterns = ((2, offer), (1, f"{kind}/*"), (0, "*/*"))
        matches = [(s, q) for media, q in ranges for s, pattern in patterns if media == pattern]
        if matches and (quality := max(matches)[1]) > 0:
            scored.append((-quality, rank, offer))
    return min(scored)[2] if scored else TEXT_HTML


@dataclass(frozen=True, slots=True)
class IndexFile:
    """One file of the index and what its pages say about it."""

    path: Path
    project: str  #: the normalized name
    display_name: str  #: ``Name`` of its metadata
    version: Version
    sha256: str
    size: int
    upload_time: str
    requires_python: str | None
    metadata: bytes | None  #: a wheel's METADATA (served by PEP 658), None for an sdist

    @property
    def url_path(self) -> str:
        """Where it is served, laid out as files.pythonhosted.org does."""
        digest = self.sha256
        return f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{quote(self.path.name)}"


def _core_metadata(path: Path) -> bytes:
    """A wheel's ``*.dist-info/METADATA`` or an sdist's top-level ``PKG-INFO``."""
    wanted = r"[^/]+\.dist-info/METADATA" if path.name.endswith(".whl") else r"[^/]+/PKG-INFO"
    if path.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as archive:
            return archive.read(next(n for n in archive.namelist() if re.fullmatch(wanted, n)))
    with tarfile.open(path) as archive:
        member = next(m for m in archive.getmembers() if re.fullmatch(wanted, m.name))
        extracted = archive.extractfile(member)
        return extracted.read() if extracted is not None else b""


def read_index_file(path: Path) -> IndexFile:
    """Hash and read ``path``; its modification time is its upload time."""
    if path.name.endswith(".whl"):
        project, version, _build, _tags = parse_wheel_filename(path.name)
    else:
        project, version = parse_sdist_filename(path.name)
    data = path.read_bytes()
    metadata = _core_metadata(path)
    headers = BytesHeaderParser().parsebytes(metadata)
    mtime_us = path.stat().st_mtime_ns // 1000
    uploaded = datetime.fromtimestamp(mtime_us // 1_000_000, tz=UTC).replace(
        microsecond=mtime_us % 1_000_000
    )
    return IndexFile(
        path=path,
        project=str(project),
        display_name=headers.get("Name") or str(project),
        version=version,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        upload_time=uploaded.strftime(_TIME_FORMAT),
        requires_python=headers.get("Requires-Python"),
        metadata=metadata if path.name.endswith(".whl") else None,
    )


def _html(title: str, body: list[str]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        *(f"    {line}" for line in body),
        "  </body>",
        "</html>",
    ]
    return ("\n".join(lines) + "\n").encode()


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1).encode() + b"\n"


def root_page(files: Sequence[IndexFile], content_type: str, serial: int) -> bytes:
    """``/simple/``: one entry per project, under its display name."""
    names = {item.project: item.display_name for item in files}
    if content_type == V1_JSON:
        meta = {"api-version": API_VERSION, "_last-serial": serial}
        projects = [{"name": names[p], "_last-serial": serial} for p in sorted(names)]
        return _json({"meta": meta, "projects": projects})
    anchors = [f'<a href="/simple/{p}/">{html.escape(names[p])}</a>' for p in sorted(names)]
    return _html("Simple index", anchors)


def _metadata_value(item: IndexFile) -> str:
    return f"sha256={hashlib.sha256(item.metadata or b'').hexdigest()}"


def _html_anchor(item: IndexFile, url: str, yank: str | bool, metadata: bool) -> str:
    attributes = [f'href="{html.escape(url)}#sha256={item.sha256}"']
    if item.requires_python:
        attributes.append(f'data-requires-python="{html.escape(item.requires_python)}"')
    if yank:
        reason = yank if isinstance(yank, str) else ""
        attributes.append(f'data-yanked="{html.escape(reason)}"')
    if metadata:
        value = _metadata_value(item)
        attributes += [f'data-core-metadata="{value}"', f'data-dist-info-metadata="{value}"']
    return f"<a {' '.join(attributes)}>{html.escape(item.path.name)}</a><br/>"


def _json_file(item: IndexFile, url: str, yank: str | bool, metadata: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": item.path.name,
        "url": url,
        "hashes": {"sha256": item.sha256},
        "requires-python": item.requires_python,
        "size": item.size,
        "upload-time": item.upload_time,
        "yanked": yank,
    }
    if metadata:
        digest = {"sha256": _metadata_value(item).removeprefix("sha256=")}
        # PEP 714's name, PEP 691's, and the one Warehouse still sends
        entry |= {
            "core-metadata": digest,
            "dist-info-metadata": digest,
            "data-dist-info-metadata": digest,
        }
    else:
        entry |= {"core-metadata": False, "data-dist-info-metadata": False}
    return entry


def project_page(
    name: str,
    files: Sequence[IndexFile],
    content_type: str,
    *,
    base_url: str,
    serial: int,
    yank_of: Callable[[str], str | bool],
    metadata_for: Callable[[IndexFile], bool],
) -> bytes:
    """``/simple/<name>/``: every file of project ``name`` (normalized), oldest release first."""
    ordered = sorted(files, key=lambda item: (item.version, item.path.name))
    rows = [
        (item, base_url.rstrip("/") + item.url_path, yank_of(item.path.name), metadata_for(item))
        for item in ordered
    ]
    if content_type == V1_JSON:
        versions = sorted({item.version for item in files})
        return _json(
            {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "name": name,
                "versions": [str(version) for version in versions],
                "files": [_json_file(*row) for row in rows],
            }
        )
    title = f"Links for {name}"
    return _html(title, [f"<h1>{html.escape(title)}</h1>", *(_html_anchor(*row) for row in rows)])
