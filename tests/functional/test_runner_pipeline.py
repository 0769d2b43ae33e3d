"""route → prepare → stage → finish, called directly with the scripted executor: what a
build does, stage by stage, on SQLite and PostgreSQL (tests/functional/runner_support.py)."""

from __future__ import annotations

import pytest

from ocelot.executors import BuildKey
from ocelot.runner.prepare import BUSY, prepare
from ocelot.status import BuildStatus, StageStatus
from tests.functional.runner_support import Runner, ocelot_yml, stage


def test_a_build_goes_from_route_to_finish_and_passes(runner: Runner) -> None:
    text = ocelot_yml(
        stage("compile", "echo compiling", "env BUILD_ID GIT_BRANCH GREETING WORKSPACE"),
        stage("test", "echo all good", env=["GREETING=from-the-stage"]),
        env=["GREETING=hello"],
    )
    sha = runner.repo(text, files={"src/app.txt": "v1"})
    build_id = runner.queue()
    assert runner.route(build_id) == "builds"
    routed = runner.build(build_id)
    assert routed["status"] == BuildStatus.QUEUED and routed["hash"] == sha
    assert routed["pending_reason"] == "waiting for a free worker (queue builds)"
    assert runner.executor.calls == []  # route reads git, never the executor

    attempt, positions = runner.prepare(build_id)
    assert (attempt, positions) == (1, [0, 1])
    assert runner.started == [build_id]
    key = BuildKey(build_id, 1)
    [prepared] = runner.executor.calls_of("prepare")
    assert prepared.key == key and prepared.details["image"] == "ocelot/busybox"
    assert runner.executor.checkouts[key] == {"ocelot.yml": text, "src/app.txt": "v1"}
    running = runner.build(build_id)
    assert (running["status"], running["worker"], running["attempt"]) == ("RUNNING", "w1", 1)
    assert [s["status"] for s in running["stages"]] == [StageStatus.PENDING] * 2

    for position in positions:
        runner.stage(build_id, attempt, position)
    assert runner.finish(build_id, attempt) == BuildStatus.PASSED

    build = runner.build(build_id)
    assert build["status"] == BuildStatus.PASSED and build["failure_reason"] is None
    assert [(s["name"], s["status"], s["exit_code"]) for s in build["stages"]] == [
        ("compile", StageStatus.PASSED, 0),
        ("test", StageStatus.PASSED, 0),
    ]
    assert build["finished_at"] and build["duration_seconds"] is not None
    log = runner.log(build_id)
    assert "--- stage compile ---\ncompiling\n" in log
    assert f"BUILD_ID={build_id}\nGIT_BRANCH=master\nGREETING=hello\n" in log
    assert "WORKSPACE=/scripted/" in log
    assert runner.log(build_id, stage="test") == "--- stage test ---\nall good\n"
    runs = runner.executor.calls_of("run_stage")
    assert [c.stage for c in runs] == ["compile", "test"]
    assert runs[1].details["env"]["GREETING"] == "from-the-stage"  # the stage's env wins
    assert runs[0].details["workdir"] == f"/scripted/{key.slug}"
    assert [c.key for c in runner.executor.calls_of("destroy")] == [key]
    assert runner.executor.environments == set()
    assert runner.finished == [(build_id, BuildStatus.PASSED)]
    assert runner.row(build_id, "lease_until") is None


def test_a_build_of_an_older_hash_checks_that_commit_out(runner: Runner) -> None:
    first = runner.repo(ocelot_yml(stage("s", "echo one")), files={"version.txt": "1"})
    runner.repo(ocelot_yml(stage("s", "echo two")), files={"version.txt": "2"})
    build_id = runner.queue(hash=first)
    build = runner.drive(build_id)
    assert build["status"] == BuildStatus.PASSED and build["hash"] == first
    assert runner.executor.checkouts[BuildKey(build_id, 1)]["version.txt"] == "1"
    assert "one" in runner.log(build_id) and "two" not in runner.log(build_id)


