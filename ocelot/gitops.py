"""Git plumbing for the pipeline: a bare mirror per repository, ref resolution, file reads at
a commit, and checkouts of an exact commit into a workspace.

Mirrors live under ``$OCELOT_HOME/mirrors/<repo id>.git`` and are updated under a file lock,
so several worker processes on one host share them safely.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ocelot.errors import SourceError

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true", "LC_ALL": "C"}


def _git(
    args: Sequence[str],
    cwd: Path | None = None,
    check: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> str:
    env = {**os.environ, **GIT_ENV, **(extra_env or {})}
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
    except FileNotFoundError:
        raise SourceError("git is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than 10 minutes") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise SourceError(f"git {args[0]} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sync_mirror(mirrors: Path, key: str, url: str, env: Mapping[str, str] | None = None) -> Path:
    """Create or update the bare mirror of ``url``; return its path. ``env`` carries clone
    credentials (``GIT_SSH_COMMAND``, ``GIT_ASKPASS``), never the URL."""
    path = mirrors / f"{key}.git"
    with _locked(path):
        if (path / "HEAD").exists():
            _git(["remote", "set-url", "origin", url], cwd=path)
            fetch = ["fetch", "--prune", "--tags", "origin", "+refs/*:refs/*"]
            _git(fetch, cwd=path, extra_env=env)
        else:
            _git(["clone", "--mirror", "--quiet", url, str(path)], extra_env=env)
    return path


def has_commit(mirror: Path, commit: str) -> bool:
    out = _git(["cat-file", "-t", commit], cwd=mirror, check=False)
    return out.strip() == "commit"


def mirror_with(
    mirrors: Path, key: str, url: str, commit: str, env: Mapping[str, str] | None = None
) -> Path:
    """The mirror, fetched only if it does not hold ``commit`` yet (route fetched it moments
    ago when route and prepare run on the same host)."""
    path = mirrors / f"{key}.git"
    if (path / "HEAD").exists() and has_commit(path, commit):
        return path
    return sync_mirror(mirrors, key, url, env)


def resolve(mirror: Path, *, hash: str | None, branch: str | None, tag: str | None) -> str:
    """The full commit hash to build: ``hash`` (a prefix is fine), else the tag, else the
    head of ``branch``."""
    if hash:
        ref = hash
    elif tag:
        ref = f"refs/tags/{tag}"
    elif branch:
        ref = f"refs/heads/{branch}"
    else:
        raise SourceError("nothing to resolve: no hash, branch or tag")
    out = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=mirror, check=False)
    if not out.strip():
        what = f"commit {hash}" if hash else f"tag {tag}" if tag else f"branch {branch}"
        raise SourceError(f"{what} does not exist in the repository")
    return out.strip()


def read_file(mirror: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit``, or None when the file is not there."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=mirror, env=env, capture_output=True, timeout=60
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def commit_subject(mirror: Path, commit: str) -> str:
    return _git(["log", "-1", "--format=%s", commit], cwd=mirror).strip()


def checkout(mirror: Path, commit: str, dest: Path) -> Path:
    """Check ``commit`` out into ``dest`` (a fresh directory), detached."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _git(["clone", "--quiet", "--no-checkout", "--local", str(mirror), str(dest)])
    _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", commit], cwd=dest)
    return dest
