"""`sync_venv`: make the plugin venv exactly what pylock.toml says, nothing else.

* **No-op first**: the venv's distributions (name and version) are compared with the lock's;
  when they are the same set, no installer starts (a few milliseconds in-process).
* **From the lock's own URLs** when its files come from an index (each has an http(s) ``url``)
  and the sources name no ``--find-links``, ``--offline`` or ``--no-index``: uv gets a
  temporary ``pylock.toml`` of the installable packages and fetches each file from its URL,
  checking the lock's hash, without asking the index for a single page again (it asked at
  lock time; a sync asking again cost as much as the resolution). Should that fail for
  another reason than a file refused by name (the URLs unreachable from here, an index
  named by ``--index-url`` serving them instead), the sync runs again by name:
* **Hash-checked by name** otherwise (find-links folders, a mirror, offline replays, the pip
  installer): the installer gets ``name==version --hash=…`` for every package (``uv pip sync
  --require-hashes``), so a file whose bytes the lock does not list is refused. Wheels in a
  local ``--find-links`` directory are re-hashed here first, so a tampered mirror wheel is
  refused *by name* before anything is installed.
* **Exact**: packages the lock does not list are removed; every package it lists is installed
  (the server's own environment supplies nothing: plugins run on the venv's interpreter).
* **Wheels only**, unless ``--allow-build``: a package the lock lists without a wheel is
  refused by name before anything runs, and a file whose hash does not match (from an index
  too) is one error naming the package, version, file and both hashes: never a quiet build
  of the sdist with whatever build tools the index serves that day.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import InstallError, IntegrityError
from ..fetch.hashes import sha256_file
from ..fetch.repo_sums import local_sums
from ..fetch.transports import local_path
from .build_lock import build_constraints_file
from .installers import disabled_error
from .pylock import LockedFile, LockedPackage, PyLock
from .pylock_writer import dump_pylock

if TYPE_CHECKING:
    from .installers import InstallOptions
    from .venv import PluginEnv

__all__ = [
    "SyncPlan",
    "SyncResult",
    "hashed_requirements",
    "lock_urls",
    "no_wheel_refusal",
    "plan_sync",
    "refusal",
    "require_wheels",
    "sync_venv",
    "verify_local_wheels",
]


_MISMATCH: Final = re.compile(
    r"Hash mismatch for `(?P<name>[^`=\s]+)==(?P<version>[^`\s]+)`"  # uv
    r"|^\s*(?P<pname>[A-Za-z0-9][\w.-]*)==(?P<pversion>\S+) from (?P<url>\S+?)"  # pip
    r"(?: \(from [^\n]*\))?:\s*$",
    re.MULTILINE,
)
_EXPECTED: Final = re.compile(r"Expected(.*?)(?:Computed|Got)(.*)", re.DOTALL)
_DIGEST: Final = re.compile(r"\b[0-9a-f]{64}\b")
_NO_WHEEL: Final = re.compile(r"Because (?P<name>\S+)==(?P<version>\S+) has no usable wheels")
_WHEELS_REQUIRED: Final = re.compile(r"Wheels are required for `(?P<name>[^`]+)` because building")
_OTHER_REASONS: Final = re.compile(r"does not satisfy Python|depends on|yanked|incompatible")
_BUILD_HINT: Final = "pass --allow-build to let its sdist be built (its build backend runs)"


def no_wheel_refusal(output: str, *, what: str) -> InstallError | None:
    """uv's "no usable wheels, building is disabled" as one error naming the packages; None when
    uv's derivation has other reasons too (a yanked release, another Python, a conflict), which
    the conflict's explanation must tell: under wheels only, uv calls a yanked release's files
    "no usable wheels" too."""
    names = list(dict.fromkeys(m["name"] for m in _WHEELS_REQUIRED.finditer(output)))
    if not names or _OTHER_REASONS.search(output):
        return None
    message = (
        f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} no wheel for this "
        f"interpreter from the package sources, and building from source is off; {what}"
    )
    return InstallError(message, hint=f"add a --find-links with the wheel, or {_BUILD_HINT}")


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a sync would change: name -> (installed version or None, locked version or None)."""

    install: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    remove: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.install and not self.remove


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What `sync_venv` did."""

    plan: SyncPlan
    ran_installer: bool
    seconds: float
    output: str = ""
    created_venv: bool = False
    relocked: str | None = None  #: why the lock was re-resolved first (a Python upgrade)


def _same(installed: str, locked: str) -> bool:
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return installed == locked


def plan_sync(installed: Mapping[str, str], packages: Sequence[LockedPackage]) -> SyncPlan:
    """The difference between the venv (canonical name -> version) and the locked packages."""
    wanted = {p.key: p.version for p in packages}
    install = {
        name: (installed.get(name), version)
        for name, version in wanted.items()
        if name not in installed or not _same(installed[name], version)
    }
    remove = {name: version for name, version in installed.items() if name not in wanted}
    return SyncPlan(install, remove)


def hashed_requirements(packages: Iterable[LockedPackage]) -> str:
    """``name==version --hash=…`` lines for ``uv pip sync --require-hashes`` (pip-tools style).

    Every hash of every wheel and sdist the lock lists is allowed, so the installer can pick the
    file for this platform, and nothing else can be installed.
    """
    lines = []
    for package in packages:
        digests = sorted(
            {
                f"{algorithm}:{value}"
                for item in (*package.wheels, *((package.sdist,) if package.sdist else ()))
                for algorithm, value in item.hashes.items()
            }
        )
        hashes = "".join(f" \\\n    --hash={digest}" for digest in digests)
        lines.append(f"{package.name}=={package.version}{hashes}")
    return "\n".join(lines) + ("\n" if lines else "")


def _files(package: LockedPackage) -> tuple[LockedFile, ...]:
    return (*package.wheels, *((package.sdist,) if package.sdist else ()))


def lock_urls(packages: Sequence[LockedPackage], options: InstallOptions, installer: str) -> bool:
    """Whether uv can install ``packages`` from the lock's own URLs (see the module docstring):
    every package has a file and every file an http(s) URL, and the sources are the index's."""
    if installer != "uv" or options.find_links or options.offline or options.no_index:
        return False
    return all(
        _files(p) and all(f.url and f.url.startswith(("http://", "https://")) for f in _files(p))
        for p in packages
    )