@pytest.mark.parametrize(
    ("text", "branch", "changeset", "status", "reason"),
    [
        ("image: x\nstages: []\n", "master", None, "FAILED_PRESTART", "ocelot.yml is invalid:"),
        (None, "master", None, "FAILED_PRESTART", "there is no ocelot.yml at "),
        (
            ocelot_yml(stage("s", "echo hi"), branches=["master"]),
            "feature",
            None,
            "SKIPPED",
            "branch feature not in the acceptable branches list: master",
        ),
        (
            ocelot_yml(stage("s", "echo hi")),
            "master",
            {"messages": ["wip [skip ci]"], "files": ["a.txt"]},
            "SKIPPED",
            "[skip ci] in a commit message of the push",
        ),
    ],
    ids=["invalid", "missing", "branch-filter", "skip-ci"],
)
def test_route_ends_builds_that_must_not_run(
    runner: Runner,
    text: str | None,
    branch: str,
    changeset: dict[str, list[str]] | None,
    status: str,
    reason: str,
) -> None:
    runner.repo(text, branch=branch)
    build_id = runner.queue(branch=branch, changeset=changeset)
    build = runner.drive(build_id)
    assert build["status"] == status, build
    assert build["failure_reason"].startswith(reason), build["failure_reason"]
    assert build["finished_at"] is not None and build["stages"] == []
    assert runner.executor.calls == []  # nothing was claimed, nothing to clean up
    assert runner.finished == [(build_id, status)]


def test_a_machine_tag_routes_to_the_tagged_queue(runner: Runner) -> None:
    runner.repo(
        ocelot_yml(stage("s", "echo hi")).replace("image: ocelot/busybox", "machineTag: mac")
    )
    build_id = runner.queue()
    assert runner.route(build_id) == "builds.mac"
    assert runner.build(build_id)["pending_reason"] == (
        "waiting for a worker with tag 'mac' (queue builds.mac)"
    )


def test_a_failed_stage_skips_the_rest_and_fails_the_build(runner: Runner) -> None:
    build = runner.run(
        ocelot_yml(
            stage("one", "echo trying", "exit 2", "echo never"),
            stage("two", "echo two"),
            stage("three", "echo three"),
        )
    )
    assert build["status"] == BuildStatus.FAILED
    assert build["failure_reason"] == "stage 'one' failed: exit code 2"
    one, two, three = build["stages"]
    assert (one["status"], one["exit_code"], one["messages"]) == ("FAILED", 2, ["exit code 2"])
    for skipped in (two, three):
        assert skipped["status"] == StageStatus.SKIPPED
        assert skipped["messages"] == ["not run: stage 'one' failed"]
    assert [c.stage for c in runner.executor.calls_of("run_stage")] == ["one"]
    assert "never" not in runner.log(build["id"])
    assert runner.executor.environments == set()  # finish still cleaned up


def test_allow_failure_lets_the_build_go_on_and_pass(runner: Runner) -> None:
    build = runner.run(
        ocelot_yml(
            stage("lint", "echo style issues", "exit 3", allow_failure=True),
            stage("test", "echo tested"),
        )
    )
    assert build["status"] == BuildStatus.PASSED and build["failure_reason"] is None
    lint, test = build["stages"]
    assert lint["status"] == StageStatus.FAILED and lint["exit_code"] == 3
    assert lint["messages"] == ["exit code 3", "allowed to fail: the build goes on"]
    assert test["status"] == StageStatus.PASSED


def test_retry_runs_a_flaky_stage_again_until_it_passes(runner: Runner) -> None:
    build = runner.run(ocelot_yml(stage("flaky", "fail-first 2", "echo made it", retry=2)))
    assert build["status"] == BuildStatus.PASSED
    [flaky] = build["stages"]
    assert flaky["status"] == StageStatus.PASSED and flaky["messages"] == ["ran 3 times (retry: 2)"]
    log = runner.log(build["id"])
    for n in (1, 2, 3):
        assert f"--- stage flaky (try {n} of 3) ---" in log
    assert "failing on purpose (run 2)" in log and log.endswith("made it\n")
    assert len(runner.executor.calls_of("run_stage")) == 3


def test_retry_gives_up_after_the_last_try(runner: Runner) -> None:
    build = runner.run(ocelot_yml(stage("broken", "fail-first 9", retry=1), stage("after", "x")))
    assert build["status"] == BuildStatus.FAILED
    broken, after = build["stages"]
    assert broken["messages"] == ["ran 2 times (retry: 1)", "exit code 1"]
    assert after["status"] == StageStatus.SKIPPED
    assert len(runner.executor.calls_of("run_stage")) == 2


