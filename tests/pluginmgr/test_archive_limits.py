"""Hostile registry artifacts: header bombs, member floods and gzip bombs stop at a named limit."""

from __future__ import annotations

import io
import tarfile
import time
import zlib

import pytest

from pluginmgr.fetch.registry_source import (
    MAX_ARCHIVE_MEMBERS,
    MAX_EXTENDED_HEADER,
    UnsafeArchiveError,
    safe_extract,
)
from pluginmgr.fetch.safe_archive import MAX_GZIP_MEMBERS

_PLUGIN = b"def process_writes(influxdb3_local, table_batches, args=None): pass\n"


def _tar(members: list[tarfile.TarInfo], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=fmt) as tar:
        for info in members:
            data = _PLUGIN if info.isfile() else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _file(name: str, **pax: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    info.pax_headers = dict(pax)
    return info


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, wbits=31)
    return packer.compress(data) + packer.flush()


def test_huge_pax_header_is_refused_before_tarfile_parses_it() -> None:
    artifact = _tar([_file("__init__.py", comment="x" * (8 * 1024 * 1024))])
    assert len(artifact) < 100_000  # a small download ...
    with pytest.raises(UnsafeArchiveError) as caught:  # ... that would inflate to 8 MB
        safe_extract(artifact, source="pax.tar.gz", max_bytes=10 * 1024 * 1024)
    message = str(caught.value)
    assert "pax.tar.gz" in message and f"{MAX_EXTENDED_HEADER}-byte limit" in message


def test_gnu_longname_bomb_is_refused() -> None:
    name = "a/" * 100_000 + "__init__.py"
    artifact = _tar([_file(name)], fmt=tarfile.GNU_FORMAT)
    with pytest.raises(UnsafeArchiveError, match="GNU long-name header is over the 65536-byte"):
        safe_extract(artifact, source="gnu.tar.gz", max_bytes=10 * 1024 * 1024)


def test_extended_headers_under_the_limit_still_work() -> None:
    name = "pkg/" + "d" * 200 + "/mod.py"
    artifact = _tar([_file("__init__.py", comment="c" * 1000), _file(name)])
    files = safe_extract(artifact, source="ok.tar.gz", max_bytes=10_000)
    assert files == {"__init__.py": _PLUGIN, name: _PLUGIN}


def test_member_flood_is_refused_at_the_member_cap() -> None:
    members = [_file("__init__.py")]
    members += [tarfile.TarInfo(f"d{i}") for i in range(20_000)]
    for info in members[1:]:
        info.type = tarfile.DIRTYPE
    artifact = _tar(members, fmt=tarfile.USTAR_FORMAT)
    with pytest.raises(UnsafeArchiveError) as caught:
        safe_extract(artifact, source="flood.tar.gz", max_bytes=10 * 1024 * 1024)
    assert f"flood.tar.gz holds more than {MAX_ARCHIVE_MEMBERS} members" in str(caught.value)


def test_gzip_bomb_stops_at_the_inflation_cap() -> None:
    info = _file("__init__.py")
    info.size = 64 * 1024 * 1024
    bomb = _gzip(info.tobuf(tarfile.USTAR_FORMAT) + bytes(info.size))
    assert len(bomb) < 200_000
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.tar\.gz inflates to more than \d+ bytes"):
        safe_extract(bomb, source="bomb.tar.gz", max_bytes=1000)


def test_trailing_garbage_and_truncation_are_refused() -> None:
    good = _tar([_file("__init__.py")])
    with pytest.raises(UnsafeArchiveError, match=r"cannot read archive t\.tar\.gz"):
        safe_extract(good[:-10], source="t.tar.gz", max_bytes=10_000)
    with pytest.raises(UnsafeArchiveError, match=r"cannot read archive g\.tar\.gz"):
        safe_extract(good + b"junk", source="g.tar.gz", max_bytes=10_000)


def test_concatenated_gzip_members_are_one_stream() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = _file("__init__.py")
        info.size = len(_PLUGIN)
        tar.addfile(info, io.BytesIO(_PLUGIN))
    stream = raw.getvalue()
    artifact = _gzip(stream[:512]) + _gzip(stream[512:])
    assert safe_extract(artifact, source="multi.tar.gz", max_bytes=10_000) == {
        "__init__.py": _PLUGIN
    }


def test_a_flood_of_empty_gzip_members_is_refused_fast() -> None:
    good = _tar([_file("__init__.py")])
    artifact = good + _gzip(b"") * 500_000  # 10 MB of empty members after a real archive
    started = time.monotonic()
    with pytest.raises(UnsafeArchiveError) as caught:
        safe_extract(artifact, source="members.tar.gz", max_bytes=10 * 1024 * 1024)
    took = time.monotonic() - started
    message = str(caught.value)
    assert f"members.tar.gz holds more than {MAX_GZIP_MEMBERS} gzip members" in message
    assert took < 2, f"{took:.1f}s to refuse 500,000 empty gzip members"


def test_gzip_members_up_to_the_cap_are_one_stream() -> None:
    good = _tar([_file("__init__.py")])
    artifact = good + _gzip(b"") * (MAX_GZIP_MEMBERS - 1)
    assert safe_extract(artifact, source="ok.tar.gz", max_bytes=10_000) == {"__init__.py": _PLUGIN}
