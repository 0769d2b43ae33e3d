"""ACCT/REPO, HEAD and branch from the git checkout (real git, in a temporary directory)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ocelot.cli.gitinfo import detect, expand_hash, parse_remote


@pytest.mark.parametrize(
    ("remote", "repo"),
    [
        ("git@github.com:acme/demo.git", "acme/demo"),
        ("git@github.com:acme/demo", "acme/demo"),
        ("github.com:acme/demo.git/", "acme/demo"),
        ("https://github.com/acme/demo.git", "acme/demo"),
        ("https://github.com/acme/demo", "acme/demo"),
        ("https://user:pw@gitlab.example.com/group/sub/demo.git", "sub/demo"),
        ("ssh://git@bitbucket.org:22/acme/demo.git", "acme/demo"),
        ("file:///srv/git/acme/demo.git", "acme/demo"),
        ("/srv/git/acme/demo", "acme/demo"),
        ("/tmp/demo/", "tmp/demo"),
        ("/srv/with:colon/acme/demo", "acme/demo"),
        ("demo", None),
        ("https://github.com/demo", None),
        ("", None),
    ],
)
def test_parse_remote(remote: str, repo: str | None) -> None:
    assert parse_remote(remote) == repo


def test_relative_local_paths_resolve_against_the_checkout() -> None:
    assert parse_remote("../upstream/demo", Path("/work/acme/clone")) == "upstream/demo"


def git(cwd: Path, *args: str) -> str:
    base = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]
    proc = subprocess.run([*base, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return proc.stdout.strip()


def test_detect_reads_origin_head_and_branch(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    empty = detect(tmp_path)
    assert empty is not None and (empty.repo, empty.head, empty.branch) == (None, None, "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    git(tmp_path, "remote", "add", "origin", "https://github.com/acme/demo.git")
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "sub").mkdir()
    checkout = detect(tmp_path / "sub")
    assert checkout is not None
    assert (checkout.repo, checkout.head, checkout.branch) == ("acme/demo", head, "main")
    assert expand_hash(head[:7], tmp_path) == head
    assert expand_hash("ffffffff", tmp_path) is None
    git(tmp_path, "checkout", "-q", "--detach")
    detached = detect(tmp_path)
    assert detached is not None and detached.branch is None and detached.head == head


def test_outside_a_checkout_there_is_nothing(tmp_path: Path) -> None:
    assert detect(tmp_path) is None
