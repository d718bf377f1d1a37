"""A requirement that names a package the sources do not have: a `PackageNotFoundError`, not a
conflict.

uv reports an unknown package as an unsatisfiable resolution ("No solution found … Because
pandass was not found in the package registry and you require pandass …"), the same shape as a
real conflict between plugins. `package_not_found` reads uv's words (``the package registry``
for an index, ``the provided package locations`` for ``--find-links``/``--no-index``, ``the
cache`` for ``--offline``) and, when a name the operator or a plugin requires directly is
missing, says so in one line naming where it looked. A missing package deep in the graph stays a
conflict: uv may have had other versions to try, so it is not the whole story.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from packaging.utils import canonicalize_name

from ..errors import PackageNotFoundError
from .index_versions import configured_index

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = ["describe_sources", "package_not_found"]

_NOT_FOUND: Final = re.compile(
    r"\b(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) was not found in the "
    r"(?:package registry|provided package locations|cache)\b"
)
_PYPI: Final = "PyPI (https://pypi.org/simple)"


def describe_sources(sources: InstallOptions) -> str:
    """Where uv looked for packages, for a message: ``on`` the index URL or PyPI, ``in`` the
    find-links folders (``--no-index``), ``in`` uv's cache (``--offline``)."""
    links = ", ".join(sources.find_links)
    folders = f"the find-links folders {links}" if links else "no find-links folder"
    if sources.no_index:
        return f"in {folders}"
    index = configured_index(sources) or _PYPI
    where = f"in uv's cache of {index} (--offline)" if sources.offline else f"on {index}"
    return f"{where} or in {folders}" if links else where


def _hint(sources: InstallOptions) -> str:
    if sources.no_index:
        return "check the spelling, or put the package's wheel in a --find-links folder"
    if sources.offline:
        return "check the spelling, or run once without --offline to fill uv's cache"
    return "check the spelling; a private package needs --index-url URL or --find-links DIR"


def package_not_found(
    output: str,
    required: Iterable[str],
    sources: InstallOptions,
    *,
    log_path: str | None = None,
) -> PackageNotFoundError | None:
    """The error for uv's ``output`` when it says a directly ``required`` package (a name) does
    not exist in ``sources``; None for any other failure. ``log_path``: uv's full output."""
    direct = {canonicalize_name(name): name for name in required}  # as the user wrote it
    found = (canonicalize_name(m["name"]) for m in _NOT_FOUND.finditer(output))
    missing = list(dict.fromkeys(direct[key] for key in found if key in direct))
    if not missing:
        return None
    where = describe_sources(sources)
    names = ", ".join(f"'{name}'" for name in missing)
    noun = "package" if len(missing) == 1 else "packages"
    verb = "was" if len(missing) == 1 else "were"
    message = f"{noun} {names} {verb} not found {where}"
    return PackageNotFoundError(
        message,
        packages=tuple(missing),
        where=where,
        output=output,
        log_path=log_path,
        hint=_hint(sources),
    )
