"""Real git repositories for tests, built with the git CLI."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PKG_INIT = b"from .util import VALUE\n"
PKG_UTIL = b"VALUE = 1\n"


def git_cli(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@dataclass(frozen=True)
class Origin:
    path: Path
    url: str
    c1: str
    c2: str

    def commit(self, message: str, files: dict[str, bytes], *, branch: str | None = None) -> str:
        """Commit `files` on `branch` (new, from main) or on main; main stays checked out."""
        if branch is not None:
            git_cli(self.path, "checkout", "-q", "-b", branch, "main")
        write(self.path, files)
        git_cli(self.path, "add", "-A")
        git_cli(self.path, "commit", "-q", "-m", message)
        sha = git_cli(self.path, "rev-parse", "HEAD")
        git_cli(self.path, "checkout", "-q", "main")
        return sha


def make_origin(path: Path) -> Origin:
    """Commit 1: hello.py v1 + plugins/pkg; annotated tag v1.0; commit 2: hello.py v2."""
    path.mkdir()
    git_cli(path, "init", "-q", "-b", "main")
    files = {
        "plugins/hello.py": b"v1\n",
        "plugins/pkg/__init__.py": PKG_INIT,
        "plugins/pkg/util.py": PKG_UTIL,
    }
    write(path, files)
    git_cli(path, "add", "-A")
    git_cli(path, "commit", "-q", "-m", "one")
    c1 = git_cli(path, "rev-parse", "HEAD")
    git_cli(path, "tag", "-a", "v1.0", "-m", "release 1.0")
    write(path, {"plugins/hello.py": b"v2\n"})
    git_cli(path, "commit", "-q", "-am", "two")
    c2 = git_cli(path, "rev-parse", "HEAD")
    return Origin(path=path, url=path.as_uri(), c1=c1, c2=c2)
