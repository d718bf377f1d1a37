"""Parsing Python source into an AST, one thread at a time.

CPython 3.11 keeps the AST builder's recursion depth in interpreter-wide state, so two threads
building ASTs at once can fail with ``SystemError: AST constructor recursion depth mismatch``
(fetches check their files in parallel while the server checks a trigger's plugin). Every AST
this project builds goes through `parse_python` (and `compile_checked`), under one lock; a
parse takes microseconds to milliseconds.
"""

from __future__ import annotations

import ast
import threading
from typing import Final

__all__ = ["compile_checked", "parse_python"]

_PARSING: Final = threading.Lock()


def parse_python(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse` under the process-wide AST lock. Raises what `ast.parse` raises."""
    with _PARSING:
        return ast.parse(source, filename)


def compile_checked(source: str, filename: str) -> ast.Module:
    """Parse ``source`` and compile the tree to a code object (which runs nothing), so code
    generation's own checks apply too; return the tree. Raises what `compile` raises."""
    with _PARSING:
        tree = ast.parse(source, filename)
        compile(tree, filename, "exec", dont_inherit=True)
    return tree
