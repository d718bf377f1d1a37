"""Errors raised by `pluginmgr`.

Every error is a `PluginManagerError`; the CLI catches that one class, prints the message on one
line and exits 1. Subclasses follow what the caller can do about the failure::

    PluginManagerError
    ├── InvalidReferenceError      a plugin reference does not parse or is unsafe
    │   └── PathTraversalError     a local path escapes --plugin-dir (upstream's exact message)
    ├── PluginNotFoundError        a local plugin file or directory is missing
    ├── ResolveError               a valid reference cannot be turned into a source (yet)
    ├── FetchError                 bytes could not be fetched
    │   ├── NetworkError           connection, TLS, timeout or redirect loop
    │   ├── HTTPStatusError        the repository answered non-2xx (upstream's exact message)
    │   ├── TooLargeError          the file is larger than the size cap
    │   └── GitError               a git repository or revision could not be fetched
    ├── IntegrityError             content does not match the hash the lock file or store expects
    ├── OfflineError               --offline and the lock file or store lacks what is needed
    ├── LockfileError              plugins.lock is unreadable or from a newer pluginmgr
    ├── MirrorError                a mirror cannot be synced or verified
    ├── ServerError                the server could not be reached, or answered an error
    ├── StoreError                 the local store (cache directory) cannot be used
    ├── DependencyDeclarationError a plugin's dependency declaration is malformed
    ├── DatabaseVersionError       a plugin's manifest excludes the InfluxDB version of this node
    ├── FleetFileError             a fleet file (``fleet plan|apply FILE``) is malformed
    ├── NodeError                  a fleet node cannot be reached or refused a request
    └── InstallError               a package install or venv operation failed (uv's or pip's error)
        ├── InstallDisabledError   --package-manager disabled (upstream's exact message)
        │   └── PluginInstallationDisabledError  --plugin-dir-only (upstream's exact message)
        ├── DependencyConflictError the plugins' requirements cannot be resolved together
        ├── PackageNotFoundError   the package index (or find-links folders) has no such package
        └── StaleLockError         pylock.toml no longer matches what it was resolved from

Message strings that upstream InfluxDB 3 tests assert live here as constants.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "FETCH_STATUS_MESSAGE",
    "INSTALL_DISABLED_MESSAGE",
    "NO_PLUGIN_DIR_MESSAGE",
    "PATH_TRAVERSAL_MESSAGE",
    "PLUGIN_INSTALLATION_DISABLED_MESSAGE",
    "DatabaseVersionError",
    "DependencyConflictError",
    "DependencyDeclarationError",
    "FetchError",
    "FleetFileError",
    "GitError",
    "HTTPStatusError",
    "InstallDisabledError",
    "InstallError",
    "IntegrityError",
    "InvalidReferenceError",
    "LockfileError",
    "MirrorError",
    "NetworkError",
    "NodeError",
    "OfflineError",
    "PackageNotFoundError",
    "PathTraversalError",
    "PluginInstallationDisabledError",
    "PluginManagerError",
    "PluginNotFoundError",
    "ResolveError",
    "ServerError",
    "StaleLockError",
    "StoreError",
    "TooLargeError",
]

#: upstream `PluginError::FetchingFromRepository` (engine-behavior.md §1.3)
FETCH_STATUS_MESSAGE: Final = "error fetching plugin from repository: {status} {url}"
#: upstream `PluginError::PathTraversal` (engine-behavior.md §2.2)
PATH_TRAVERSAL_MESSAGE: Final = (
    "Path traversal detected: plugin filename '{name}' attempts to access files outside the "
    "plugin directory"
)
#: upstream `PluginError::NoPluginDir`
NO_PLUGIN_DIR_MESSAGE: Final = "Node not configured with plugin directory"
#: upstream `DisabledPackageManager` (engine-behavior.md §3.4), answered with HTTP 403
INSTALL_DISABLED_MESSAGE: Final = (
    "Package installation has been disabled. Contact your administrator for more information."
)
#: upstream `PluginError::PluginInstallationDisabled` (``--plugin-dir-only``), answered with 403
PLUGIN_INSTALLATION_DISABLED_MESSAGE: Final = (
    "plugin installation is disabled; plugins must already exist in the configured plugin directory"
)
#: upstream network failure context
NETWORK_MESSAGE: Final = "error getting plugin from repository"


class PluginManagerError(Exception):
    """Root of every error `pluginmgr` raises on purpose."""

    def __init__(self, message: str, *, ref: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class InvalidReferenceError(PluginManagerError):
    """A plugin reference does not parse or is unsafe."""


class PathTraversalError(InvalidReferenceError):
    """A local plugin path escapes the plugin directory."""


class PluginNotFoundError(PluginManagerError):
    """A local plugin file or directory does not exist."""


class ResolveError(PluginManagerError):
    """A valid reference cannot be turned into a concrete source."""


class FetchError(PluginManagerError):
    """Plugin bytes could not be fetched from their source."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        ref: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, ref=ref, hint=hint)
        self.url = url


