"""An announcement sends only the report tasks that will have something to do: a forge
status for a commit on a forge with an API, a pull-request comment for a pull request's
build, notices for an ``ocelot.yml`` with a ``notify`` block (the trusted one for a pull
request from a fork). When the database cannot say, every task is sent, as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build, Repo
from ocelot.runner.context import Announcement
from ocelot.services import announcing
from ocelot.status import BuildStatus
from tests.functional.notify_support import yml
from worker.signals import announce

SLACK = 'slack:\n  channel: "#ci"\n  identifier: ocelot-base\n  on: [FAIL]'
# a valid file with no notify block
PLAIN = "image: ocelot/busybox\nbuildTool: shell\nbranches: [ALL]\nstages:\n  - name: s\n"
PLAIN += "    script: [echo hi]\n"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Sent:
    """A publisher that records what would go to the broker."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int]] = []

    def send_task(self, name: str, args: list[Any], **_: object) -> None:
        self.tasks.append((name, args[0]))


def add_build(engine: Engine, vcs_type: str, **fields: Any) -> int:
    with session_scope(engine) as session:
        repo = Repo(
            acct="acme",
            name=f"r{vcs_type}{len(fields)}{id(fields)}",
            full_name=f"acme/r{vcs_type}{id(fields)}",
            url="/srv/git/r",
            vcs_type=vcs_type,
        )
        values = {"hash": COMMIT, "config_text": PLAIN, "trusted": True} | fields
        build = Build(repo=repo, branch="master", status=BuildStatus.PASSED, trigger="push",
                      attempt=1, **values)  # fmt: skip
        session.add(build)
        session.flush()
        return build.id


def names(sent: Sent, build_id: int) -> list[str]:
    return [name for name, target in sent.tasks if target == build_id]


def test_each_announcement_sends_only_the_tasks_with_work(engine: Engine) -> None:
    plain_git = add_build(engine, "git", config_text=yml(SLACK))
    github_push = add_build(engine, "github")
    github_pr = add_build(engine, "github", pr_id="7", config_text=yml(SLACK))
    no_commit = add_build(engine, "gitlab", hash=None)  # failed before its commit was known
    # a fork's pull request: its own file's notify block is not obeyed, the base branch's is
    fork_pr = add_build(engine, "bitbucket", pr_id="8", trusted=False,
                        config_text=yml(SLACK), trusted_config_text=PLAIN)  # fmt: skip
    started = add_build(engine, "github", pr_id="9", config_text=yml(SLACK))

    sent = Sent()
    finished = [plain_git, github_push, github_pr, no_commit, fork_pr]
    announce(
        sent,  # type: ignore[arg-type]
        [Announcement(b, BuildStatus.PASSED) for b in finished]
        + [Announcement(started, BuildStatus.RUNNING)],
        engine,
    )
    assert names(sent, plain_git) == ["ocelot.notify.build"]  # no forge API: no report
    assert names(sent, github_push) == ["ocelot.forge.status"]  # no notify block, no PR
    assert names(sent, github_pr) == [
        "ocelot.notify.build", "ocelot.forge.status", "ocelot.forge.comment"
    ]  # fmt: skip
    assert names(sent, no_commit) == []
    assert names(sent, fork_pr) == ["ocelot.forge.status", "ocelot.forge.comment"]
    # a started build: its forge reports, never notices
    assert names(sent, started) == ["ocelot.forge.status", "ocelot.forge.comment"]


def test_a_build_that_is_gone_calls_for_nothing(engine: Engine) -> None:
    assert announcing.due(engine, [987654]) == {987654: announcing.Due(False, False, False)}


def test_without_an_answer_from_the_database_every_task_is_sent(tmp_path: Any) -> None:
    """The database away (here: a file that is not a database): the tasks decide."""
    broken = tmp_path / "not-a-database"
    broken.write_text("this is not SQLite")
    sent = Sent()
    announce(
        sent,  # type: ignore[arg-type]
        [Announcement(5, BuildStatus.FAILED)],
        create_engine(f"sqlite:///{broken}"),
    )
    assert names(sent, 5) == ["ocelot.notify.build", "ocelot.forge.status", "ocelot.forge.comment"]