def _local_dirs(links: Sequence[str]) -> list[Path]:
    paths = [local_path(link) for link in links]
    return [path for path in paths if path is not None and path.is_dir()]


def verify_local_wheels(packages: Sequence[LockedPackage], find_links: Sequence[str]) -> int:
    """Re-hash every file of ``packages`` found in a local ``find_links`` directory, against
    the lock and against the ``SHA256SUMS``/``mirror.json`` of the folder or the mirror it
    is in (`local_sums`).

    :returns: how many files were checked.
    :raises IntegrityError: naming the first file whose sha256 the lock or the mirror's
        records do not list.
    """
    checked = 0
    for folder in _local_dirs(find_links):
        # a mirror's folder (or the mirror it is in) lists its files: a lock resolved from a
        # tampered wheel matches that wheel, but not what the mirror recorded when it synced
        sums, prefix = local_sums(folder)
        for package in packages:
            for item in (*package.wheels, *((package.sdist,) if package.sdist else ())):
                path = folder / item.name
                if not path.is_file():
                    continue
                actual = sha256_file(path)
                checked += 1
                if item.sha256 is not None and actual != item.sha256:
                    message = (
                        f"{path} does not match pylock.toml ({package.name} {package.version}: "
                        f"expected sha256 {item.sha256[:16]}…, got {actual[:16]}…); it was "
                        "damaged or tampered with, and nothing was installed"
                    )
                    raise IntegrityError(
                        message, hint="re-sync the mirror (`pluginmgr mirror sync`) and retry"
                    )
                sums.check(prefix + item.name, actual, what=str(path))
    return checked


def require_wheels(packages: Sequence[LockedPackage], options: InstallOptions) -> None:
    """Refuse, by name, a package the lock lists without a wheel (unless ``allow_build``)."""
    if options.allow_build:
        return
    for package in packages:
        if not package.wheels:
            has = f"only the sdist {package.sdist.name}" if package.sdist else "no file at all"
            message = (
                f"{package.name} {package.version} in pylock.toml has no wheel ({has}); "
                "installing it means building it from source, and nothing was installed"
            )
            raise InstallError(message, hint=_BUILD_HINT)


def _files_of(package: LockedPackage | None, url: str | None) -> str:
    """The file a mismatch is about: from the installer's URL, else the lock's files."""
    if url:
        return url.rsplit("/", 1)[-1].split("#")[0]
    if package is None:  # not a package of the lock: a build backend it pins
        return "its wheel (a build backend pylock.toml pins)"
    files = [w.name for w in package.wheels] or ([package.sdist.name] if package.sdist else [])
    return files[0] if len(files) == 1 else "one of " + ", ".join(files)


