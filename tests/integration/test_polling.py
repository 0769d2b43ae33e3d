"""Polling a real local git repository: a new commit is built exactly once, with the
changeset since the last polled hash; ``[skip ci]`` is honoured; ALL finds new branches;
and the real worker runs a poll sent through the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.services import polls
from tests.stack import Stack, git, make_repo
from tests.waiting import eventually
from worker.app import make_celery

YML = """machineTag: polltag
buildTool: sh
branches: [ALL]
stages:
  - name: hello
    script:
      - echo polled $GIT_HASH
"""


def set_poll(stack: Stack, repo: str, branches: str) -> int:
    resp = stack.client.put(
        f"/api/v1/repos/{repo}/poll",
        headers=stack.auth,
        json={"cron": "* * * * *", "branches": branches},
    )
    assert resp.status_code == 200, resp.get_json()
    return int(resp.get_json()["id"])


def test_a_new_commit_is_built_exactly_once(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "repo"
    make_repo(path, {"ocelot.yml": YML})
    repo = stack.add_repo(path)
    poll_id = set_poll(stack, repo, "master")

    assert polls.run_poll(stack.engine, stack.settings, poll_id) == []  # baseline, no build
    first = make_repo(path, {"src/a.txt": "a"}, message="add a")
    second = make_repo(path, {"src/b.txt": "b"}, message="add b")

    [build_id] = polls.run_poll(stack.engine, stack.settings, poll_id)
    assert polls.run_poll(stack.engine, stack.settings, poll_id) == []  # nothing new: no build
    with session_scope(stack.engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        assert (build.hash, build.branch, build.trigger) == (second, "master", "poll")
        assert build.triggered_by == "poller"
        assert build.changeset is not None
        assert build.changeset["messages"] == ["add a", "add b"]
        assert sorted(build.changeset["files"]) == ["src/a.txt", "src/b.txt"]
    assert first != second

    make_repo(path, {"src/c.txt": "c"}, message="tidy [skip ci]")
    assert polls.run_poll(stack.engine, stack.settings, poll_id) == []
    resp = stack.client.get("/api/v1/polls", headers=stack.auth)
    [listed] = [p for p in resp.get_json()["polls"] if p["repo"] == repo]
    assert listed["last_hashes"]["master"] == git("rev-parse", "HEAD", cwd=path)


def test_all_branches_discovers_a_new_branch(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "repo"
    make_repo(path, {"ocelot.yml": YML})
    repo = stack.add_repo(path)
    poll_id = set_poll(stack, repo, "ALL")
    assert polls.run_poll(stack.engine, stack.settings, poll_id) == []
    sha = make_repo(path, {"feature.txt": "x"}, branch="feature/x", message="feature")
    [build_id] = polls.run_poll(stack.engine, stack.settings, poll_id)
    assert stack.get(build_id)["branch"] == "feature/x"
    assert stack.get(build_id)["hash"] == sha


def test_the_worker_runs_a_poll_and_builds_the_commit(stack: Stack, tmp_path: Path) -> None:
    stack.start_worker("poller-1", executor="local", tags=("polltag",))
    path = tmp_path / "repo"
    make_repo(path, {"ocelot.yml": YML})
    repo = stack.add_repo(path)
    poll_id = set_poll(stack, repo, "master")
    polls.run_poll(stack.engine, stack.settings, poll_id)
    sha = make_repo(path, {"x.txt": "x"}, message="new work")
    make_celery(stack.settings).send_task("ocelot.polls.run", args=[poll_id], queue="control")

    def listed() -> list[dict[str, Any]]:
        resp = stack.client.get(f"/api/v1/repos/{repo}/builds", headers=stack.auth)
        return resp.get_json()["builds"]  # type: ignore[no-any-return]

    [build] = eventually(listed, 60, "a build from the poll", interval=0.2)
    assert (build["hash"], build["trigger"]) == (sha, "poll")
    done = stack.wait(build["id"])
    assert done["status"] == "PASSED", done
    assert f"polled {sha}" in stack.logs(build["id"])
