"""Scripted fault tests: dead workers, a restarted broker, kills, shutdowns.

Each runs against its own server side (own Redis, own database, beat running the reaper and
the reconciler) with short leases, so recovery happens in seconds. What each one shows is
summarised in docs/reliability.md.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from ocelot.cli.main import cli
from tests.conftest import require
from tests.servers import RedisServer
from tests.stack import Stack, docker_ok, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FAST = {
    "OCELOT_LEASE_SECONDS": "3",
    "OCELOT_RECONCILE_AFTER": "3",
    "OCELOT_WORKER_LOST_RETRIES": "2",
    "OCELOT_KILL_GRACE": "2",
}


def yml(script: str, image: str = "image: ocelot/busybox") -> str:
    return f"{image}\nbuildTool: shell\nbranches: [ALL]\nstages:\n{script}"


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[Stack]:
    ok, reason = docker_ok()
    require(ok, reason)
    redis = RedisServer(tmp_path)
    stack = Stack(tmp_path / "stack", redis, db=0, env=FAST)
    stack.start_beat()
    try:
        yield stack
    finally:
        stack.close()
        redis.stop()


def containers(build_id: int, attempt: int | None = None) -> list[object]:
    labels = [f"ocelot.build_id={build_id}"]
    if attempt is not None:
        labels.append(f"ocelot.attempt={attempt}")
    return docker.from_env().api.containers(all=True, filters={"label": labels})  # type: ignore[no-any-return]


def test_sigkilled_worker_build_completes_on_the_other_worker(
    faults: Stack, tmp_path: Path
) -> None:
    first = faults.start_worker("victim")
    make_repo(
        tmp_path / "r",
        {
            "ocelot.yml": yml(
                '  - name: long\n    script: ["echo attempt-start", "sleep 4", '
                '"echo attempt-end"]\n'
            )
        },
    )
    build_id = faults.build(faults.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "attempt-start" in faults.logs(build_id), 60, "the stage to start")
    assert faults.get(build_id)["worker"] == "victim"
    os.killpg(first.proc.pid, signal.SIGKILL)  # the host is gone: main process and pool
    faults.stop_worker(first)
    faults.start_worker("survivor")
    build = faults.wait(build_id, timeout=90)
    assert build["status"] == "PASSED", build
    assert build["attempt"] == 2 and build["worker"] == "survivor"
    assert build["attempts"][0]["worker"] == "victim"
    assert build["attempts"][0]["reason"] == "worker lost: victim"
    assert containers(build_id, attempt=1) == []  # removed by the reaper, before attempt 2
    eventually(lambda: containers(build_id) == [], 5, "attempt 2's containers to go")


def test_redis_restart_with_20_queued_builds_loses_none(faults: Stack, tmp_path: Path) -> None:
    make_repo(
        tmp_path / "r",
        {"ocelot.yml": yml('  - name: s\n    script: ["echo ran-$BUILD_ID", "sleep 0.3"]\n')},
    )
    repo = faults.add_repo(tmp_path / "r")
    ids = [faults.build(repo, branch="master") for _ in range(20)]
    # No worker yet: all 20 wake-up messages sit in Redis. Restart Redis without persistence:
    # every message is lost, only the database knows about the builds.
    port = faults.redis.port
    faults.redis.stop()
    faults.redis.__init__(tmp_path, port=port)  # type: ignore[misc]
    faults.start_worker("after-restart")
    results = [faults.wait(i, timeout=180) for i in ids]
    assert [b["status"] for b in results] == ["PASSED"] * 20
    for build in results:
        log = faults.logs(build["id"])
        assert log.count(f"ran-{build['id']}\n") == build["attempt"] == 1, (build, log)


def test_kill_of_a_stage_that_traps_sigterm(faults: Stack, tmp_path: Path) -> None:
    faults.start_worker("killer")
    make_repo(
        tmp_path / "r",
        {
            "ocelot.yml": yml(
                "  - name: stubborn\n    script:\n"
                "      - trap 'echo got-term' TERM; echo trapped; while true; do sleep 1; done\n"
            )
        },
    )
    build_id = faults.build(faults.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "trapped" in faults.logs(build_id), 60, "the trap to be set")
    resp = faults.client.post(f"/api/v1/builds/{build_id}/kill", headers=faults.auth)
    assert resp.status_code == 200
    # No wall-clock bound here (a loaded machine is slow; timings belong to `make bench`):
    # the stage ignores SIGTERM, so only the SIGKILL after OCELOT_KILL_GRACE can end it.
    build = faults.wait(build_id, timeout=90)
    assert build["status"] == "KILLED" and build["failure_reason"] == "killed by integration"
    eventually(lambda: containers(build_id) == [], 60, "the containers to go")
    assert "got-term" in faults.logs(build_id)  # SIGTERM reached the stage first


def test_warm_shutdown_mid_build_hands_the_build_back(faults: Stack, tmp_path: Path) -> None:
    first = faults.start_worker("leaving")
    make_repo(
        tmp_path / "r",
        {
            "ocelot.yml": yml(
                '  - name: long\n    script: ["echo started", "sleep 3", "echo finished"]\n'
            )
        },
    )
    build_id = faults.build(faults.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "started" in faults.logs(build_id), 60, "the stage to start")
    os.kill(first.proc.pid, signal.SIGTERM)  # warm shutdown of the main process
    eventually(
        lambda: faults.get(build_id)["status"] != "RUNNING", 30, "the build to leave RUNNING"
    )
    assert first.proc.wait(60) is not None
    faults.stop_worker(first)
    faults.start_worker("staying")
    build = faults.wait(build_id, timeout=90)
    assert build["status"] == "PASSED" and build["worker"] == "staying"
    assert build["attempts"][0]["reason"].startswith("worker shut down: leaving")


def test_tagged_build_waits_for_a_tagged_worker(faults: Stack, tmp_path: Path) -> None:
    tagged = faults.start_worker("mac-1", executor="local", tags=("mac",))
    os.killpg(tagged.proc.pid, signal.SIGKILL)
    faults.stop_worker(tagged)
    faults.start_worker("linux-only")  # consumes route (control) but not builds.mac
    make_repo(
        tmp_path / "r",
        {"ocelot.yml": yml('  - name: s\n    script: ["echo on-mac"]\n', image="machineTag: mac")},
    )
    build_id = faults.build(faults.add_repo(tmp_path / "r"), branch="master")
    eventually(
        lambda: "builds.mac" in (faults.get(build_id)["pending_reason"] or ""),
        30,
        "the build to be routed",
    )
    time.sleep(8)  # longer than the reconcile interval: republishing must not break anything
    build = faults.get(build_id)
    assert build["status"] == "QUEUED" and "tag 'mac'" in build["pending_reason"]
    faults.start_worker("mac-2", executor="local", tags=("mac",))
    build = faults.wait(build_id, timeout=60)
    assert build["status"] == "PASSED" and build["worker"] == "mac-2"
    assert faults.logs(build_id).count("on-mac\n") == 1


def test_max_builds_caps_concurrent_builds_per_worker(faults: Stack, tmp_path: Path) -> None:
    faults.start_worker("single", extra={"OCELOT_MAX_BUILDS": "1"})
    make_repo(tmp_path / "r", {"ocelot.yml": yml('  - name: s\n    script: ["sleep 1.5"]\n')})
    repo = faults.add_repo(tmp_path / "r")
    ids = [faults.build(repo, branch="master") for _ in range(3)]
    builds = sorted((faults.wait(i, 90) for i in ids), key=lambda b: b["started_at"])
    assert [b["status"] for b in builds] == ["PASSED"] * 3
    for earlier, later in itertools.pairwise(builds):
        assert later["started_at"] >= earlier["finished_at"], (earlier, later)


def test_a_dead_worker_s_build_container_stops_on_its_own(
    faults: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead-man's switch: SIGKILL of the worker (main process and pool) closes its hold
    on the build container's stdin, and the container ends itself: no reaper, janitor or
    other worker runs meanwhile. The next attempt's log says why it runs."""
    victim = faults.start_worker("doomed")
    ticks = "i=0; while [ $i -lt 40 ]; do echo tick-$i; i=$((i+1)); sleep 0.25; done"
    make_repo(
        tmp_path / "r",
        {"ocelot.yml": yml(f'  - name: long\n    script: ["echo attempt-start", "{ticks}"]\n')},
    )
    build_id = faults.build(faults.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "tick-4\n" in faults.logs(build_id), 60, "the stage to tick")
    [container] = containers(build_id, attempt=1)
    os.killpg(victim.proc.pid, signal.SIGKILL)  # the host is gone: main process and pool
    faults.stop_worker(victim)
    assert not any(p.proc.poll() is None for p in faults.workers if "worker-" in p.log.name)

    client = docker.from_env()

    def stopped() -> dict[str, object] | None:
        state = client.api.inspect_container(container["Id"])["State"]
        return None if state["Running"] else state

    state = stopped() or eventually(stopped, 30, "the orphaned build container to stop")
    assert state["ExitCode"] == 0  # PID 1 saw end-of-file and exited: nobody killed it
    assert containers(build_id, attempt=1)  # still there: no other Ocelot process touched it
    logged = faults.logs(build_id)

    faults.start_worker("heir")  # the reaper runs again (on it): attempt 2
    build = faults.wait(build_id, timeout=90)
    assert build["status"] == "PASSED" and build["attempt"] == 2, build
    log = faults.logs(build_id)
    banner = "--- attempt 2 (attempt 1 on doomed: worker lost) ---\n"
    assert log.startswith(logged) and log.count(banner) == 1, log
    attempt_two = log[log.index(banner) :]
    assert attempt_two.count("tick-") == 40 and "tick-39\n" in attempt_two  # attempt 2's only
    assert log.count("attempt-start\n") == 2
    monkeypatch.setenv("OCELOT_URL", faults.url)
    monkeypatch.setenv("OCELOT_TOKEN", faults.token)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    shown = CliRunner().invoke(cli, ["logs", "--build-id", str(build_id)])
    assert shown.exit_code == 0 and banner in shown.stdout, shown.output  # `ocelot logs`


