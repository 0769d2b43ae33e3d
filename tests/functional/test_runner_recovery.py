"""A worker lost mid-build: the reaper abandons the attempt (``worker lost: <name>``), cleans
up what it can and queues a new attempt, up to ``OCELOT_WORKER_LOST_RETRIES``; the dead
attempt's late messages are no-ops. Lost workers are simulated by expiring the lease (or by
freezing the scripted stage, so nobody renews it)."""

from __future__ import annotations

import time

from ocelot.executors import BuildKey
from ocelot.runner.prepare import attempt_banner
from ocelot.runner.recovery import Abandoned, abandon, may_judge_leases, reap
from ocelot.status import BuildStatus, StageStatus
from tests.functional.runner_support import Runner, ocelot_yml, stage
from tests.waiting import eventually

TWO_STAGES = ocelot_yml(stage("one", "echo one"), stage("two", "echo two"))


def test_a_lost_worker_s_build_runs_again_as_a_new_attempt(runner: Runner) -> None:
    runner.repo(TWO_STAGES)
    build_id = runner.queue()
    attempt = runner.start(build_id)
    runner.stage(build_id, attempt, 0)
    runner.expire_lease(build_id)  # ... and then the worker died

    assert reap(runner.ctx) == [Abandoned(build_id, 1, "builds")]
    assert reap(runner.ctx) == []  # once
    queued = runner.build(build_id)
    assert (queued["status"], queued["worker"], queued["attempt"]) == ("QUEUED", None, 1)
    assert queued["pending_reason"] == "queued again after attempt 1: worker lost: w1"
    [lost] = queued["attempts"]
    assert (lost["attempt"], lost["worker"], lost["reason"]) == (1, "w1", "worker lost: w1")
    one, two = runner.stages(build_id, 1)
    assert one["status"] == StageStatus.PASSED
    assert (two["status"], two["messages"]) == (StageStatus.SKIPPED, ["not run: worker lost: w1"])
    assert [c.key for c in runner.executor.calls_of("destroy")] == [BuildKey(build_id, 1)]
    assert runner.finished == []  # not over: no notices yet

    attempt, positions = runner.prepare(build_id)  # another worker claims it
    assert attempt == 2
    runner.stage(build_id, 1, 1)  # the dead attempt's messages, redelivered: no-ops
    assert runner.finish(build_id, 1) is None
    for position in positions:
        runner.stage(build_id, attempt, position)
    assert runner.finish(build_id, attempt) == BuildStatus.PASSED

    build = runner.build(build_id)
    assert (build["status"], build["attempt"]) == (BuildStatus.PASSED, 2)
    assert [s["status"] for s in build["stages"]] == [StageStatus.PASSED] * 2  # attempt 2's
    assert [a["attempt"] for a in build["attempts"]] == [1]
    assert [c.key.attempt for c in runner.executor.calls_of("prepare")] == [1, 2]
    assert [(c.key.attempt, c.stage) for c in runner.executor.calls_of("run_stage")] == [
        (1, "one"),
        (2, "one"),
        (2, "two"),
    ]
    assert runner.executor.environments == set()
    assert runner.finished == [(build_id, BuildStatus.PASSED)]
    # The log marks where attempt 2 starts and why attempt 1 ended.
    log = runner.log(build_id)
    banner = "--- attempt 2 (attempt 1 on w1: worker lost) ---\n"
    assert log.count(banner) == 1
    assert log.index("one\n") < log.index(banner) < log.rindex("one\n")


def test_the_attempt_banner_says_how_the_attempt_before_ended() -> None:
    shut = {"attempt": 2, "worker": "w", "reason": "worker shut down: w (SIGTERM)"}
    assert (
        attempt_banner(3, shut) == "--- attempt 3 (attempt 2 on w: worker shut down (SIGTERM)) ---"
    )
    assert attempt_banner(2, None) == "--- attempt 2 ---"


def test_after_the_retry_cap_a_lost_worker_fails_the_build(runner: Runner) -> None:
    runner.configure(worker_lost_retries=1)
    runner.repo(TWO_STAGES)
    build_id = runner.queue()
    runner.start(build_id)
    runner.expire_lease(build_id)
    assert reap(runner.ctx) == [Abandoned(build_id, 1, "builds")]
    assert runner.prepare(build_id)[0] == 2
    runner.expire_lease(build_id)
    assert reap(runner.ctx) == [Abandoned(build_id, 2, None)]

    build = runner.build(build_id)
    assert build["status"] == BuildStatus.FAILED
    assert build["failure_reason"] == "worker lost: w1 (attempt 2; no retries left)"
    assert [(a["attempt"], a["reason"]) for a in build["attempts"]] == [
        (1, "worker lost: w1"),
        (2, "worker lost: w1"),
    ]
    assert [s["status"] for s in build["stages"]] == [StageStatus.SKIPPED] * 2
    assert [c.key.attempt for c in runner.executor.calls_of("destroy")] == [1, 2]
    assert runner.finished == [(build_id, BuildStatus.FAILED)]
    assert reap(runner.ctx) == []


