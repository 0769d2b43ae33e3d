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

Few processes per build (each git process costs 2-10 ms): ``route`` fetches once and asks
everything else of one ``git cat-file --batch`` (:class:`Objects`); the local executor's
workspace borrows the mirror's objects (:func:`shared_checkout`: one ``git checkout``).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

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
            run_git([*_FETCH, url, "+refs/*:refs/*"], cwd=path, env=env)
            if _needs_gc(path):
                run_git(["gc", "--auto", "--quiet"], cwd=path)
        else:
            run_git(["clone", "--mirror", "--quiet", url, str(path)], env=env)
    return path


# One process, not three: the URL is given on the command line (no ``remote set-url`` first;
# ``--prune`` with an explicit refspec prunes what it covers, i.e. every ref), no FETCH_HEAD
# (nothing reads it) and no ``git maintenance run --auto`` child per fetch (_needs_gc).
_FETCH = (
    "fetch",
    "--quiet",
    "--prune",
    "--no-write-fetch-head",
    "--no-show-forced-updates",
    "--no-auto-maintenance",
)
_GC_SAMPLE = 27  # git's own estimate: gc.auto (6700) loose objects / 256, in objects/17


def _needs_gc(mirror: Path) -> bool:
    """git's ``gc --auto`` test, without a process: many loose objects (estimated from one
    fan-out directory, as git does) or many packs. ``gc --auto`` then decides for itself."""
    objects = mirror / "objects"
    try:
        loose = sum(1 for _ in (objects / "17").iterdir()) if (objects / "17").is_dir() else 0
        packs = sum(1 for p in (objects / "pack").glob("*.pack"))
    except OSError:
        return False
    return loose > _GC_SAMPLE or packs > 50


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
    ref, missing = _ref_to_resolve(hash, branch, tag)
    out = try_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=mirror) or ""
    if not out.strip():
        raise missing
    return out.strip()


def _ref_to_resolve(
    hash: str | None, branch: str | None, tag: str | None
) -> tuple[str, SourceError]:
    """The ref :func:`resolve` looks up, and the error to raise when it is not there."""
    if hash:
        ref = hash
    elif tag:
        ref = f"refs/tags/{tag}"
    elif branch:
        ref = f"refs/heads/{branch}"
    else:
        raise SourceError("nothing to resolve: no hash, branch or tag")
    what = f"commit {hash}" if hash else f"tag {tag}" if tag else f"branch {branch}"
    return ref, SourceError(f"{what} does not exist in the repository")


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


def shared_checkout(mirror: Path, commit: str, dest: Path) -> Path:
    """Check ``commit`` out into ``dest`` (a fresh directory), detached, with one git process:
    ``dest/.git`` borrows the mirror's objects (``objects/info/alternates``, as ``clone
    --shared`` does) instead of copying or linking them, and registers nothing in the mirror,
    so concurrent checkouts of one repository are independent and removing ``dest`` is all
    the clean-up there is. ``git log``, ``rev-parse HEAD``, ``status`` work in it; ``origin``
    is the mirror. Objects a stage creates go to ``dest``, never to the mirror. For a
    workspace on this host only: a copy elsewhere (a container) needs :func:`checkout`."""
    git_dir = dest / ".git"
    for sub in ("objects/info", "refs"):  # what git needs to see a repository (and HEAD)
        (git_dir / sub).mkdir(parents=True, exist_ok=True)
    (git_dir / "objects" / "info" / "alternates").write_text(f"{mirror.resolve()}/objects\n")
    (git_dir / "HEAD").write_text(f"{commit}\n")
    (git_dir / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
        f'[remote "origin"]\n\turl = {mirror.resolve()}\n'
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
    )
    run_git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", commit], cwd=dest)
    return dest


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


class Objects:
    """Answers about a repository's objects from one ``git cat-file --batch`` process:
    resolve a ref, read a file, list a directory, a commit's subject. Each question is one
    round trip on the pipe (cat-file flushes after each answer), so a later question can
    depend on an earlier answer. Use it as a context manager; a failure is a
    :class:`SourceError`."""

    def __init__(self, repo: Path, timeout: float = 60.0) -> None:
        self.repo, self.timeout = repo, timeout
        env = {**os.environ, **GIT_ENV}
        try:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=repo,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError) as exc:
            raise SourceError(f"git cat-file could not start in {repo}: {exc}") from None

    def __enter__(self) -> Objects:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def get(self, name: str) -> tuple[str, str, bytes] | None:
        """``(hash, type, content)`` of the object ``name`` names (any revision expression:
        ``<prefix>^{commit}``, ``<commit>:<path>``), or None when there is none (missing,
        ambiguous, or a name git cannot take on one line)."""
        if not name or "\n" in name or "\0" in name:
            return None
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(name.encode() + b"\n")
            stdin.flush()
            header = stdout.readline()
        except OSError as exc:
            raise SourceError(f"git cat-file failed in {self.repo}: {exc}") from None
        if not header:
            raise SourceError(f"git cat-file failed in {self.repo}: it ended unexpectedly")
        parts = header.split()
        if len(parts) != 3:  # "<name> missing" / "<name> ambiguous"
            return None
        size = int(parts[2])
        data = stdout.read(size + 1)[:size]  # the content, then a newline
        return parts[0].decode(), parts[1].decode(), data

    def resolve(self, *, hash: str | None, branch: str | None, tag: str | None) -> str:
        """The full commit hash to build, as :func:`resolve` answers it."""
        ref, missing = _ref_to_resolve(hash, branch, tag)
        found = None if ref.startswith("-") else self.get(f"{ref}^{{commit}}")
        if found is None or found[1] != "commit":
            raise missing
        return found[0]

    def read_file(self, commit: str, path: str) -> str | None:
        """The text of ``path`` at ``commit``; None when there is no such file."""
        found = self.get(f"{commit}:{path}")
        if found is None or found[1] != "blob":
            return None
        return _decode(found[2])

    def list_dir(self, commit: str, directory: str) -> list[str]:
        """``directory/<name>`` of each entry directly in ``directory`` at ``commit``, in
        git's order (as ``git ls-tree --name-only``); empty when it is not a directory."""
        found = self.get(f"{commit}:{directory}")
        if found is None or found[1] != "tree":
            return []
        names, data, at = [], found[2], 0
        while at < len(data):  # entries: "<mode> <name>\0" and 20 bytes of hash
            end = data.index(b"\0", at)
            names.append(f"{directory}/{_decode(data[at:end].split(b' ', 1)[1])}")
            at = end + 21
        return names

    def subject(self, commit: str) -> str:
        """The commit's subject (``git log -1 --format=%s``: its first paragraph on one
        line)."""
        found = self.get(f"{commit}^{{commit}}")
        if found is None:
            raise SourceError(f"commit {commit} does not exist in the repository")
        head, _, message = found[2].partition(b"\n\n")
        encoding = "utf-8"
        for line in head.split(b"\n"):
            if line.startswith(b"encoding "):
                encoding = line[9:].decode("ascii", errors="replace").strip() or encoding
        try:
            text = message.decode(encoding, errors="replace")
        except LookupError:
            text = _decode(message)
        lines = [line.rstrip() for line in text.split("\n")]
        while lines and not lines[0]:  # blank lines before the subject
            lines.pop(0)
        paragraph = lines[: lines.index("")] if "" in lines else lines
        return " ".join(paragraph).lstrip()  # as git's format_subject
