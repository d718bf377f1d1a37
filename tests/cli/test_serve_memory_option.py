"""``serve --plugin-memory-limit``: sizes parse, anything else is one clear line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginmgr.cli._quantities import parse_size
from pluginmgr.cli._serve_options import ServeError
from tests.helpers import run_cli


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MiB", 512 * 2**20), ("2G", 2 * 10**9), ("1.5GiB", 3 * 2**29), ("67108864", 2**26)],
)
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_size("--plugin-memory-limit", text) == size


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("lots", "use a size such as 512MiB, 2GiB or a number of bytes"),
        ("5XB", "use a size such as 512MiB"),
        ("1MiB", "a plugin host needs at least 16MiB"),
    ],
)
def test_bad_sizes_are_refused_by_name(text: str, words: str) -> None:
    with pytest.raises(ServeError) as info:
        parse_size("--plugin-memory-limit", text)
    assert str(info.value).startswith(f"invalid --plugin-memory-limit {text!r}: ")
    assert words in str(info.value)


def test_serve_refuses_a_bad_limit_before_it_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    result = run_cli(
        capsys, "serve", "--plugin-memory-limit", "lots", "--http-bind", "127.0.0.1:0",
        "--data-dir", str(data),
    )  # fmt: skip
    assert result.code != 0
    assert result.err.startswith("error: invalid --plugin-memory-limit 'lots'")
    assert not data.exists()  # refused before anything was made
