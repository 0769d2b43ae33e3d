"""The runner's steps with the real local executor (issue 14, point 4): the commit is checked
out of the mirror straight into the workspace, route fetches once and prepare not again, and
the steps commit less. Real git repositories, a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ocelot.executors import BuildKey
from ocelot.executors.local import LocalExecutor
from ocelot.runner import RunContext
from ocelot.runner.recovery import Abandoned, reap
from ocelot.status import BuildStatus
from tests.functional.runner_support import Runner

YML = """\
machineTag: mac
buildTool: shell
branches: [ALL]
stages:
  - name: git
    script:
      - git rev-parse HEAD
      - git log -1 --format=subject:%s
      - echo "dirty:$(git status --porcelain | wc -l)"
      - cat data.txt
"""


@pytest.fixture
def local(runner: Runner) -> LocalExecutor:
    """``runner`` with the local executor of a worker tagged ``mac``."""
    runner.settings = runner.settings.with_(worker_executor="local", worker_tags=("mac",))
    executor = LocalExecutor(runner.settings.workspaces, runner.settings.worker_name)
    runner.ctx = RunContext(
        settings=runner.settings, engine=runner.engine, redis=runner.redis, _executor=executor
    )
    return executor


def _leftovers(runner: Runner) -> list[str]:
    """What is left of builds on this host: workspaces, and worktrees registered in mirrors."""
    found = [p.name for p in runner.settings.workspaces.glob("*")]
    return found + [str(p) for p in runner.settings.mirrors.glob("*.git/worktrees")]


def test_a_local_build_runs_git_in_a_checkout_of_its_commit(
    runner: Runner, local: LocalExecutor
) -> None:
    commit = runner.repo(YML, files={"data.txt": "data\n"}, message="the change")
    build = runner.drive(runner.queue())
    log = runner.log(build["id"])
    assert build["status"] == "PASSED", log
    assert f"{commit}\nsubject:the change\ndirty:0\ndata\n" in log
    assert _leftovers(runner) == []


def test_concurrent_builds_of_one_repository_each_get_their_commit(
    runner: Runner, local: LocalExecutor
) -> None:
    """Two builds of one repository prepared one after the other, their stages run after
    both checkouts: each workspace holds its own commit."""
    first = runner.repo(YML, files={"data.txt": "one\n"})
    one = runner.queue(hash=first)
    second = runner.repo(YML, files={"data.txt": "two\n"})
    two = runner.queue(hash=second)
    attempts = {b: runner.start(b) for b in (one, two)}
    for build_id, attempt in attempts.items():
        runner.stage(build_id, attempt, 0)
        runner.finish(build_id, attempt)
    assert f"{first}\n" in runner.log(one) and "one\n" in runner.log(one)
    assert f"{second}\n" in runner.log(two) and "two\n" in runner.log(two)
    assert [runner.build(b)["status"] for b in (one, two)] == ["PASSED", "PASSED"]
    assert _leftovers(runner) == []


def test_a_build_of_a_commit_the_mirror_has_needs_no_fetch(
    runner: Runner, local: LocalExecutor
) -> None:
    """Once the mirror holds a commit, a build naming it in full neither fetches nor clones:
    it passes with the repository gone; a build of a branch must fetch, and cannot."""
    commit = runner.repo(YML, files={"data.txt": "x\n"})
    assert runner.drive(runner.queue())["status"] == "PASSED"
    shutil.rmtree(runner.root / "repos" / "acme" / "app")
    by_hash = runner.drive(runner.queue(hash=commit))
    assert by_hash["status"] == "PASSED", runner.log(by_hash["id"])
    by_branch = runner.drive(runner.queue())
    assert by_branch["status"] == "FAILED_PRESTART"
    assert "could not fetch the repository" in by_branch["failure_reason"]


def test_prepare_fetches_when_this_host_has_not_got_the_commit(
    runner: Runner, local: LocalExecutor
) -> None:
    """route ran on another host: the mirror here is missing (or older), so prepare fetches
    the commit before it checks it out."""
    commit = runner.repo(YML, files={"data.txt": "x\n"})
    build_id = runner.queue()
    assert runner.route(build_id) is not None
    shutil.rmtree(runner.settings.mirrors)
    attempt, _ = runner.prepare(build_id)
    runner.stage(build_id, attempt, 0)
    runner.finish(build_id, attempt)
    assert runner.build(build_id)["status"] == "PASSED"
    assert f"{commit}\n" in runner.log(build_id)


def test_a_lost_worker_s_workspace_is_removed_by_the_reaper(
    runner: Runner, local: LocalExecutor
) -> None:
    runner.repo(YML, files={"data.txt": "x\n"})
    build_id = runner.queue()
    attempt = runner.start(build_id)
    assert local.workspace(BuildKey(build_id, attempt)).is_dir()
    runner.expire_lease(build_id)
    assert reap(runner.ctx) == [Abandoned(build_id, attempt, "builds.mac")]
    assert runner.build(build_id)["status"] == BuildStatus.QUEUED
    assert _leftovers(runner) == []


class _Writes:
    """Counts committed transactions that wrote something (INSERT, UPDATE, DELETE)."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.count, self._dirty = engine, 0, set[int]()

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self._dirty.add(id(conn))

    def _commit(self, conn: Any) -> None:
        if id(conn) in self._dirty:
            self._dirty.discard(id(conn))
            self.count += 1

    def __enter__(self) -> _Writes:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


@pytest.fixture
def writes(engine: Engine) -> Iterator[_Writes]:
    with _Writes(engine) as counter:
        yield counter


def test_each_step_writes_in_as_few_commits_as_it_can(
    runner: Runner, local: LocalExecutor, writes: _Writes
) -> None:
    """route: 1 (the resolved build); prepare: 1 (claim, stage rows, deadline and workspace,
    was 3); a stage: 3 (RUNNING with the lease renewed, its log, its result; was 4 or 5). A
    status move is still committed before anything announces it."""
    runner.repo(YML, files={"data.txt": "x\n"})
    build_id = runner.queue()
    counts = []
    for step in ("route", "prepare", "stage"):
        before = writes.count
        if step == "route":
            assert runner.route(build_id) is not None
        elif step == "prepare":
            attempt, _ = runner.prepare(build_id)
        else:
            runner.stage(build_id, attempt, 0)
        counts.append(writes.count - before)
    runner.finish(build_id, attempt)
    assert runner.build(build_id)["status"] == "PASSED", runner.log(build_id)
    assert counts == [1, 1, 3]
