"""Upstream → downstream builds (issue 12): subscriptions over REST (roles, cycles refused with
their path, untracked repositories), and through the runner's steps against real git
repositories and a real database (SQLite and PostgreSQL): an A → B → C chain with its
trigger, ``triggered_by`` and ``OCELOT_UPSTREAM_*``, one downstream build per upstream event,
and the builds that trigger nothing (failed, fork pull request, other branch)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.services.builds import rebuild
from ocelot.services.subscriptions import downstream_of, subscribe, trigger_downstream
from ocelot.services.tokens import create_token
from ocelot.status import BuildStatus
from tests.functional.runner_support import Runner, ocelot_yml, stage

UPSTREAM_ENV = (
    "env OCELOT_TRIGGER OCELOT_TRIGGERED_BY OCELOT_UPSTREAM_REPO OCELOT_UPSTREAM_BUILD_ID "
    "OCELOT_UPSTREAM_HASH"
)


def bearer(engine: Engine, name: str, role: str) -> dict[str, str]:
    with session_scope(engine) as session:
        return {"Authorization": f"Bearer {create_token(session, name, role=role)}"}


def track(client: FlaskClient, auth: dict[str, str], *names: str) -> None:
    for name in names:
        resp = client.post("/api/v1/repos", headers=auth, json={"full_name": name, "url": "/x"})
        assert resp.status_code == 201, resp.get_json()


def post(client: FlaskClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/subscriptions", headers=auth, json=body)


# -- REST -------------------------------------------------------------------------------------


def test_subscribe_list_and_unsubscribe_over_rest(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    track(client, auth, "acme/app", "acme/lib", "acme/other")
    resp = post(client, auth, downstream="acme/app", upstream="acme/lib")
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert {k: created[k] for k in created if k not in ("id", "created_at")} == {
        "downstream": "acme/app",
        "downstream_branch": "master",
        "upstream": "acme/lib",
        "upstream_branch": "master",
        "created_by": "tester",
    }
    resp = post(
        client,
        auth,
        downstream="acme/other",
        upstream="acme/lib",
        upstream_branch="develop",
        downstream_branch="main",
    )
    assert resp.status_code == 201, resp.get_json()
    listed = client.get("/api/v1/subscriptions", headers=auth).get_json()["subscriptions"]
    assert [(s["downstream"], s["upstream_branch"], s["downstream_branch"]) for s in listed] == [
        ("acme/app", "master", "master"),
        ("acme/other", "develop", "main"),
    ]
    of_app = client.get("/api/v1/subscriptions?repo=acme/app", headers=auth).get_json()
    assert [s["id"] for s in of_app["subscriptions"]] == [created["id"]]
    of_lib = client.get("/api/v1/subscriptions?repo=acme/lib", headers=auth).get_json()
    assert len(of_lib["subscriptions"]) == 2  # either side
    picked = client.get(
        "/api/v1/subscriptions?upstream=acme/lib&upstream_branch=develop", headers=auth
    ).get_json()["subscriptions"]
    assert [s["downstream"] for s in picked] == ["acme/other"]

    again = post(client, auth, downstream="acme/app", upstream="acme/lib", upstream_branch="")
    assert again.status_code == 409
    assert again.get_json()["error"]["message"] == (
        f"acme/app already subscribes to acme/lib (branch master; subscription {created['id']})"
    )
    bad = post(client, auth, downstream="acme/app", upstream="acme/lib", upstream_branch="a b")
    assert (
        bad.status_code == 400
        and "branch must be a branch name" in bad.get_json()["error"]["message"]
    )
    assert post(client, auth, downstream="acme/app").status_code == 400

    assert client.delete(f"/api/v1/subscriptions/{created['id']}", headers=auth).status_code == 204
    gone = client.delete(f"/api/v1/subscriptions/{created['id']}", headers=auth)
    assert gone.status_code == 404
    assert gone.get_json()["error"]["message"] == f"there is no subscription {created['id']}"
    # untracking a repository takes its subscriptions with it
    assert client.delete("/api/v1/repos/acme/lib", headers=auth).status_code == 204
    assert client.get("/api/v1/subscriptions", headers=auth).get_json() == {"subscriptions": []}


def test_reading_needs_read_and_changing_needs_admin(
    client: FlaskClient, engine: Engine, auth: dict[str, str]
) -> None:
    track(client, auth, "acme/app", "acme/lib")
    sub = post(client, auth, downstream="acme/app", upstream="acme/lib").get_json()
    for role in ("read", "build"):
        token = bearer(engine, f"{role}-bot", role)
        resp = client.get("/api/v1/subscriptions", headers=token)
        assert resp.status_code == 200 and len(resp.get_json()["subscriptions"]) == 1
        for resp in (
            post(client, token, downstream="acme/lib", upstream="acme/app"),
            client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=token),
        ):
            assert resp.status_code == 403, (role, resp.get_json())
            error = resp.get_json()["error"]
            assert error["required_role"] == "admin" and error["role"] == role
    assert len(client.get("/api/v1/subscriptions", headers=auth).get_json()["subscriptions"]) == 1


def test_a_cycle_is_refused_with_the_path_that_closes_it(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    track(client, auth, "acme/app", "acme/lib", "acme/core")
    assert post(client, auth, downstream="acme/app", upstream="acme/lib").status_code == 201
    assert post(client, auth, downstream="acme/lib", upstream="acme/core").status_code == 201
    # core built after app would close core → lib → app → core, whatever the branches
    resp = post(client, auth, downstream="acme/core", upstream="acme/app", upstream_branch="x")
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "subscription_cycle"
    assert error["cycle"] == ["acme/app", "acme/core", "acme/lib", "acme/app"]
    assert error["message"] == (
        "acme/core cannot subscribe to acme/app: the builds would go round in a cycle: "
        "acme/app → acme/core → acme/lib → acme/app"
    )
    short = post(client, auth, downstream="acme/lib", upstream="acme/app")
    assert short.get_json()["error"]["cycle"] == ["acme/app", "acme/lib", "acme/app"]
    itself = post(client, auth, downstream="acme/app", upstream="acme/app")
    assert itself.status_code == 409
    assert itself.get_json()["error"]["cycle"] == ["acme/app", "acme/app"]
    assert len(client.get("/api/v1/subscriptions", headers=auth).get_json()["subscriptions"]) == 2


def test_an_untracked_repository_isnt_tracked_by_ocelot(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    track(client, auth, "acme/app")
    for body in (
        {"downstream": "acme/app", "upstream": "acme/ghost"},
        {"downstream": "acme/ghost", "upstream": "acme/app"},
    ):
        resp = post(client, auth, **body)
        assert resp.status_code == 404, resp.get_json()
        error = resp.get_json()["error"]
        assert error == {
            "code": "not_tracked",
            "message": "acme/ghost isn't tracked by ocelot",
            "repo": "acme/ghost",
        }
    resp = client.get("/api/v1/subscriptions?repo=acme/ghost", headers=auth)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_tracked"


# -- through the runner -----------------------------------------------------------------------


def play(runner: Runner, first: int) -> list[int]:
    """Play the worker from a queued build: route, prepare, stages and finish of it and of
    every build the steps wake (other pipelines, dependents, downstream builds), in order.
    Returns the builds that ran."""
    todo: list[tuple[int, str | None]] = [(first, None)]
    ran: list[int] = []
    while todo:
        build_id, queue = todo.pop(0)
        if queue is None:
            queue = runner.route(build_id)
        if queue is not None:
            attempt, positions = runner.prepare(build_id)
            for position in positions:
                runner.stage(build_id, attempt, position)
            runner.finish(build_id, attempt)
            ran.append(build_id)
        todo.extend(runner.ctx.take_wakeups())
    return ran


def builds_of(runner: Runner, repo_id_name: str) -> list[dict[str, Any]]:
    with session_scope(runner.engine) as session:
        rows = session.scalars(select(Build).order_by(Build.id)).unique()
        return [b.to_dict(with_stages=False) for b in rows if b.repo.full_name == repo_id_name]


def env_lines(runner: Runner, build_id: int) -> dict[str, str]:
    lines = [line for line in runner.log(build_id).splitlines() if "=" in line]
    return dict(line.split("=", 1) for line in lines if line.startswith("OCELOT_"))


def subscribed(runner: Runner, downstream: str, upstream: str, **branches: str) -> None:
    with session_scope(runner.engine) as session:
        subscribe(session, downstream, upstream, **branches)


def test_a_chain_a_b_c_builds_each_downstream_with_its_upstream(runner: Runner) -> None:
    yml = ocelot_yml(stage("show", UPSTREAM_ENV))
    lib_sha = runner.repo(yml, name="acme/lib")
    app_sha = runner.repo(yml, name="acme/app", branch="main")
    site_sha = runner.repo(yml, name="acme/site")
    subscribed(runner, "acme/app", "acme/lib", downstream_branch="main")
    subscribed(runner, "acme/site", "acme/app", upstream_branch="main")

    first = runner.queue("acme/lib")
    ran = play(runner, first)
    assert len(ran) == 3
    (lib,), (app,), (site,) = (builds_of(runner, n) for n in ("acme/lib", "acme/app", "acme/site"))
    assert [lib["id"], app["id"], site["id"]] == ran
    assert lib["status"] == app["status"] == site["status"] == BuildStatus.PASSED
    assert lib["upstream"] is None and env_lines(runner, lib["id"])["OCELOT_UPSTREAM_REPO"] == ""

    assert (app["trigger"], app["triggered_by"]) == ("upstream", f"acme/lib#{lib['id']}")
    assert (app["branch"], app["hash"]) == ("main", app_sha)  # the downstream's own head
    assert app["upstream"] == {"repo": "acme/lib", "build_id": lib["id"], "hash": lib_sha}
    assert env_lines(runner, app["id"]) == {
        "OCELOT_TRIGGER": "upstream",
        "OCELOT_TRIGGERED_BY": f"acme/lib#{lib['id']}",
        "OCELOT_UPSTREAM_REPO": "acme/lib",
        "OCELOT_UPSTREAM_BUILD_ID": str(lib["id"]),
        "OCELOT_UPSTREAM_HASH": lib_sha,
    }
    assert (site["trigger"], site["triggered_by"]) == ("upstream", f"acme/app#{app['id']}")
    assert (site["branch"], site["hash"]) == ("master", site_sha)
    assert env_lines(runner, site["id"])["OCELOT_UPSTREAM_HASH"] == app_sha
    assert env_lines(runner, site["id"])["OCELOT_UPSTREAM_BUILD_ID"] == str(app["id"])

    # a redelivered finish of the upstream queues nothing twice
    assert runner.finish(lib["id"], 1) == BuildStatus.PASSED
    assert runner.ctx.take_wakeups() == []
    assert len(builds_of(runner, "acme/app")) == 1
    with session_scope(runner.engine) as session:
        assert downstream_of(session, lib["id"]) == [
            {"id": app["id"], "repo": "acme/app", "pipeline": "default", "status": "PASSED"}
        ]

    # a rebuild of the downstream is still a build of what the upstream built
    with session_scope(runner.engine) as session:
        again = rebuild(session, app["id"], "someone").id
    ran = play(runner, again)  # and, passing, it builds its own downstream again
    assert ran[0] == again and len(ran) == 2
    assert builds_of(runner, "acme/site")[-1]["triggered_by"] == f"acme/app#{again}"
    assert env_lines(runner, again)["OCELOT_UPSTREAM_BUILD_ID"] == str(lib["id"])
    assert env_lines(runner, again)["OCELOT_UPSTREAM_HASH"] == lib_sha
    assert env_lines(runner, again)["OCELOT_TRIGGER"] == "rebuild"
    with session_scope(runner.engine) as session:  # it is not one the upstream triggered
        assert [d["id"] for d in downstream_of(session, lib["id"])] == [app["id"]]
        lib_build = session.get(Build, lib["id"])
        assert lib_build is not None and trigger_downstream(session, lib_build) == []


def test_one_downstream_build_per_upstream_event_when_all_its_pipelines_passed(
    runner: Runner,
) -> None:
    """The upstream has two pipelines: the downstream is built once, after the last of them
    passed, and the downstream's own pipelines all see the upstream."""
    yml = ocelot_yml(stage("show", UPSTREAM_ENV))
    runner.repo(yml, name="acme/lib", files={".ocelot/lint.yml": ocelot_yml(stage("l", "echo"))})
    runner.repo(yml, name="acme/app", files={".ocelot/extra.yml": yml})
    subscribed(runner, "acme/app", "acme/lib")
    play(runner, runner.queue("acme/lib"))
    lib = builds_of(runner, "acme/lib")
    assert [(b["pipeline"], b["status"]) for b in lib] == [
        ("default", BuildStatus.PASSED),
        ("lint", BuildStatus.PASSED),
    ]
    app = builds_of(runner, "acme/app")
    assert [(b["pipeline"], b["status"]) for b in app] == [
        ("default", BuildStatus.PASSED),
        ("extra", BuildStatus.PASSED),
    ]
    event = lib[0]["id"]
    for build in app:
        assert build["triggered_by"] == f"acme/lib#{event}"
        assert env_lines(runner, build["id"])["OCELOT_UPSTREAM_BUILD_ID"] == str(event)


