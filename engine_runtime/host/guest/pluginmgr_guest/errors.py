"""How a plugin's exception is reported to the server: upstream's one-line words and the
plugin's own frames of the traceback (this package's and the import machinery's left out, in
every chained exception too), as the server's in-process runtime reports them."""

from __future__ import annotations

import os
import traceback
from typing import Any

__all__ = ["describe", "one_line"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def one_line(exc: BaseException) -> str:
    """``"<ExcType>: <msg>"`` as Python prints it, or just ``"<ExcType>"`` for no message."""
    message = str(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _internal(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):
        return True
    return os.path.abspath(filename).startswith(_HERE + os.sep)


def _strip(summary: traceback.TracebackException, seen: set[int]) -> None:
    if id(summary) in seen:  # chains can loop
        return
    seen.add(id(summary))
    kept = [frame for frame in summary.stack if not _internal(frame.filename)]
    summary.stack = traceback.StackSummary.from_list(kept)
    for inner in (summary.__cause__, summary.__context__, *(summary.exceptions or ())):
        if inner is not None:
            _strip(inner, seen)


def plugin_traceback(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` with the plugin's frames only."""
    summary = traceback.TracebackException.from_exception(exc)
    _strip(summary, set())
    return "".join(summary.format())


def describe(exc: BaseException) -> dict[str, Any]:
    """The ``error``, ``error_type`` and ``traceback`` fields of a failed run's result."""
    error = getattr(exc, "upstream_message", None) or one_line(exc)
    return {
        "error": error,
        "error_type": type(exc).__name__,
        "traceback": plugin_traceback(exc),
    }
