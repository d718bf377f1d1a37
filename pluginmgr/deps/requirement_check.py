"""Whether requirements are met by what a plugin can import: the plugin venv's distributions.

Rules (`unsatisfied`, `explain`)::

    marker       false for this interpreter (evaluated with extra="")  -> met, nothing to check
    name         installed, the first distribution of that name on the search path
    version      in the specifier; pre-releases count
    name @ url   installed from that very URL (its PEP 610 direct_url.json); a version or an
                 index install never counts
    [extra]      declared by the distribution (Provides-Extra, PEP 685 names) and every
                 Requires-Dist the extra adds (its marker holds with extra=NAME but not without)
                 met in turn, recursively, extras included; cycles are followed once

The distribution's base dependencies are not checked: they are the installer's business, and a
package that imports is what a trigger needs.

The search path is the venv's site-packages alone (`PluginEnv.unsatisfied`): plugins run in a
host process on the venv's interpreter, where nothing of the server's environment is importable,
so a package the server has and the venv lacks is missing. Markers are evaluated with the venv
interpreter's values (``environment``), which need not be the server's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import InstallError

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "Installed",
    "InstalledDist",
    "dist_name_version",
    "explain",
    "parse_requirement",
    "unsatisfied",
]

_LOGGER = logging.getLogger(__name__)
_REQUIREMENT_HINT: Final = "use PEP 508 syntax, e.g. 'requests>=2,<3' or 'pyiceberg[s3fs]'"
_MARKER_HINT: Final = "check the marker's names and values, e.g. python_version >= '3.11'"
_MARKER_ERRORS: Final = (UndefinedComparison, UndefinedEnvironmentName)


def parse_requirement(text: str) -> Requirement:
    """A PEP 508 requirement, or an `InstallError` that names it."""
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        message = f"invalid requirement {text!r}: {exc}"
        raise InstallError(message, hint=_REQUIREMENT_HINT) from None


# -- what is installed ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalledDist:
    """One installed distribution, as the first entry of the search path that has it shows it."""

    #: canonical name (PEP 503)
    name: str
    version: str
    #: its Requires-Dist lines, markers included
    requires: tuple[str, ...]
    #: its Provides-Extra names, normalized (PEP 685)
    extras: frozenset[str]
    #: the PEP 508 URL it was installed from (direct_url.json), None for an index install
    url: str | None
    #: the search-path entry it was found in
    location: str


@dataclass(frozen=True, slots=True)
class Installed:
    """The distributions visible from a search path: canonical name -> the first one found."""

    dists: Mapping[str, InstalledDist]
    paths: tuple[str, ...]

    @classmethod
    def scan(cls, paths: Iterable[str | Path]) -> Installed:
        """Read every distribution under ``paths``; an earlier path wins over a later one."""
        from importlib import metadata  # the email parser: loaded by the first scan

        ordered = tuple(dict.fromkeys(str(path) for path in paths))
        found: dict[str, InstalledDist] = {}
        for entry in ordered:
            for dist in metadata.distributions(path=[entry]):
                read = _read_dist(dist, entry)
                if read is not None and read.name not in found:
                    found[read.name] = read
        return cls(MappingProxyType(found), ordered)

    def get(self, name: str) -> InstalledDist | None:
        """The distribution called ``name`` (any spelling), or None."""
        return self.dists.get(canonicalize_name(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonicalize_name(name) in self.dists


def _read_dist(dist: metadata.Distribution, entry: str) -> InstalledDist | None:
    meta = dist.metadata
    # `in` first: a missing key is deprecated (and later a KeyError) from Python 3.12 on
    name = meta["Name"] if meta is not None and "Name" in meta else None
    if not name:
        return None  # a broken .dist-info left behind by an interrupted install
    extras = frozenset(canonicalize_name(extra) for extra in meta.get_all("Provides-Extra") or ())
    return InstalledDist(
        name=canonicalize_name(name),
        version=meta["Version"] if "Version" in meta else "",
        requires=tuple(dist.requires or ()),
        extras=extras,
        url=_direct_url(dist.read_text("direct_url.json")),
        location=entry,
    )


def _direct_url(text: str | None) -> str | None:
    """The PEP 508 URL a PEP 610 ``direct_url.json`` records (``git+URL@rev`` for VCS)."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str):
        return None
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
        url = f"{vcs['vcs']}+{url}"
        if vcs.get("requested_revision"):
            url += f"@{vcs['requested_revision']}"
    if data.get("subdirectory"):
        url += f"#subdirectory={data['subdirectory']}"
    return url


# -- the check -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    installed: Installed
    environment: Mapping[str, str]

    def holds(self, marker: Marker, extra: str) -> bool:
        return marker.evaluate({**self.environment, "extra": extra})


def unsatisfied(
    requirements: Sequence[str],
    installed: Installed,
    *,
    environment: Mapping[str, str] | None = None,
) -> list[str]:
    """The requirement strings ``installed`` does not satisfy, in their order.

    :param environment: marker values overriding this interpreter's (e.g. ``python_version``).
    :raises InstallError: a requirement does not parse or its marker cannot be evaluated.
    """
    return [
        text
        for text in requirements
        if explain(text, installed, environment=environment) is not None
    ]