def test_a_failed_upstream_triggers_nothing(runner: Runner) -> None:
    runner.repo(ocelot_yml(stage("test", "exit 1")), name="acme/lib")
    runner.repo(ocelot_yml(stage("show", UPSTREAM_ENV)), name="acme/app")
    subscribed(runner, "acme/app", "acme/lib")
    play(runner, runner.queue("acme/lib"))
    assert [b["status"] for b in builds_of(runner, "acme/lib")] == [BuildStatus.FAILED]
    assert builds_of(runner, "acme/app") == []


def test_a_failed_pipeline_of_the_upstream_event_triggers_nothing(runner: Runner) -> None:
    lint = ocelot_yml(stage("l", "exit 1"))
    runner.repo(
        ocelot_yml(stage("t", "echo ok")), name="acme/lib", files={".ocelot/lint.yml": lint}
    )
    runner.repo(ocelot_yml(stage("show", UPSTREAM_ENV)), name="acme/app")
    subscribed(runner, "acme/app", "acme/lib")
    play(runner, runner.queue("acme/lib"))
    statuses = {b["pipeline"]: b["status"] for b in builds_of(runner, "acme/lib")}
    assert statuses == {"default": BuildStatus.PASSED, "lint": BuildStatus.FAILED}
    assert builds_of(runner, "acme/app") == []


