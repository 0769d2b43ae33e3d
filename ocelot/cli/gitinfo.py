"""What the git checkout we run in says: ``ACCT/REPO`` from ``origin``, HEAD, current branch.

Used where a command's ``ACCT/REPO`` or ``--hash`` is left out. ``origin`` may be any form
git accepts; the repository name is the last two path components of it:

* ``git@github.com:acme/demo.git`` (scp-like) → ``acme/demo``
* ``https://host/acme/demo(.git)``, ``ssh://git@host:22/acme/demo.git`` → ``acme/demo``
* ``/srv/git/acme/demo`` or ``file:///srv/git/acme/demo.git`` (local paths) → ``acme/demo``

Nothing here raises: outside a checkout, without git, or without ``origin`` the answers are
``None`` and the command asks the user to name the repository.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from ocelot.gitops import try_git  # light: runs git, imports no server code

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.*)$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class Checkout:
    """A git working tree: its root, ``ACCT/REPO`` of origin, HEAD hash and branch."""

    root: Path
    repo: str | None
    head: str | None  # None in a repository without commits
    branch: str | None  # None on a detached HEAD


def _last_two(path: str) -> str | None:
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if len(parts) < 2:
        return None
    acct, name = parts[-2], parts[-1]
    name = name.removesuffix(".git")
    if not name or acct == "..":
        return None
    return f"{acct}/{name}"


def parse_remote(remote: str, base: Path | None = None) -> str | None:
    """``ACCT/REPO`` for a remote URL or path; relative paths resolve against ``base``."""
    remote = remote.strip().rstrip("/")
    if not remote:
        return None
    if _URL.match(remote):
        return _last_two(unquote(urlsplit(remote).path))
    scp = _SCP_LIKE.match(remote)
    # "host:path" is scp-like only when no slash comes before the colon (git's own rule).
    if scp and "/" not in remote.split(":", 1)[0]:
        return _last_two(scp.group("path"))
    path = PurePosixPath(remote)
    if not path.is_absolute() and base is not None:
        path = PurePosixPath(os.path.normpath(base / path))
    return _last_two(str(path))


def _ask_git(args: list[str], cwd: Path) -> str | None:
    """git's trimmed answer in ``cwd``, or None (no checkout, no git, no such thing)."""
    return (try_git(args, cwd=cwd, timeout=10) or "").strip() or None


def detect(cwd: Path | None = None) -> Checkout | None:
    """The checkout containing ``cwd`` (default: the current directory), or None."""
    cwd = Path.cwd() if cwd is None else cwd
    root = _ask_git(["rev-parse", "--show-toplevel"], cwd)
    if root is None:
        return None
    remote = _ask_git(["remote", "get-url", "origin"], cwd)
    return Checkout(
        root=Path(root),
        repo=parse_remote(remote, Path(root)) if remote else None,
        head=_ask_git(["rev-parse", "--verify", "-q", "HEAD^{commit}"], cwd),
        branch=_ask_git(["symbolic-ref", "--short", "-q", "HEAD"], cwd),
    )


def expand_hash(prefix: str, cwd: Path | None = None) -> str | None:
    """The full hash of a commit prefix in the checkout at ``cwd``, or None if unknown."""
    return _ask_git(["rev-parse", "--verify", "-q", f"{prefix}^{{commit}}"], cwd or Path.cwd())