def refusal(exc: InstallError, packages: Sequence[LockedPackage]) -> IntegrityError | None:
    """The installer's failure as one error by name: a hash mismatch (uv's or pip's words) or
    no usable wheel; None when it is neither."""
    by_key = {p.key: p for p in packages}
    no_wheel = _NO_WHEEL.search(exc.output)
    found = _MISMATCH.search(exc.output)
    if found is None and no_wheel is not None:
        message = (
            f"{no_wheel['name']} {no_wheel['version']}: none of the wheels pylock.toml lists "
            "is available for this interpreter from the package sources, and building from "
            "source is off; nothing was installed"
        )
        return IntegrityError(message, hint=f"add a --find-links with the wheel, or {_BUILD_HINT}")
    if found is None:
        return None
    name, version = found["name"] or found["pname"], found["version"] or found["pversion"]
    package = by_key.get(canonicalize_name(name))
    hashes = _EXPECTED.search(exc.output[found.end() :])
    expected = _DIGEST.findall(hashes[1]) if hashes else []
    got = _DIGEST.findall(hashes[2])[:1] if hashes else []
    message = (
        f"{name} {version}: {_files_of(package, found['url'])} does not match pylock.toml "
        f"(expected sha256 {' or '.join(e[:16] + '…' for e in expected) or '?'}, "
        f"got {got[0][:16] + '…' if got else '?'}); it was damaged or replaced on its way, "
        "nothing was installed and nothing was built instead"
    )
    hint = "check the index or mirror that serves it; re-lock only if you trust the new file"
    return IntegrityError(message, hint=hint)


def sync_venv(env: PluginEnv, lock: PyLock, options: InstallOptions) -> SyncResult:
    """Make ``env`` exactly ``lock`` (creating the venv if missing); see the module docstring."""
    start = time.perf_counter()
    packages = lock.installable(env.markers)  # markers for the venv's interpreter
    installed = env.installed()
    plan = plan_sync(installed, packages)
    if plan.empty and env.venv_python.exists():
        return SyncResult(plan, False, time.perf_counter() - start)
    if env.installer is None:
        raise disabled_error()
    changing = [p for p in packages if p.key in plan.install]
    require_wheels(changing, options)
    if options.allow_build and lock.build_constraints and env.installer.name != "uv":
        message = (
            f"pylock.toml pins build backends ({', '.join(lock.build_constraints)[:80]}…), "
            f"which the {env.installer.name} installer cannot enforce; nothing was installed"
        )
        raise InstallError(message, hint="build sdists with --package-manager uv")
    verify_local_wheels(changing, options.find_links)
    created = not env.venv_python.exists()
    with tempfile.TemporaryDirectory(prefix="pluginmgr-sync-") as tmp:
        pins = build_constraints_file(lock, Path(tmp)) if options.allow_build else None
        if pins is not None:  # the build backends, locked too (uv refuses other ones)
            options = replace(options, build_constraints=(*options.build_constraints, str(pins)))
        output = None
        if lock_urls(packages, options, env.installer.name):
            urls = Path(tmp) / "pylock.toml"  # uv reads a file of this name as PEP 751
            urls.write_text(dump_pylock(replace(lock, packages=tuple(packages))), "utf-8")
            output = _sync(env, urls, plan, options, packages, fallback=True)
        if output is None:
            requirements = Path(tmp) / "pylock-requirements.txt"
            requirements.write_text(hashed_requirements(packages), encoding="utf-8")
            output = _sync(env, requirements, plan, options, packages, fallback=False)
    return SyncResult(plan, True, time.perf_counter() - start, output or "", created)


def _sync(
    env: PluginEnv,
    source: Path,
    plan: SyncPlan,
    options: InstallOptions,
    packages: Sequence[LockedPackage],
    *,
    fallback: bool,
) -> str | None:
    """The installer's output; None when it failed for another reason than a refusal by name
    and ``fallback`` (the caller then syncs by name)."""
    try:
        return env.sync(source, sorted(plan.remove), options)
    except InstallError as exc:
        refused = refusal(exc, packages)
        if refused is None and fallback:
            return None
        raise (refused or exc) from exc