def test_pull_requests_and_other_branches_trigger_nothing(runner: Runner) -> None:
    """A fork's pull request builds and passes, so does a same-repository pull request and a
    push to another branch: the subscription names the branch master, none of them is it."""
    runner.repo(ocelot_yml(stage("test", "echo ok")), name="acme/lib")
    fork_sha = runner.repo(ocelot_yml(stage("test", "echo fork")), name="acme/lib", branch="pr")
    runner.repo(ocelot_yml(stage("test", "echo dev")), name="acme/lib", branch="develop")
    runner.repo(ocelot_yml(stage("show", UPSTREAM_ENV)), name="acme/app")
    subscribed(runner, "acme/app", "acme/lib")
    fork = runner.queue(
        "acme/lib",
        branch="master",
        hash=fork_sha,
        trigger="pull_request",
        pr_id="7",
        trusted=False,
        trust_reason="pull request #7 comes from evil/lib, not acme/lib",
    )
    inside = runner.queue(
        "acme/lib", branch="master", hash=fork_sha, trigger="pull_request", pr_id="8"
    )
    develop = runner.queue("acme/lib", branch="develop")
    for build_id in (fork, inside, develop):
        assert play(runner, build_id) == [build_id]
        assert runner.build(build_id)["status"] == BuildStatus.PASSED
    assert builds_of(runner, "acme/app") == []
    # and the branch itself does
    assert len(play(runner, runner.queue("acme/lib"))) == 2
    assert [b["trigger"] for b in builds_of(runner, "acme/app")] == ["upstream"]