def test_a_worker_shutting_down_hands_its_build_back(runner: Runner) -> None:
    runner.repo(TWO_STAGES)
    build_id = runner.queue()
    attempt = runner.start(build_id)
    reason = "worker shut down: w1 (SIGTERM)"
    assert abandon(runner.ctx, build_id, attempt, reason) == Abandoned(build_id, 1, "builds")
    assert abandon(runner.ctx, build_id, attempt, reason) is None  # idempotent
    build = runner.build(build_id)
    assert build["status"] == BuildStatus.QUEUED
    assert build["pending_reason"] == f"queued again after attempt 1: {reason}"
    assert runner.drive(build_id)["status"] == BuildStatus.PASSED


def test_a_frozen_worker_is_reaped_and_its_stage_stops_when_it_wakes(runner: Runner) -> None:
    """The worker process stops (SIGSTOP, a long GC pause): nobody renews the lease, the reaper
    abandons the attempt; when the process wakes, its stage sees the attempt is over, stops,
    and the build goes on as the next attempt."""
    runner.configure(lease_seconds=1.0)
    runner.repo(ocelot_yml(stage("frozen", "echo before", "freeze 2.5", "sleep 30")))
    build_id = runner.queue()
    attempt = runner.start(build_id)
    worker = runner.in_thread(runner.stage, build_id, attempt, 0)
    abandoned = eventually(lambda: reap(runner.ctx), 10, "the reaper to abandon the attempt")
    assert abandoned == [Abandoned(build_id, 1, "builds")]
    worker.join_ok(10)  # woke up, saw the attempt is over, stopped its stage
    [frozen] = runner.stages(build_id, 1)
    assert frozen["status"] in (StageStatus.FAILED, StageStatus.KILLED)
    assert frozen["messages"][0] == "worker lost: w1"
    build = runner.build(build_id)
    assert (build["status"], build["attempt"]) == (BuildStatus.QUEUED, 1)
    assert runner.finish(build_id, 2) is None
    assert runner.log(build_id).count("before") == 1


# -- defects found by these tests, fixed -------------------------------------------------------


def test_the_stage_of_a_reaped_attempt_keeps_the_reaper_s_verdict(runner: Runner) -> None:
    runner.configure(lease_seconds=1.0)
    runner.repo(ocelot_yml(stage("frozen", "freeze 2.5", "sleep 30")))
    build_id = runner.queue()
    attempt = runner.start(build_id)
    worker = runner.in_thread(runner.stage, build_id, attempt, 0)
    eventually(lambda: reap(runner.ctx), 10, "the reaper to abandon the attempt")
    worker.join_ok(10)
    [frozen] = runner.stages(build_id, 1)
    assert (frozen["status"], frozen["messages"]) == (StageStatus.FAILED, ["worker lost: w1"])


def test_a_late_finish_of_a_reaped_attempt_does_not_end_the_followers(runner: Runner) -> None:
    runner.repo(TWO_STAGES)
    build_id = runner.queue()
    runner.start(build_id)
    runner.expire_lease(build_id)
    assert reap(runner.ctx)
    pubsub = runner.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"ocelot:logs:{build_id}")
    try:
        runner.finish(build_id, 1)  # the dead worker's finish, redelivered before a new claim
        messages = [pubsub.get_message(timeout=0.2) for _ in range(5)]
        assert [m["data"] for m in messages if m] == []
    finally:
        pubsub.close()


def test_the_reaper_judges_leases_only_after_reaching_the_database_for_a_lease(
    runner: Runner,
) -> None:
    runner.configure(lease_seconds=0.5)
    runner.repo(TWO_STAGES)
    build_id = runner.queue()
    runner.start(build_id)
    runner.expire_lease(build_id)
    # The first reap (or the first after an outage) has not seen the database for a lease:
    # an expired lease may be the outage's doing, not a dead worker's.
    assert not may_judge_leases(runner.ctx)
    assert reap(runner.ctx, judge_leases=False) == []
    assert runner.build(build_id)["status"] == BuildStatus.RUNNING
    eventually(lambda: may_judge_leases(runner.ctx), 10, "a lease of reaching the database")
    # A gap longer than a lease between reaps (the database was down) starts the count again.
    runner.redis.set(f"ocelot:{runner.ctx.instance}:reaper:reached-at", str(time.time() - 5))
    assert not may_judge_leases(runner.ctx)
    # A renewal that comes between the reaper's look and its verdict wins.
    renewed = runner.row(build_id, "lease_until")
    runner._set(build_id, lease_until=renewed.replace(year=renewed.year + 1))
    assert abandon(runner.ctx, build_id, 1, "worker lost: w1", expired_before=renewed) is None
    assert reap(runner.ctx) == []
