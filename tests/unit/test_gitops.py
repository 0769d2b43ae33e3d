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