def test_two_finishes_of_one_event_at_once_queue_the_downstream_once(runner: Runner) -> None:
    """Two workers end builds of the same upstream event at the same moment: both see the
    event passed and find no downstream build yet; the unique index on (repository,
    upstream build, pipeline) lets one insert, the other steps back. PostgreSQL only: SQLite
    has one writer at a time, so the second never gets that far."""
    if runner.engine.dialect.name != "postgresql":
        pytest.skip("needs two concurrent writers (PostgreSQL)")
    runner.repo(ocelot_yml(stage("t", "echo ok")), name="acme/lib")
    runner.repo(ocelot_yml(stage("show", UPSTREAM_ENV)), name="acme/app")
    subscribed(runner, "acme/app", "acme/lib")
    first = runner.queue("acme/lib")
    runner.route(first)
    attempt, positions = runner.prepare(first)
    for position in positions:
        runner.stage(first, attempt, position)
    runner.finish(first, attempt)
    runner.ctx.take_wakeups()
    with session_scope(runner.engine) as session:  # as if the trigger had not run yet
        session.execute(delete(Build).where(Build.repo.has(full_name="acme/app")))
    other = Session(runner.engine)
    try:
        with session_scope(runner.engine) as session:
            lib = session.get(Build, first)
            assert lib is not None
            mine = trigger_downstream(session, lib)
            assert len(mine) == 1  # inserted, not yet committed

            def second() -> None:
                build = other.get(Build, first)
                assert build is not None
                results.append(trigger_downstream(other, build))
                other.commit()

            results: list[list[int]] = []
            worker = runner.in_thread(second)
            time.sleep(0.5)  # the second waits on the index for the first's commit
            assert worker.is_alive()
        worker.join_ok(30)
    finally:
        other.close()
    assert results == [[]]
    assert [b["id"] for b in builds_of(runner, "acme/app")] == mine
