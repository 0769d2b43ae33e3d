"""Several pipelines per repository, through the runner's steps against real git repositories
and a real database (SQLite and PostgreSQL): one build per matching pipeline, the ``paths``
filter on real changesets, ``depends_on`` waiting, release and SKIPPED propagation, cycles,
and what a fork's pull request gets when it has several pipelines."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import select, update

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.runner.pipelines import release_stranded
from ocelot.services.builds import kill_build
from ocelot.services.trust import approve
from ocelot.status import BuildStatus
from tests.functional.runner_support import Runner, ocelot_yml, stage


def pipeline_yml(*stages: dict[str, Any], **top: Any) -> str:
    """A pipeline file like :func:`ocelot_yml`; ``depends_on`` / ``paths`` go in ``top``."""
    return ocelot_yml(*(stages or (stage("build", "echo building"),)), **top)


BASE_IMAGE = pipeline_yml(
    stage("image", "echo building the base image"),
    paths=["Dockerfile.base", "requirements*.txt"],
)


def run_to_end(runner: Runner, build_id: int) -> str | None:
    """prepare → every stage → finish of a routed build (what the worker's chain does)."""
    attempt, positions = runner.prepare(build_id)
    for position in positions:
        runner.stage(build_id, attempt, position)
    return runner.finish(build_id, attempt)


def play(runner: Runner, first: int, *, hold: tuple[str, ...] = ()) -> list[int]:
    """Play the worker for an event: route ``first``, then whatever the steps wake (route for
    the event's other builds, prepare for released dependents), running every routed build
    to its end except those of the pipelines in ``hold`` (left QUEUED, routed). Returns the
    builds in the order they finished."""
    todo: list[tuple[int, str | None]] = [(first, None)]
    ran: list[int] = []
    while todo:
        build_id, queue = todo.pop(0)
        if queue is None:
            queue = runner.route(build_id)
        if queue is not None and runner.build(build_id)["pipeline"] not in hold:
            run_to_end(runner, build_id)
            ran.append(build_id)
        todo.extend(runner.ctx.take_wakeups())
    return ran


def event_builds(runner: Runner, first: int) -> dict[str, dict[str, Any]]:
    """``{pipeline: build}`` of the event of build ``first``."""
    with session_scope(runner.engine) as session:
        rows = session.scalars(select(Build).where(Build.event_id == first).order_by(Build.id))
        return {b.pipeline: b.to_dict(with_stages=False) for b in rows.unique()}


def push_changeset(before: str, after: str) -> dict[str, Any]:
    """What a forge gives for a push it sent only part of: route completes it from git."""
    return {"messages": [], "files": [], "before": before, "after": after, "incomplete": True}


def app_repo(runner: Runner, app: str | None = None, **extra: str) -> str:
    files = {
        ".ocelot/base-image.yml": BASE_IMAGE,
        "Dockerfile.base": "FROM ocelot/busybox\n",
        "requirements.txt": "flask\n",
        "src/app.py": "print('v1')\n",
        **extra,
    }
    return runner.repo(app or ocelot_yml(stage("test", "echo testing")), files=files)


# -- one build per matching pipeline, paths on real changesets ---------------------------------


def test_an_event_makes_one_build_per_matching_pipeline_with_the_same_commit(
    runner: Runner,
) -> None:
    docs = pipeline_yml(branches=["docs/.*"])
    first_sha = app_repo(runner, **{".ocelot/docs.yml": docs})
    sha = runner.repo(
        ocelot_yml(stage("test", "echo testing")),
        files={"requirements.txt": "flask\nrequests\n"},
        message="bump requirements",
    )
    first = runner.queue(
        trigger="push", triggered_by="alice", changeset=push_changeset(first_sha, sha)
    )
    assert runner.build(first)["pipeline"] == "default"
    play(runner, first)
    builds = event_builds(runner, first)
    assert set(builds) == {"default", "base-image"}  # docs: branch master not in docs/.*
    for build in builds.values():
        assert build["status"] == BuildStatus.PASSED, build
        assert (build["hash"], build["trigger"], build["triggered_by"], build["event_id"]) == (
            sha,
            "push",
            "alice",
            first,
        )
    assert "building the base image" in runner.log(builds["base-image"]["id"])


def test_paths_decides_on_the_real_changeset_and_globstar_works(runner: Runner) -> None:
    docs = pipeline_yml(paths=["docs/**/*.md"])
    base = app_repo(runner, **{".ocelot/docs.yml": docs})
    app_only = runner.repo(
        ocelot_yml(stage("test", "echo testing")),
        files={"src/app.py": "print('v2')\n"},
        message="app only",
    )
    first = runner.queue(trigger="push", changeset=push_changeset(base, app_only))
    play(runner, first)
    assert set(event_builds(runner, first)) == {"default"}
    assert runner.build(first)["status"] == BuildStatus.PASSED

    nested = runner.repo(
        ocelot_yml(stage("test", "echo testing")),
        files={"docs/guide/deep/intro.md": "# hi\n", "requirements-dev.txt": "pytest\n"},
        message="docs and dev requirements",
    )
    second = runner.queue(trigger="push", changeset=push_changeset(app_only, nested))
    play(runner, second)
    assert set(event_builds(runner, second)) == {"default", "base-image", "docs"}


def test_a_default_pipeline_with_paths_is_skipped_with_the_reason(runner: Runner) -> None:
    app = ocelot_yml(stage("test", "echo testing"), paths=["src/**"])
    base = app_repo(runner, app)
    change = runner.repo(app, files={"requirements.txt": "django\n"}, message="reqs")
    first = runner.queue(trigger="push", changeset=push_changeset(base, change))
    play(runner, first)
    builds = event_builds(runner, first)
    assert builds["default"]["status"] == BuildStatus.SKIPPED
    assert builds["default"]["failure_reason"] == (
        "no changed file matches paths: src/** (1 file changed)"
    )
    assert builds["base-image"]["status"] == BuildStatus.PASSED


def test_an_unknown_changeset_builds_every_pipeline_with_paths(runner: Runner) -> None:
    """A CLI build names a commit, not a change: the paths filter cannot tell, so it builds.
    A force push over history git does not have is as unknown."""
    app_repo(runner)
    first = runner.queue()  # ocelot build acme/app --branch master
    play(runner, first)
    assert set(event_builds(runner, first)) == {"default", "base-image"}

    sha = runner.repo(ocelot_yml(stage("test", "echo t")), files={"src/app.py": "v3"})
    lost = "0123456789abcdef0123456789abcdef01234567"  # a before git never saw
    forced = runner.queue(trigger="push", changeset=push_changeset(lost, sha))
    play(runner, forced)
    assert set(event_builds(runner, forced)) == {"default", "base-image"}
    assert runner.build(forced)["hash"] == sha


def test_skip_ci_skips_the_event_and_makes_no_other_builds(runner: Runner) -> None:
    app_repo(runner)
    first = runner.queue(
        trigger="push", changeset={"messages": ["wip [skip ci]"], "files": ["requirements.txt"]}
    )
    play(runner, first)
    assert set(event_builds(runner, first)) == {"default"}
    assert runner.build(first)["status"] == BuildStatus.SKIPPED


def test_a_commit_without_ocelot_yml_builds_its_other_pipelines(runner: Runner) -> None:
    sha = runner.repo(None, files={".ocelot/lint.yml": pipeline_yml()})
    first = runner.queue()
    play(runner, first)
    builds = event_builds(runner, first)
    assert builds["default"]["status"] == BuildStatus.SKIPPED
    assert builds["default"]["failure_reason"] == (
        f"there is no ocelot.yml at {sha[:7]} (its pipelines: lint)"
    )
    assert builds["lint"]["status"] == BuildStatus.PASSED


def test_a_named_pipeline_builds_alone_and_a_missing_one_fails_prestart(runner: Runner) -> None:
    sha = app_repo(runner)
    alone = runner.queue(pipeline="base-image")
    assert runner.build(alone)["event_id"] == alone  # an event of its own: nothing is added
    play(runner, alone)
    assert set(event_builds(runner, alone)) == {"base-image"}
    assert runner.build(alone)["status"] == BuildStatus.PASSED
    assert "building the base image" in runner.log(alone)

    missing = runner.queue(pipeline="nope")
    play(runner, missing)
    build = runner.build(missing)
    assert build["status"] == BuildStatus.FAILED_PRESTART
    assert build["failure_reason"] == f"there is no .ocelot/nope.yml at {sha[:7]}"


def test_an_invalid_pipeline_file_fails_its_own_build_with_its_file_name(runner: Runner) -> None:
    app_repo(runner, **{".ocelot/broken.yml": "image: x\nstages: []\n"})
    first = runner.queue()
    play(runner, first)
    builds = event_builds(runner, first)
    assert builds["default"]["status"] == BuildStatus.PASSED
    broken = builds["broken"]
    assert broken["status"] == BuildStatus.FAILED_PRESTART
    assert broken["failure_reason"].startswith(".ocelot/broken.yml is invalid:\n")
    assert (
        ".ocelot/broken.yml:2: stages: there must be at least one stage listed"
        in (broken["failure_reason"])
    )


# -- depends_on -----------------------------------------------------------------------------


def test_a_dependent_waits_for_its_upstream_and_runs_after_it_passed(runner: Runner) -> None:
    app = ocelot_yml(stage("test", "echo testing in the new image"), depends_on=["base-image"])
    app_repo(runner, app)
    first = runner.queue()
    assert runner.route(first) is None  # waits: not sent to a worker
    upstream = event_builds(runner, first)["base-image"]["id"]
    waiting = runner.build(first)
    assert waiting["status"] == BuildStatus.QUEUED
    assert waiting["pending_reason"] == f"waiting for pipeline base-image (build #{upstream})"
    assert waiting["waiting_for"] == upstream
    assert runner.ctx.take_wakeups() == [(upstream, None)]

    assert runner.route(upstream) == "builds"
    assert run_to_end(runner, upstream) == BuildStatus.PASSED
    assert runner.ctx.take_wakeups() == [(first, "builds")]  # released: straight to prepare
    released = runner.build(first)
    assert released["pending_reason"] == "waiting for a free worker (queue builds)"
    assert released["waiting_for"] is None
    assert run_to_end(runner, first) == BuildStatus.PASSED
    assert runner.row(first, "started_at") >= runner.row(upstream, "finished_at")


def test_an_upstream_failure_skips_the_chain_with_reasons(runner: Runner) -> None:
    failing = pipeline_yml(stage("image", "echo nope", "exit 3"))
    app = ocelot_yml(stage("test", "echo t"), depends_on=["base-image"])
    deploy = pipeline_yml(depends_on=["default"])
    app_repo(runner, app, **{".ocelot/base-image.yml": failing, ".ocelot/deploy.yml": deploy})
    first = runner.queue()
    ran = play(runner, first)
    builds = event_builds(runner, first)
    base, deploy_build = builds["base-image"], builds["deploy"]
    assert ran == [base["id"]]
    assert base["status"] == BuildStatus.FAILED
    assert (builds["default"]["status"], builds["default"]["failure_reason"]) == (
        BuildStatus.SKIPPED,
        f"not run: pipeline 'base-image' (build #{base['id']}) ended FAILED",
    )
    assert (deploy_build["status"], deploy_build["failure_reason"]) == (
        BuildStatus.SKIPPED,
        f"not run: pipeline 'default' (build #{first}) ended SKIPPED",
    )
    assert (first, BuildStatus.SKIPPED) in runner.finished


def test_killing_a_queued_upstream_skips_its_waiting_dependents_at_once(runner: Runner) -> None:
    app = ocelot_yml(stage("test", "echo t"), depends_on=["base-image"])
    app_repo(runner, app)
    first = runner.queue()
    play(runner, first, hold=("base-image",))
    upstream = event_builds(runner, first)["base-image"]["id"]
    assert runner.build(first)["waiting_for"] == upstream
    with session_scope(runner.engine) as session:  # what `ocelot kill` does, in the web
        kill_build(session, upstream, "alice")
    build = runner.build(first)
    assert build["status"] == BuildStatus.SKIPPED
    assert (
        build["failure_reason"]
        == f"not run: pipeline 'base-image' (build #{upstream}) ended KILLED"
    )


def test_a_dependent_whose_upstream_is_not_in_the_event_runs_at_once(runner: Runner) -> None:
    """base-image did not match the change (paths): the app runs without waiting."""
    app = ocelot_yml(stage("test", "echo t"), depends_on=["base-image"])
    base = app_repo(runner, app)
    change = runner.repo(app, files={"src/app.py": "v2"}, message="app")
    first = runner.queue(trigger="push", changeset=push_changeset(base, change))
    assert runner.route(first) == "builds"
    assert set(event_builds(runner, first)) == {"default"}


def test_the_reconciler_releases_a_dependent_whose_upstream_ended_without_telling_it(
    runner: Runner,
) -> None:
    app = ocelot_yml(stage("test", "echo t"), depends_on=["base-image"])
    app_repo(runner, app)
    first = runner.queue()
    play(runner, first, hold=("base-image",))
    upstream = event_builds(runner, first)["base-image"]["id"]
    # The upstream passed, but its finish never got to release the dependent (a worker that
    # died between the two commits): the build waits for a build that has ended.
    with session_scope(runner.engine) as session:
        session.execute(update(Build).where(Build.id == upstream).values(status=BuildStatus.PASSED))
    assert release_stranded(runner.ctx) == [first]
    assert runner.ctx.take_wakeups() == [(first, "builds")]
    assert run_to_end(runner, first) == BuildStatus.PASSED
    assert release_stranded(runner.ctx) == []


def test_a_dependency_cycle_fails_its_builds_with_the_path(runner: Runner) -> None:
    app_repo(
        runner,
        ocelot_yml(stage("t", "echo t"), depends_on=["b"]),
        **{
            ".ocelot/a.yml": pipeline_yml(depends_on=["b"]),
            ".ocelot/b.yml": pipeline_yml(depends_on=["a"]),
        },
    )
    first = runner.queue()
    play(runner, first)
    builds = event_builds(runner, first)
    for name in ("a", "b"):
        assert builds[name]["status"] == BuildStatus.FAILED_PRESTART
        assert builds[name]["failure_reason"] == "dependency cycle: a → b → a"
    assert (builds["a"]["id"], BuildStatus.FAILED_PRESTART) in runner.finished
    # the default pipeline is not on the cycle: its upstream b failed, so it is skipped
    assert builds["default"]["status"] == BuildStatus.SKIPPED
    assert builds["base-image"]["status"] == BuildStatus.PASSED


# -- trust ------------------------------------------------------------------------------------


def test_a_forks_pull_request_adds_its_pipelines_only_once_approved_and_untrusted(
    runner: Runner,
) -> None:
    """The fork adds .ocelot/evil.yml (on a tagged host, with a notify block of its own):
    nothing is made before a person approves the pull request's build, then every pipeline
    is as untrusted as it: no host, and notices follow the destination branch's files."""
    base_notify = {"email": {"to": ["team@acme.example"], "on": ["PASS"]}}
    app_repo(runner, **{".ocelot/base-image.yml": pipeline_yml(notify=base_notify)})
    evil_notify = {"email": {"to": ["a@evil.example"], "on": ["PASS"]}}
    evil = yaml.safe_dump(
        {"machineTag": "mac", "buildTool": "sh", "branches": ["ALL"], "notify": evil_notify,
         "stages": [{"name": "x", "script": ["cat ~/.ssh/id_rsa"]}]}
    )  # fmt: skip
    fork_sha = runner.repo(
        ocelot_yml(stage("test", "echo t")),
        branch="fork-head",
        files={
            ".ocelot/evil.yml": evil,
            ".ocelot/base-image.yml": pipeline_yml(notify=evil_notify),
        },
    )
    first = runner.queue(
        branch="master",
        hash=fork_sha,
        trigger="pull_request",
        pr_id="7",
        trusted=False,
        trust_reason="pull request #7 comes from evil/app, not acme/app",
        hold=True,
    )
    assert runner.route(first) is None  # held: route does nothing
    assert set(event_builds(runner, first)) == set()  # nothing made before approval
    with session_scope(runner.engine) as session:
        approve(session, first, "bob")
    play(runner, first)
    builds = event_builds(runner, first)
    assert set(builds) == {"default", "base-image", "evil"}
    for build in builds.values():
        assert build["trusted"] is False and build["approved_by"] == "bob"
        assert build["trust_reason"] == "pull request #7 comes from evil/app, not acme/app"
    evil_build = builds["evil"]
    assert evil_build["status"] == BuildStatus.FAILED_PRESTART
    assert evil_build["failure_reason"].startswith(
        "machineTag 'mac' refused: this build is untrusted"
    )
    with session_scope(runner.engine) as session:
        rows = {
            b.pipeline: b
            for b in session.scalars(select(Build).where(Build.event_id == first)).unique()
        }
        from ocelot.services.notifications import notify_config

        assert notify_config(rows["base-image"])["email"]["to"] == ["team@acme.example"]
        assert notify_config(rows["evil"]) == {}  # not on the destination branch: nobody