def test_the_reaper_does_not_wait_behind_long_stages(faults: Stack, tmp_path: Path) -> None:
    """Every stage slot of the only live worker is taken by a long stage; the control pool
    (route, reap: worker/control_pool.py) still reaps a dead worker's build meanwhile."""
    busy = faults.start_worker("busy", extra={"OCELOT_MAX_BUILDS": "1"})
    busy.wait_for_log("ocelot control pool ready", timeout=60)
    make_repo(tmp_path / "long", {"ocelot.yml": yml('  - name: s\n    script: ["sleep 120"]\n')})
    long_id = faults.build(faults.add_repo(tmp_path / "long"), branch="master")

    def long_stage_runs() -> bool:
        return [s["status"] for s in faults.get(long_id)["stages"]] == ["RUNNING"]

    eventually(long_stage_runs, 60, "the long stage to run")

    victim = faults.start_worker("victim")
    make_repo(
        tmp_path / "r", {"ocelot.yml": yml('  - name: s\n    script: ["echo ran", "sleep 60"]\n')}
    )
    build_id = faults.build(faults.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "ran\n" in faults.logs(build_id), 60, "the victim's stage to start")
    assert faults.get(build_id)["worker"] == "victim"
    os.killpg(victim.proc.pid, signal.SIGKILL)  # with its control pool: same process group
    faults.stop_worker(victim)

    reaped = eventually(
        lambda: faults.get(build_id)["attempts"], 60, "the reaper to abandon the victim's attempt"
    )
    assert reaped[0]["reason"] == "worker lost: victim"
    long_build = faults.get(long_id)  # ... while the long stage still holds busy's only slot
    assert long_build["status"] == "RUNNING" and long_build["stages"][0]["status"] == "RUNNING"
    assert faults.get(build_id)["status"] == "QUEUED"  # busy has no free slot for it yet

    # One worker in the registry per `python -m worker`: the control pool is not another.
    resp = faults.client.get("/api/v1/workers", headers=faults.auth)
    names = [w["name"] for w in resp.get_json()["workers"]]
    assert names.count("busy") == 1 and not [n for n in names if "control" in n], names

    assert (
        faults.client.post(f"/api/v1/builds/{long_id}/kill", headers=faults.auth).status_code == 200
    )
    assert faults.wait(long_id, 60)["status"] == "KILLED"
    build = faults.wait(build_id, 90)
    assert build["status"] == "PASSED" and build["attempt"] == 2 and build["worker"] == "busy"

    assert "control pool started" in busy.log.read_text(errors="replace")
