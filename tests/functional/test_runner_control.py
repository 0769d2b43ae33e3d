"""Stopping a build: kill (SIGTERM, then SIGKILL after the grace), stage timeouts, the build's
deadline (checked by the stage and, without a worker, by the reaper) — with the scripted
executor, whose stages honour ``should_stop`` and ``timeout`` like the real ones."""

from __future__ import annotations

import time
from datetime import timedelta

from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.runner.prepare import prepare
from ocelot.runner.recovery import reap
from ocelot.services.builds import kill_build
from ocelot.status import BuildStatus, StageStatus
from tests.functional.runner_support import Runner, ocelot_yml, stage
from tests.waiting import eventually


def kill(runner: Runner, build_id: int, by: str = "alice") -> None:
    with session_scope(runner.engine) as session:
        kill_build(session, build_id, by)


def test_kill_stops_the_running_stage_and_skips_the_rest(runner: Runner) -> None:
    runner.repo(ocelot_yml(stage("forever", "echo started", "sleep 30"), stage("after", "x")))
    build_id = runner.queue()
    attempt = runner.start(build_id)
    worker = runner.in_thread(runner.stage, build_id, attempt, 0)
    eventually(lambda: "started" in runner.log(build_id), 10, "the stage to start")
    assert runner.build(build_id)["stages"][0]["status"] == StageStatus.RUNNING
    killed_at = time.monotonic()
    kill(runner, build_id)
    worker.join_ok(10)
    assert time.monotonic() - killed_at < 3  # the stage looks for a kill once a second
    runner.stage(build_id, attempt, 1)
    assert runner.finish(build_id, attempt) == BuildStatus.KILLED

    build = runner.build(build_id)
    assert build["status"] == BuildStatus.KILLED
    assert build["failure_reason"] == "killed by alice"
    forever, after = build["stages"]
    assert (forever["status"], forever["exit_code"]) == (StageStatus.KILLED, 143)  # SIGTERM
    assert forever["messages"] == ["killed by alice"]
    assert after["status"] == StageStatus.SKIPPED
    assert after["messages"] == ["not run: build killed by alice"]
    assert [c.stage for c in runner.executor.calls_of("run_stage")] == ["forever"]
    assert runner.executor.environments == set()
    assert runner.finished == [(build_id, BuildStatus.KILLED)]


def test_a_stage_that_ignores_sigterm_gets_sigkill_after_the_grace(runner: Runner) -> None:
    runner.configure(kill_grace_seconds=0.6)
    runner.repo(ocelot_yml(stage("stubborn", "trap-term", "echo trapped", "sleep 30")))
    build_id = runner.queue()
    attempt = runner.start(build_id)
    worker = runner.in_thread(runner.stage, build_id, attempt, 0)
    eventually(lambda: "trapped" in runner.log(build_id), 10, "the stage to start")
    killed_at = time.monotonic()
    kill(runner, build_id, "bob")
    worker.join_ok(10)
    assert 0.6 <= time.monotonic() - killed_at < 4
    [run] = runner.executor.calls_of("run_stage")
    assert run.details["grace"] == 0.6
    [stubborn] = runner.stages(build_id, attempt)
    assert (stubborn["status"], stubborn["exit_code"]) == (StageStatus.KILLED, 137)  # SIGKILL
    assert runner.finish(build_id, attempt) == BuildStatus.KILLED


def test_a_killed_queued_build_never_starts(runner: Runner) -> None:
    runner.repo(ocelot_yml(stage("s", "echo never")))
    build_id = runner.queue()
    kill(runner, build_id)
    build = runner.drive(build_id)
    assert build["status"] == BuildStatus.KILLED
    assert build["failure_reason"] == "killed by alice before it started"
    assert prepare(runner.ctx, build_id) is None
    assert runner.executor.calls == []


def test_a_stage_past_its_timeout_fails_and_the_build_with_it(runner: Runner) -> None:
    build = runner.run(
        ocelot_yml(stage("slow", "echo slow", "sleep 30", timeout=1), stage("after", "echo x"))
    )
    assert build["status"] == BuildStatus.FAILED
    slow, after = build["stages"]
    assert (slow["status"], slow["exit_code"]) == (StageStatus.FAILED, 143)
    assert slow["messages"] == ["timeout: the stage ran longer than its limit"]
    assert (
        build["failure_reason"]
        == "stage 'slow' failed: timeout: the stage ran longer than its limit"
    )
    assert after["status"] == StageStatus.SKIPPED
    [run] = runner.executor.calls_of("run_stage")
    assert run.details["timeout"] == 1.0
    assert slow["duration_seconds"] < 5


def test_the_build_timeout_is_a_deadline_over_all_its_stages(runner: Runner) -> None:
    build = runner.run(
        ocelot_yml(stage("first", "sleep 1.2"), stage("second", "sleep 30"), timeout=2)
    )
    assert build["status"] == BuildStatus.FAILED
    first, second = build["stages"]
    assert first["status"] == StageStatus.PASSED
    assert second["status"] == StageStatus.FAILED
    assert second["messages"] == ["timeout: the build ran longer than its timeout"]
    assert build["failure_reason"] == (
        "stage 'second' failed: timeout: the build ran longer than its timeout"
    )
    assert build["duration_seconds"] < 6


def test_without_a_timeout_in_the_file_OCELOT_BUILD_TIMEOUT_sets_the_deadline(
    runner: Runner,
) -> None:
    runner.configure(build_timeout_seconds=90.0)
    runner.repo(ocelot_yml(stage("s", "echo hi")))
    build_id = runner.queue()
    runner.start(build_id)
    started, deadline = runner.row(build_id, "started_at", "deadline_at")
    assert abs((deadline - started).total_seconds() - 90) < 5


def test_the_reaper_fails_a_build_past_its_deadline_even_without_a_worker(
    runner: Runner,
) -> None:
    runner.repo(ocelot_yml(stage("one", "echo one"), stage("two", "echo two"), timeout=60))
    build_id = runner.queue()
    attempt = runner.start(build_id)
    runner.stage(build_id, attempt, 0)
    # The worker is stuck (its lease is still fresh), and the deadline passed a lease ago.
    runner.pass_deadline(build_id, by=timedelta(seconds=runner.settings.lease_seconds + 1))
    assert reap(runner.ctx) == []  # nothing to queue again: the build is over
    build = runner.build(build_id)
    assert build["status"] == BuildStatus.FAILED
    assert build["failure_reason"] == (
        "timeout: the build passed its deadline (enforced by the reaper)"
    )
    one, two = build["stages"]
    assert one["status"] == StageStatus.PASSED
    assert (two["status"], two["messages"]) == (StageStatus.SKIPPED, ["not run"])
    assert [c.key for c in runner.executor.calls_of("destroy")] == [BuildKey(build_id, attempt)]
    assert runner.finished == [(build_id, BuildStatus.FAILED)]
    runner.stage(build_id, attempt, 1)  # the stuck worker's next message: a no-op
    assert len(runner.executor.calls_of("run_stage")) == 1