def explain(
    requirement: str,
    installed: Installed,
    *,
    environment: Mapping[str, str] | None = None,
) -> str | None:
    """Why ``requirement`` is not satisfied (e.g. ``"pm-gamma is not installed"``), or None.

    :raises InstallError: the requirement does not parse or its marker cannot be evaluated.
    """
    req = parse_requirement(requirement)
    context = _Context(installed, dict(environment or {}))
    if req.marker is not None and not _top_marker_holds(req, requirement, context):
        return None  # not for this interpreter
    return _unmet(req, context, set())


def _top_marker_holds(req: Requirement, text: str, context: _Context) -> bool:
    assert req.marker is not None  # noqa: S101 - the caller checked; narrows the type
    try:
        return context.holds(req.marker, "")
    except _MARKER_ERRORS as exc:
        message = f"cannot evaluate the marker of {text!r}: {exc}"
        raise InstallError(message, hint=_MARKER_HINT) from None


def _unmet(req: Requirement, context: _Context, seen: set[tuple[str, str]]) -> str | None:
    """Why ``req`` (marker already true) is not met; ``seen`` holds the extras under check."""
    dist = context.installed.get(req.name)
    if dist is None:
        return f"{req.name} is not installed"
    mismatch = _url_mismatch(req, dist) if req.url else _version_mismatch(req.specifier, dist)
    if mismatch is not None:
        return mismatch
    for extra in sorted(canonicalize_name(extra) for extra in req.extras):
        if (dist.name, extra) in seen:
            continue  # a cycle: its outcome is being decided further up
        seen.add((dist.name, extra))
        reason = _extra_unmet(dist, extra, context, seen)
        if reason is not None:
            return reason
    return None


def _url_mismatch(req: Requirement, dist: InstalledDist) -> str | None:
    if dist.url == req.url:
        return None
    source = dist.url or "a package index"
    return f"{req.name} {dist.version} is installed from {source}, not from {req.url}"


def _version_mismatch(specifier: SpecifierSet, dist: InstalledDist) -> str | None:
    if not specifier:
        return None
    try:
        if specifier.contains(Version(dist.version), prereleases=True):
            return None
    except InvalidVersion:
        return f"{dist.name} {dist.version!r} is installed: not a PEP 440 version, not {specifier}"
    return f"{dist.name} {dist.version} is installed, not {specifier}"


def _extra_unmet(
    dist: InstalledDist, extra: str, context: _Context, seen: set[tuple[str, str]]
) -> str | None:
    if extra not in dist.extras:
        declared = ", ".join(sorted(dist.extras)) or "none"
        return f"{dist.name} {dist.version} has no extra [{extra}] (it declares: {declared})"
    for added in _added_by(dist, extra, context):
        reason = _unmet(added, context, seen)
        if reason is not None:
            return f"{dist.name}[{extra}] needs {added}: {reason}"
    return None


def _added_by(dist: InstalledDist, extra: str, context: _Context) -> list[Requirement]:
    """The Requires-Dist of ``dist`` that hold with ``extra`` and not without it."""
    added: list[Requirement] = []
    for line in dist.requires:
        req = _metadata_requirement(dist, line)
        if req is None or req.marker is None:
            continue
        try:
            if context.holds(req.marker, extra) and not context.holds(req.marker, ""):
                added.append(_without_marker(req))
        except _MARKER_ERRORS as exc:
            _LOGGER.debug("%s: skipping Requires-Dist %r: %s", dist.name, line, exc)
    return added


def _metadata_requirement(dist: InstalledDist, line: str) -> Requirement | None:
    try:
        return Requirement(line)
    except InvalidRequirement as exc:
        # the distribution's own metadata is broken; the installer accepted it, so do we
        _LOGGER.debug("%s: skipping Requires-Dist %r: %s", dist.name, line, exc)
        return None


def _without_marker(req: Requirement) -> Requirement:
    """``req`` with its marker dropped, for messages (``pm-gamma``, not ``...; extra == "x"``)."""
    copy = Requirement(str(req))
    copy.marker = None
    return copy


def dist_name_version(entry: Path) -> tuple[str, str] | None:
    """(canonical name, version) of a ``.dist-info`` or ``.egg-info`` directory, from its name
    (what installers write: ``name-version.dist-info``, ``name-version[-pyX.Y].egg-info``;
    about a millisecond for a hundred, a tenth of reading each METADATA), else from its
    METADATA; None for anything else or a name nothing gives."""
    stem, _, suffix = entry.name.rpartition(".")
    if suffix not in ("dist-info", "egg-info"):
        return None
    name, sep, rest = stem.partition("-")
    version = rest.split("-", 1)[0]
    if not (sep and name and version):
        from importlib import metadata  # rare: a name that does not say

        dist = metadata.PathDistribution(entry)
        name, version = dist.metadata["Name"] or "", dist.version
    return (canonicalize_name(name), version) if name else None
