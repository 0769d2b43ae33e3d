"""The one git runner (``ocelot.gitops``): git's own reason in errors, credentials masked,
failures that are answers (``try_git``), branch heads that never turn a failure into "no
branches", and the CLI running git without importing server code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ocelot import gitops
from ocelot.errors import SourceError
from ocelot.secrets.redaction import MASK

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]


def make_repo(path: Path) -> str:
    subprocess.run([*GIT, "init", "-q", str(path)], check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "x"], cwd=path, check=True)
    subprocess.run([*GIT, "branch", "feature"], cwd=path, check=True)
    return gitops.run_git(["rev-parse", "HEAD"], cwd=path).strip()


def test_a_failure_carries_gits_reason_and_no_credential(tmp_path: Path) -> None:
    token = "tok-s3cr3t-1234"
    missing = tmp_path / f"gone-{token}"
    with pytest.raises(SourceError) as info:
        gitops.run_git(
            ["clone", "--quiet", f"file://user:{token}@/{missing}", str(tmp_path / "dest")],
            env={"OCELOT_GIT_TOKEN": token},
        )
    message = info.value.message
    assert message.startswith("git clone failed: fatal:"), message
    assert token not in message and MASK in message


def test_an_option_before_the_command_is_not_its_name(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^git checkout failed: fatal: not a git repository"):
        gitops.run_git(["-c", "advice.detachedHead=false", "checkout", "main"], cwd=tmp_path)


def test_try_git_answers_none_when_git_says_no(tmp_path: Path) -> None:
    head = make_repo(tmp_path / "r")
    assert gitops.try_git(["rev-parse", "--verify", "-q", "nope^{commit}"], tmp_path / "r") is None
    assert gitops.try_git(["rev-parse", "HEAD"], tmp_path / "r") == head + "\n"
    assert gitops.try_git(["status"], tmp_path / "no-such-dir") is None


def test_branch_heads_of_a_repository(tmp_path: Path) -> None:
    head = make_repo(tmp_path / "r")
    assert gitops.branch_heads(tmp_path / "r") == {"main": head, "feature": head}


def test_branch_heads_of_something_that_is_no_repository_is_an_error(tmp_path: Path) -> None:
    """Before: an empty answer, and a poll of a broken mirror looked like "no branches"."""
    (tmp_path / "broken.git").mkdir()
    with pytest.raises(SourceError) as info:
        gitops.branch_heads(tmp_path / "broken.git")
    assert info.value.message.startswith("git for-each-ref failed: fatal: not a git repository")


def test_without_git_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceError, match="git is not installed on this host"):
        gitops.run_git(["--version"])
    assert gitops.try_git(["--version"]) is None


def test_the_cli_runs_git_without_importing_server_code() -> None:
    """The CLI runs on users' machines: no SQLAlchemy, Flask, Celery or Redis client."""
    code = (
        "import sys, ocelot.cli.main, ocelot.cli.gitinfo, ocelot.gitops, ocelot.credtypes;"
        "print(sorted({m.split('.')[0] for m in sys.modules} &"
        " {'sqlalchemy', 'flask', 'celery', 'redis', 'hvac', 'psycopg'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_url_with_user_info_is_masked_whatever_git_prints() -> None:
    said = "fatal: unable to access 'https://ci:p4ss-w0rd@git.example/acme/app.git/': 403"
    assert gitops._clean(said, None) == (
        f"fatal: unable to access 'https://{MASK}@git.example/acme/app.git/': 403"
    )


def _commit(path: Path, message: str, files: dict[str, str] | None = None) -> str:
    for name, text in (files or {}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run([*GIT, "add", "-A"], cwd=path, check=True)
    cmd = [*GIT, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m", message]
    subprocess.run(cmd, cwd=path, check=True)
    return gitops.run_git(["rev-parse", "HEAD"], cwd=path).strip()


def test_one_cat_file_answers_as_the_single_commands_do(tmp_path: Path) -> None:
    """route asks everything of one ``git cat-file --batch`` (gitops.Objects): the same
    answers as ``rev-parse``, ``show``, ``ls-tree --name-only`` and ``log --format=%s``."""
    repo = tmp_path / "r"
    make_repo(repo)
    files = {
        "ocelot.yml": "stages: []\n",
        ".ocelot/lint.yml": "x\n",
        ".ocelot/with space.yml": "y\n",
        ".ocelot/deeper/z.yml": "z\n",
    }
    messages = [
        "  first line\n second line\n\nbody",
        "\n\nafter blank lines\n",
        "tab\there   \ntrailing",
        "one",
    ]
    subprocess.run([*GIT, "tag", "v1"], cwd=repo, check=True)
    for message in messages:
        commit = _commit(repo, message, files)
        with gitops.Objects(repo) as objects:
            assert objects.subject(commit) == gitops.commit_subject(repo, commit)
            for want in ({"hash": commit[:7]}, {"branch": "main"}, {"tag": "v1"}):
                kw: dict[str, str | None] = {"hash": None, "branch": None, "tag": None, **want}
                assert objects.resolve(**kw) == gitops.resolve(repo, **kw)
            assert objects.list_dir(commit, ".ocelot") == gitops.list_dir(repo, commit, ".ocelot")
            for path in ("ocelot.yml", ".ocelot/with space.yml", "nope.yml", ".ocelot"):
                assert objects.read_file(commit, path) == (
                    None if path == ".ocelot" else gitops.read_file(repo, commit, path)
                )
            assert objects.list_dir(commit, "nope") == gitops.list_dir(repo, commit, "nope") == []
            for missing in ({"branch": "nope"}, {"hash": "0" * 40}, {"tag": "v9"}):
                kw = {"hash": None, "branch": None, "tag": None, **missing}
                with pytest.raises(SourceError, match="does not exist in the repository"):
                    objects.resolve(**kw)


def test_a_mirror_follows_deleted_branches_and_a_moved_repository(tmp_path: Path) -> None:
    """The fetch names the URL (no ``remote set-url`` first) and still prunes every ref."""
    origin = tmp_path / "origin"
    head = make_repo(origin)
    mirror = gitops.sync_mirror(tmp_path / "mirrors", "1", str(origin))
    assert gitops.branch_heads(mirror) == {"main": head, "feature": head}
    subprocess.run([*GIT, "branch", "-D", "-q", "feature"], cwd=origin, check=True)
    moved = tmp_path / "moved"
    origin.rename(moved)
    newer = _commit(moved, "newer")
    assert gitops.sync_mirror(tmp_path / "mirrors", "1", str(moved)) == mirror
    assert gitops.branch_heads(mirror) == {"main": newer}
    assert not (mirror / "FETCH_HEAD").exists()


def test_a_shared_checkout_is_a_usable_checkout_that_borrows_the_mirrors_objects(
    tmp_path: Path,
) -> None:
    origin = tmp_path / "origin"
    make_repo(origin)
    commit = _commit(origin, "with a file", {"a/b.txt": "b\n"})
    mirror = gitops.sync_mirror(tmp_path / "mirrors", "1", str(origin))
    dest = gitops.shared_checkout(mirror, commit, tmp_path / "ws")
    assert (dest / "a" / "b.txt").read_text() == "b\n"
    assert gitops.run_git(["rev-parse", "HEAD"], cwd=dest).strip() == commit
    assert gitops.run_git(["status", "--porcelain"], cwd=dest) == ""
    assert gitops.run_git(["remote", "get-url", "origin"], cwd=dest).strip() == str(mirror)
    assert list((dest / ".git" / "objects").glob("??")) == []  # nothing copied
