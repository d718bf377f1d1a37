"""Checks on downloaded bytes before anything is pinned: a 200 answer is not proof of a plugin.

A proxy, captive portal or CDN can answer 200 with an HTML error page (a "soft 404"), an XML or
JSON error document or a bare ``404: Not Found``; a server can cut a body short with a lying
Content-Length (HTTP/1.1 ends the body where the header says, so ``def p`` is all that arrives);
and a repository can hold a file that is not Python source at all. Pinning any of these would
make every node load garbage until someone re-fetches. So a ``.py`` file is pinned only when it
is UTF-8 text (upstream InfluxDB 3 reads plugin files as UTF-8) without control bytes and it
compiles: ``compile(source, name, "exec")`` parses it into a code object and runs nothing. The
error shows how the body starts, which tells an error page from a truncated plugin at a glance.
The ``.py`` files of a ``git+`` checkout and of a registry artifact pass the same check
(`check_python_files`) before they are stored.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from engine_runtime.python_source import compile_checked

from ..errors import FetchError

__all__ = ["check_plugin_source", "check_python_files", "first_lines"]

#: an HTML document, after optional whitespace and BOM: what error pages start with
_HTML_START: Final = re.compile(rb"[\s\xef\xbb\xbf]*<(!doctype|html|head|body)\b", re.IGNORECASE)
#: C0 control bytes and DEL; tab, newline, carriage return and form feed are Python whitespace
_CONTROL: Final = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HINT: Final = "check --plugin-repo and any proxy in between; nothing was pinned"
_SHOWN: Final = 60
#: what a JSON (or other data) document parses to as a Python expression
_LITERALS: Final = (ast.Dict, ast.List, ast.Set, ast.Tuple, ast.Constant, ast.Name, ast.UnaryOp)


def first_lines(body: bytes, *, limit: int = _SHOWN) -> str:
    """How ``body`` starts, on one printable line: at most ``limit`` characters of its first
    lines, newlines shown as ``⏎`` and any other unprintable character escaped."""
    text = body[: limit * 4].decode("utf-8", errors="replace").strip()
    shown = "".join(
        "⏎" if ch == "\n" else ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text
    )
    return shown[:limit] + ("…" if len(shown) > limit else "")


def _problem(
    url: str, body: bytes, headers: Mapping[str, str], *, data_documents: bool = True
) -> str | None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "text/html" or _HTML_START.match(body):
        return "is an HTML page, not Python source (an error page from a proxy or CDN?)"
    if b"\x00" in body:
        return "is binary (it has NUL bytes), not Python source"
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 (byte {exc.start}), and plugins must be UTF-8 Python source"
    control = _CONTROL.search(body)
    if control is not None:
        return f"has the control byte {control.group()!r} at byte {control.start()}, not text"
    try:
        tree = compile_checked(source, url)
    except SyntaxError as exc:
        return f"does not compile as Python ({exc.msg}, line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:  # nesting past the parser's limits
        return f"does not compile as Python ({type(exc).__name__}: {exc})"
    if data_documents and _only_data(tree):
        return "is a data document (a JSON value?), not Python source"
    return None


def _only_data(tree: ast.Module) -> bool:
    """Whether the module is nothing but literal values, one not a string: JSON (``{...}``,
    ``[...]``, ``null``) compiles, yet defines and runs nothing. A docstring alone passes."""
    values = [node.value for node in tree.body if isinstance(node, ast.Expr)]
    if len(values) != len(tree.body) or not all(isinstance(v, _LITERALS) for v in values):
        return False
    return any(not (isinstance(v, ast.Constant) and isinstance(v.value, str)) for v in values)


def check_plugin_source(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Refuse a ``.py`` file that is not UTF-8 Python source that compiles; other files pass.

    The one-line error names the URL, the problem and the body's first characters.

    :param headers: response headers with lower-case keys.
    """
    if not urlsplit(url).path.endswith(".py"):
        return
    problem = _problem(url, body, headers)
    if problem is None:
        return
    message = f"plugin file {url} {problem}; it starts: {first_lines(body) or '(empty)'}"
    raise FetchError(message, url=url, hint=_HINT)


def check_python_files(origin: str, files: Mapping[str, bytes], *, hint: str) -> None:
    """Refuse ``files`` (path -> bytes, from ``origin``: a git commit, a registry artifact)
    when one of its ``.py`` files is not UTF-8 Python source that compiles; nothing is run.

    The one-line error names the file, ``origin``, the problem and the file's first characters.
    A module of bare values passes: the bytes are what the author committed or published, not
    an error document a server put in their place.
    """
    for name, body in files.items():
        if not name.endswith(".py"):
            continue
        problem = _problem(name, body, {}, data_documents=False)
        if problem is not None:
            shown = first_lines(body) or "(empty)"
            message = f"plugin file {name} in {origin} {problem}; it starts: {shown}"
            raise FetchError(message, url=origin, hint=hint)