def test_triggers_skip_the_stages_whose_conditions_do_not_hold(runner: Runner) -> None:
    text = ocelot_yml(
        stage("always", "echo always"),
        stage("release", "echo releasing", triggers=["\\branch release/.*"]),
        stage("deploy", "echo deploying", triggers=["\\text deploy"]),
        stage("docs", "echo docs", triggers=["\\filepath docs/"]),
    )
    runner.repo(text)
    changeset = {"messages": ["please deploy"], "files": ["src/a.py"]}
    build = runner.drive(runner.queue(changeset=changeset, trigger="push"))
    assert build["status"] == BuildStatus.PASSED
    by_name = {s["name"]: s for s in build["stages"]}
    assert by_name["always"]["status"] == by_name["deploy"]["status"] == StageStatus.PASSED
    assert by_name["release"]["status"] == StageStatus.SKIPPED
    assert by_name["release"]["messages"] == ["skipped: no trigger matched (\\branch release/.*)"]
    assert by_name["docs"]["messages"] == ["skipped: no trigger matched (\\filepath docs/)"]
    assert [c.stage for c in runner.executor.calls_of("run_stage")] == ["always", "deploy"]

    # A CLI build knows no changeset: \text is false, and the skip says why.
    again = runner.drive(runner.queue())
    deploy = next(s for s in again["stages"] if s["name"] == "deploy")
    assert deploy["status"] == StageStatus.SKIPPED
    assert deploy["messages"] == [
        "skipped: no trigger matched (\\text deploy); the changeset is unknown, so \\text "
        "and \\filepath are false"
    ]


def test_a_prepare_failure_is_failed_prestart_and_cleans_up(runner: Runner) -> None:
    runner.repo(ocelot_yml(stage("s", "echo never")))
    runner.executor.fail_prepare = "image ocelot/nope not found on this worker's docker daemon"
    build_id = runner.queue()
    build = runner.drive(build_id)
    assert build["status"] == BuildStatus.FAILED_PRESTART
    assert build["failure_reason"] == "image ocelot/nope not found on this worker's docker daemon"
    assert [s["status"] for s in build["stages"]] == [StageStatus.SKIPPED]
    assert runner.executor.calls_of("run_stage") == []
    assert [c.key for c in runner.executor.calls_of("destroy")] == [BuildKey(build_id, 1)]
    assert runner.finished == [(build_id, BuildStatus.FAILED_PRESTART)]


def test_the_executor_losing_a_stage_fails_it_with_the_error(runner: Runner) -> None:
    build = runner.run(
        ocelot_yml(
            stage("lost", "echo hi", "lose the daemon went away", allow_failure=True),
            stage("crashed", "crash docker daemon unreachable"),
        )
    )
    lost, crashed = build["stages"]
    assert lost["status"] == StageStatus.FAILED
    assert lost["messages"][0] == "error: the daemon went away"
    assert crashed["status"] == StageStatus.FAILED and crashed["exit_code"] is None
    assert crashed["messages"] == ["error: ExecutorError: docker daemon unreachable"]
    assert build["failure_reason"] == (
        "stage 'crashed' failed: error: ExecutorError: docker daemon unreachable"
    )


def test_redelivered_messages_of_a_finished_build_change_nothing(runner: Runner) -> None:
    build = runner.run(ocelot_yml(stage("one", "echo once"), stage("two", "exit 1")))
    build_id = build["id"]
    calls = len(runner.executor.calls_of("run_stage"))
    assert prepare(runner.ctx, build_id) is None  # the claim finds no QUEUED row
    runner.stage(build_id, 1, 0)
    runner.stage(build_id, 1, 1)
    assert runner.finish(build_id, 1) == BuildStatus.FAILED
    assert runner.finish(build_id, 2) is None  # an attempt that never was
    assert len(runner.executor.calls_of("run_stage")) == calls
    assert runner.build(build_id) | {"stages": None} == build | {"stages": None}
    assert runner.build(build_id)["stages"] == build["stages"]
    assert runner.log(build_id).count("once") == 1


def test_a_worker_at_its_build_limit_leaves_the_next_build_queued(runner: Runner) -> None:
    runner.configure(max_builds=1)
    runner.repo(ocelot_yml(stage("s", "echo hi")))
    first, second = runner.queue(), runner.queue()
    attempt = runner.start(first)
    assert runner.route(second) == "builds"
    assert prepare(runner.ctx, second) == BUSY
    assert runner.build(second)["status"] == BuildStatus.QUEUED
    runner.stage(first, attempt, 0)
    runner.finish(first, attempt)
    assert runner.prepare(second)[0] == 1
