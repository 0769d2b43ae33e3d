"""The one place Ocelot runs git: :func:`run_git` / :func:`try_git`, and on top of them a
bare mirror per repository, ref resolution, file reads at a commit, branch heads, and
checkouts of an exact commit into a workspace.

Every git command of the server, the workers and the CLI goes through :func:`run_git`
(failure is an error) or :func:`try_git` (failure is an answer: "no such commit"). Both run
git without a terminal prompt (``GIT_TERMINAL_PROMPT=0``, a ``GIT_ASKPASS`` that answers
nothing unless a caller's environment brings one), in the C locale, with a timeout.
A failure is a :class:`~ocelot.errors.SourceError` carrying git's own words (its
``fatal:``/``error:`` lines) with every credential masked: a URL's user info, and the values
of the secret variables (``*TOKEN*``, ``*PASSWORD*``, ``*SECRET*``) of the environment the
caller handed in.

This module imports nothing heavy (no SQLAlchemy): the CLI uses it on users' machines.

Mirrors live under ``$OCELOT_HOME/mirrors/<repo id>.git`` and are updated under a file lock,
so several worker processes on one host share them safely.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ocelot.errors import SourceError
from ocelot.secrets.redaction import MASK, scrub

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true", "LC_ALL": "C"}
TIMEOUT = 600.0  # seconds: a clone of a big repository over a slow link
_SECRET_NAMES = ("TOKEN", "PASSWORD", "SECRET")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_REPORTED = ("fatal:", "error:", "ERROR:", "remote: ")


def _verb(args: Sequence[str]) -> str:
    """The git command of ``args`` (``checkout`` in ``-c k=v checkout ...``)."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] == "-c" else rest[1:]
    return rest[0] if rest else "git"


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _run(
    args: Sequence[str],
    cwd: Path | None,
    env: Mapping[str, str] | None,
    timeout: float,
) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=full_env, capture_output=True, timeout=timeout
        )
    except FileNotFoundError:
        if cwd is not None and not Path(cwd).is_dir():
            raise SourceError(f"git {_verb(args)}: directory {cwd} does not exist") from None
        raise SourceError("git is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {_verb(args)} took longer than {timeout:g} seconds") from None
    except OSError as exc:
        raise SourceError(f"git {_verb(args)} could not start: {exc.strerror}") from None


def _clean(text: str, env: Mapping[str, str] | None) -> str:
    """``text`` with a URL's user info and the secret values of ``env`` masked."""
    secrets = [v for k, v in (env or {}).items() if any(n in k.upper() for n in _SECRET_NAMES)]
    return scrub(_USERINFO.sub(rf"\g<scheme>{MASK}@", text), secrets)


def _why(proc: subprocess.CompletedProcess[bytes]) -> str:
    """What git said about its failure: its fatal/error lines, else its last line."""
    lines = [ln.strip() for ln in _decode(proc.stderr or proc.stdout).splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith(_REPORTED)] or lines[-1:]
    text = "; ".join(dict.fromkeys(said))
    return (text[:500] + "...") if len(text) > 500 else text or f"exit code {proc.returncode}"


def run_git(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """git's output (UTF-8, undecodable bytes replaced); a :class:`SourceError` naming the
    command and git's reason when git fails, cannot start or times out. ``env`` adds to the
    environment (clone credentials: ``GIT_SSH_COMMAND``, ``GIT_ASKPASS``); its secret values
    never reach the message."""
    proc = _run(args, cwd, env, timeout)
    if proc.returncode != 0:
        raise SourceError(_clean(f"git {_verb(args)} failed: {_why(proc)}", env))
    return _decode(proc.stdout)


def try_git(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> str | None:
    """git's output, or None when git fails or cannot run: for questions whose "no" is a
    failing command (``rev-parse --verify``, ``cat-file -e``, a checkout without origin)."""
    try:
        proc = _run(args, cwd, env, timeout)
    except SourceError:
        return None
    return _decode(proc.stdout) if proc.returncode == 0 else None


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
            run_git(["remote", "set-url", "origin", url], cwd=path)
            fetch = ["fetch", "--prune", "--tags", "origin", "+refs/*:refs/*"]
            run_git(fetch, cwd=path, env=env)
        else:
            run_git(["clone", "--mirror", "--quiet", url, str(path)], env=env)
    return path


def has_commit(mirror: Path, commit: str) -> bool:
    out = try_git(["cat-file", "-t", commit], cwd=mirror)
    return (out or "").strip() == "commit"


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
    out = try_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=mirror) or ""
    if not out.strip():
        what = f"commit {hash}" if hash else f"tag {tag}" if tag else f"branch {branch}"
        raise SourceError(f"{what} does not exist in the repository")
    return out.strip()


def read_file(mirror: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit``, or None when the file is not there."""
    return try_git(["show", f"{commit}:{path}"], cwd=mirror, timeout=60)


def list_dir(mirror: Path, commit: str, directory: str) -> list[str]:
    """Paths of the entries directly in ``directory`` at ``commit`` (``.ocelot/x.yml``, ...);
    empty when the directory is not there."""
    out = try_git(["ls-tree", "--name-only", commit, "--", f"{directory}/"], cwd=mirror, timeout=60)
    return [line for line in (out or "").splitlines() if line]


def commit_subject(mirror: Path, commit: str) -> str:
    return run_git(["log", "-1", "--format=%s", commit], cwd=mirror).strip()


def checkout(mirror: Path, commit: str, dest: Path) -> Path:
    """Check ``commit`` out into ``dest`` (a fresh directory), detached."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_git(["clone", "--quiet", "--no-checkout", "--local", str(mirror), str(dest)])
    run_git(["-c", "advice.detachedHead=false", "checkout", "--quiet", commit], cwd=dest)
    return dest


def branch_heads(mirror: Path) -> dict[str, str]:
    """``{branch: head hash}`` of every branch in ``mirror``. A git failure (a broken or
    missing mirror) is a :class:`SourceError`, never an empty answer: "no branches" must
    mean the repository has none."""
    out = run_git(
        ["for-each-ref", "--format=%(refname:lstrip=2) %(objectname)", "refs/heads"],
        cwd=mirror,
        timeout=120,
    )
    pairs = (line.rsplit(" ", 1) for line in out.splitlines() if " " in line)
    return {name: sha for name, sha in pairs}
