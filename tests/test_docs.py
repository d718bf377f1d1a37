"""The README and docs/ stand alone: every relative link resolves, nothing points outside.

A link is ``[text](target)`` outside code. ``target`` is a path relative to the page, optionally
with ``#anchor``, or just ``#anchor`` for the page itself. Anchors are GitHub's heading slugs.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PAGES: Final = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_FENCE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE: Final = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK: Final = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_HEADING: Final = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_EXTERNAL: Final = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
#: what a user of a clone cannot follow: internal documents and trackers
_FORBIDDEN: Final = (
    re.compile(r"\.\./shared"),
    re.compile(r"/work/"),
    re.compile(r"engine-behavior\.md"),
    re.compile(r"DESIGN\.md"),
    re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE),
)


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and match and match.group(1).startswith(fence):
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before de-duplication)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = (ch for ch in text if ch in "-_ " or unicodedata.category(ch)[0] in "LN")
    return "".join(kept).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of ``page``; repeated headings get ``-1``, ``-2``, … as on GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The targets of the page's markdown links, in order, outside code."""
    return [
        match.group(1)
        for line in _prose_lines(page.read_text(encoding="utf-8"))
        for match in _LINK.finditer(_INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line))
    ]


def _broken(page: Path, target: str) -> str | None:
    """Why ``target`` (a link on ``page``) does not resolve, or None when it does."""
    path_part, _, anchor = target.partition("#")
    dest = (page.parent / path_part).resolve() if path_part else page
    if not dest.is_relative_to(ROOT):
        return f"{target} leaves the repository"
    if not dest.exists():
        return f"{target}: {dest.relative_to(ROOT)} does not exist"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}"
    return None


def test_the_docs_exist() -> None:
    assert (ROOT / "docs").is_dir()
    assert len(PAGES) > 1


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    problems = [
        problem
        for target in links(page)
        if not _EXTERNAL.match(target)
        if (problem := _broken(page, target)) is not None
    ]
    assert not problems, f"{page.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_points_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    hits = [match.group(0) for pattern in _FORBIDDEN for match in pattern.finditer(text)]
    assert not hits, f"{page.relative_to(ROOT)} mentions {hits}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for target in links(ROOT / "README.md")
        if not _EXTERNAL.match(target) and not target.startswith("#")
    }
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md does not link docs/{missing}"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        (
            "Where pluginmgr differs from InfluxDB 3, and why",
            "where-pluginmgr-differs-from-influxdb-3-and-why",
        ),
        ("`pylock.toml`: one locked set for the venv", "pylocktoml-one-locked-set-for-the-venv"),
        ("lock --upgrade and outdated", "lock---upgrade-and-outdated"),
        ("1. Start the server", "1-start-the-server"),
        ("The `_internal` database", "the-_internal-database"),
        ("See [the CLI](cli.md)", "see-the-cli"),
    ],
)
def test_slug_follows_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_links_skip_code_and_see_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## `Title`\n\nSee [a](other.md#x) and `[b](no.md)`.\n\n```\n[c](no.md)\n```\n",
        encoding="utf-8",
    )
    assert links(page) == ["other.md#x"]
    assert anchors(page) == {"title", "title-1"}
