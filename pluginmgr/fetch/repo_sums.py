"""A repository's own record of its files: ``SHA256SUMS`` and, in a mirror, ``mirror.json``.

A mirror (``pluginmgr mirror sync``) publishes both beside its files, and ``mirror verify``
names a file whose bytes differ from them as tampered. A fetch from such a repository checks
the same records (`RepoSums`), so a file ``mirror verify`` would name is never pinned, and a
file the records do not list (dropped in after the sync) is refused too. A repository without
either record (upstream's GitHub tree) is fetched as before. The records are read once per
repository and process, and only when something is downloaded: a start from the lock file
sends no request.

`local_sums` does the same for a folder of wheels (a mirror's ``wheels/`` given as
``--find-links``): the folder's own ``SHA256SUMS`` or its parent's, the mirror's.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import FetchError, IntegrityError
from .transports import FetchRequest, Transport

__all__ = [
    "MIRROR_JSON",
    "SHA256SUMS",
    "RepoSums",
    "Sums",
    "local_sums",
    "manifest_sums",
    "parse_sums",
    "strict_sums",
]

SHA256SUMS: Final = "SHA256SUMS"
MIRROR_JSON: Final = "mirror.json"
_SUM_LINE: Final = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_MAX_BYTES: Final = 64 * 1024 * 1024
_HINT: Final = "run `pluginmgr mirror verify` on it and re-sync it (`pluginmgr mirror sync`)"


def parse_sums(text: str) -> dict[str, str]:
    """``{path: sha256}`` from ``sha256sum`` output (text mode ``"  "`` or binary ``" *"``)."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        match = _SUM_LINE.fullmatch(line)
        if match:
            sums[match.group(2)] = match.group(1).lower()
    return sums


def strict_sums(text: str) -> dict[str, str] | None:
    """The sums when every non-blank line is one; None otherwise: a server answering 200 with
    a page for anything (a soft 404) must not look like a repository that lists no files."""
    sums = parse_sums(text)
    if not sums or len(sums) != sum(1 for line in text.splitlines() if line.strip()):
        return None
    return sums


def manifest_sums(text: str) -> dict[str, str] | None:
    """``{path: sha256}`` from a mirror's ``mirror.json``; None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    return {
        str(name): item["sha256"].lower()
        for name, item in files.items()
        if isinstance(item, dict) and isinstance(item.get("sha256"), str)
    }


@dataclass(frozen=True, slots=True)
class Sums:
    """What a repository's records say: ``{path: sha256}`` per record file that exists."""

    records: Mapping[str, Mapping[str, str]]
    owner: str = ""  #: the repository or folder that keeps them, as errors name it
    refused: str = "nothing was pinned"  #: what the refusal left undone

    def check(self, path: str, sha256: str, *, what: str) -> None:
        """Refuse ``sha256`` for ``path`` unless every record lists exactly it.

        :param what: how the error names the file (its URL or local path).
        :raises IntegrityError: the file differs from a record or no record lists it.
        """
        if not self.records:
            return
        listed = {name: sums[path] for name, sums in self.records.items() if path in sums}
        names = " and ".join(self.records)
        if not listed:
            message = (
                f"{what} is not listed in the {names} of {self.owner}, which list its files; "
                f"{self.refused}"
            )
            raise IntegrityError(message, hint=_HINT)
        for name, expected in listed.items():
            if expected != sha256:
                message = (
                    f"{what} does not match the {name} of {self.owner} (expected sha256 "
                    f"{expected[:16]}…, got {sha256[:16]}…): it was tampered with or damaged; "
                    f"{self.refused}"
                )
                raise IntegrityError(message, hint=_HINT)


_PARSERS: Final = {SHA256SUMS: strict_sums, MIRROR_JSON: manifest_sums}
#: what a missing record is answered with (S3 answers 403 for a key it does not have)
_ABSENT: Final = frozenset({403, 404, 410})


class RepoSums:
    """The records of each repository base a manager fetches from, read once (thread-safe)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._known: dict[str, Sums] = {}

    def of(self, base: str, *, token: str | None = None) -> Sums:
        """The records at ``base`` (a URL ending in ``/``); empty when it publishes none.

        :param token: sent as ``Authorization: Bearer``, as for the repository's files.
        """
        with self._lock:
            if base not in self._known:
                self._known[base] = self._read(base, token)
            return self._known[base]

    def check(
        self, base: str, path: str, sha256: str, *, what: str, token: str | None = None
    ) -> None:
        """`Sums.check` against the records at ``base`` (read at the first call)."""
        self.of(base, token=token).check(path, sha256, what=what)

    def _read(self, base: str, token: str | None) -> Sums:
        records: dict[str, Mapping[str, str]] = {}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for name, parse in _PARSERS.items():
            url = base + name
            response = self._transport.handle(
                FetchRequest(url=url, max_bytes=_MAX_BYTES, headers=headers)
            )
            if response.status in _ABSENT:
                continue  # a repository that keeps no such record
            if not response.ok:  # a record that exists but cannot be read checks nothing
                message = (
                    f"cannot read {url} to check what it lists: {response.status_message(url)}"
                )
                raise FetchError(message, url=url, hint="retry, or check the repository")
            parsed = parse(response.body.decode("utf-8", errors="replace"))
            if parsed is not None:
                records[name] = parsed
        return Sums(records, owner=base)


def local_sums(folder: Path) -> tuple[Sums, str]:
    """The records that list the files of ``folder``: its own ``SHA256SUMS``, else its parent's
    (a mirror's, listing ``wheels/NAME``) and the parent's ``mirror.json``.

    :returns: the records and the prefix their paths give the folder's files (``""`` or
        ``"wheels/"``); empty records when neither place has one.
    """
    for root, prefix in ((folder, ""), (folder.parent, folder.name + "/")):
        records: dict[str, Mapping[str, str]] = {}
        for name, parse in _PARSERS.items():
            try:
                text = (root / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            parsed = parse(text)
            if parsed is not None and (
                not prefix or any(path.startswith(prefix) for path in parsed)
            ):
                records[name] = parsed
        if records:
            return Sums(records, owner=str(root), refused="nothing was installed"), prefix
    return Sums({}), ""