class NetworkError(FetchError):
    """Connection, TLS, timeout or redirect failure talking to a repository."""


class HTTPStatusError(FetchError):
    """The repository answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        url: str,
        ref: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, url=url, ref=ref, hint=hint)
        self.status = status


class TooLargeError(FetchError):
    """The fetched file exceeds the configured size cap."""


class GitError(FetchError):
    """A git repository, revision or path could not be fetched."""


class IntegrityError(PluginManagerError):
    """Content does not hash to what the lock file or the store expects."""


class OfflineError(PluginManagerError):
    """Offline mode needs something the lock file or the store does not have."""


class ServerError(PluginManagerError):
    """The server could not be reached, or answered with an error.

    :param data: the ``"data"`` of the server's JSON error answer, if any.
    :param explanation: more lines, printed under the message.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        data: Any = None,
        explanation: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.data = data
        self.explanation = explanation


class MirrorError(PluginManagerError):
    """A mirror cannot be synced or verified (bad source, unreadable DEST, unsafe path)."""


class LockfileError(PluginManagerError):
    """The lock file cannot be read or was written by a newer pluginmgr."""


class StoreError(PluginManagerError):
    """The local store (cache directory) cannot be used."""


class DependencyDeclarationError(PluginManagerError):
    """A plugin's manifest.toml, PEP 723 block or requirements file is malformed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        ref: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, ref=ref, hint=hint)
        self.path = path


class InstallError(PluginManagerError):
    """Installing packages or building the plugin venv failed."""

    def __init__(
        self,
        message: str,
        *,
        command: list[str] | None = None,
        output: str = "",
        log_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command
        self.output = output
        self.log_path = log_path


class InstallDisabledError(InstallError):
    """Package installation is disabled by configuration."""


class PluginInstallationDisabledError(InstallDisabledError):
    """``--plugin-dir-only``: a plugin from elsewhere than the plugin dir, or an upload."""


class DatabaseVersionError(PluginManagerError):
    """A plugin declares InfluxDB versions (``database_version``) that exclude this node's."""


class DependencyConflictError(InstallError):
    """The union of the plugins' requirements has no solution; nothing was changed.

    ``culprits`` names the inputs whose removal alone resolves the set (``constraints.txt's
    x<4``, ``gh:a.py's libx<2 (manifest.toml)``), ``conflicts`` those and each declaration
    involved (``gh:a.py (manifest.toml) needs libx<2``); ``explanation`` is uv's whole
    derivation (`shown_lines` is the part a terminal shows).
    """

    #: the lines of ``explanation`` a terminal shows before pointing to the log file
    SHOWN_LINES: Final = 40

    def __init__(
        self,
        message: str,
        *,
        explanation: str = "",
        conflicts: tuple[str, ...] = (),
        culprits: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message,
            output=explanation,
            hint=hint
            or "change a plugin's declaration, add a constraint with `pluginmgr deps constrain`, "
            "or give the plugin's trigger its own environment (`create trigger --isolated`)",
        )
        self.explanation = explanation
        self.conflicts = conflicts
        self.culprits = culprits

    def shown_lines(self) -> list[str]:
        """The head of ``explanation``, then how many lines follow and where they are."""
        lines = self.explanation.splitlines()
        if len(lines) <= self.SHOWN_LINES or not self.log_path:
            return lines  # without a log file, nothing is left out
        rest = len(lines) - self.SHOWN_LINES
        return [*lines[: self.SHOWN_LINES], f"({rest} more lines; see {self.log_path})"]


class PackageNotFoundError(InstallError):
    """A requirement names a package that the package sources do not have (a typo, or a
    private package without its index); not a conflict, nothing was changed.

    ``packages`` are the missing names, ``where`` the sources searched (an index URL, PyPI,
    find-links folders).
    """

    def __init__(
        self,
        message: str,
        *,
        packages: tuple[str, ...] = (),
        where: str = "",
        output: str = "",
        log_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, output=output, log_path=log_path, hint=hint)
        self.packages = packages
        self.where = where


class StaleLockError(InstallError):
    """pylock.toml was resolved from other inputs than the node has now; it is not used."""

    def __init__(self, message: str, *, changes: tuple[str, ...] = (), hint: str | None = None):
        super().__init__(message, hint=hint or "run `pluginmgr deps lock` and commit pylock.toml")
        self.changes = changes


class FleetFileError(PluginManagerError):
    """A fleet file is malformed: the message names the file, the entry and what to fix."""


class NodeError(PluginManagerError):
    """A fleet node could not be reached, or answered a request with an error.

    :param node: the node's name in the fleet file.
    :param status: the HTTP status, None when the node was not reached.
    """

    def __init__(
        self, message: str, *, node: str, status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.node = node
        self.status = status
