"""A poll of a repository git cannot read records and logs git's reason; it never looks like
a repository without branches (nothing is built, the heads stay as they were)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ocelot import gitops
from ocelot.db import session_scope
from ocelot.models import Build, Poll
from ocelot.services import polls
from ocelot.services.credentials import add_credential
from ocelot.services.repos import add_repo
from ocelot.settings import Settings

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]


def poll_of(engine: Engine, url: str) -> int:
    with session_scope(engine) as session:
        add_repo(session, "acme/app", url, "git")
        return polls.set_poll(session, "acme/app", "* * * * *", "ALL").id


def test_an_unreachable_repository_is_an_error_on_the_poll_not_no_branches(
    settings: Settings, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    poll_id = poll_of(engine, str(tmp_path / "nowhere"))
    with caplog.at_level(logging.WARNING, logger="ocelot.services.polls"):
        assert polls.run_poll(engine, settings, poll_id) == []
    with session_scope(engine) as session:
        poll = session.get(Poll, poll_id)
        assert poll is not None and poll.last_error
        assert poll.last_error.startswith("git clone failed: fatal:"), poll.last_error
        assert "nowhere" in poll.last_error
        assert poll.last_hashes == {}
    assert f"poll {poll_id}" in caplog.text and "git clone failed" in caplog.text


def test_a_broken_mirror_is_an_error_and_keeps_the_heads(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    subprocess.run([*GIT, "init", "-q", str(origin)], check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "x"], cwd=origin, check=True)
    poll_id = poll_of(engine, str(origin))
    assert polls.run_poll(engine, settings, poll_id) == []  # the baseline
    with session_scope(engine) as session:
        poll = session.get(Poll, poll_id)
        assert poll is not None and set(poll.last_hashes) == {"main"}
        baseline, repo_id = dict(poll.last_hashes), poll.repo_id
        poll.last_polled_at = None  # due again
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "y"], cwd=origin, check=True)
    mirror = settings.mirrors / f"{repo_id}.git"
    (mirror / "objects").rename(mirror / "objects.lost")  # git can no longer read it
    assert polls.run_poll(engine, settings, poll_id) == []
    with session_scope(engine) as session:
        poll = session.get(Poll, poll_id)
        assert poll is not None and poll.last_error and poll.last_error.startswith("git ")
        assert poll.last_hashes == baseline
        assert session.query(Build).count() == 0


def test_a_poll_fetches_with_the_accounts_clone_credentials(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private repository (discovery polls them) is fetched as builds fetch it: the forge
    token through GIT_ASKPASS, never in the URL; an error then names no token."""
    settings = settings.with_(secret_key="test-secret-key")
    with session_scope(engine) as session:
        add_repo(session, "acme/app", "https://127.0.0.1:9/acme/app.git", "github")
        add_credential(session, settings, "acme", "vcs", "github", {"token": "tok-poll-s3cr3t"})
        poll_id = polls.set_poll(session, "acme/app", "* * * * *", "ALL").id
    seen: dict[str, str] = {}
    sync = gitops.sync_mirror

    def fetch(mirrors: Path, key: str, url: str, env: dict[str, str] | None = None) -> Path:
        seen.update(env or {})
        return sync(mirrors, key, url, env)  # fails: nothing listens there

    monkeypatch.setattr(polls.gitops, "sync_mirror", fetch)
    assert polls.run_poll(engine, settings, poll_id) == []
    assert seen["OCELOT_GIT_TOKEN"] == "tok-poll-s3cr3t" and seen["GIT_ASKPASS"]
    with session_scope(engine) as session:
        poll = session.get(Poll, poll_id)
        assert poll is not None and poll.last_error
        assert poll.last_error.startswith("git clone failed") and "tok-poll" not in poll.last_error
