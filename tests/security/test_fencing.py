"""Fenced containers, probed from outside: what `docker inspect` shows of a running build's
containers, a build with no `timeout` stopped by the server's default, a fork bomb held by
the pids limit, and a log flood cut at OCELOT_MAX_LOG_BYTES while its stage runs on.

These run against a server side of their own (own Redis, database and worker), because the
worker is started with a short default build timeout and a small log cap that must not reach
the session's shared stack. Memory, CPUs and pids keep their defaults.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from ocelot.executors.docker import CAP_DROP, LABEL_STAGE
from ocelot.logstream import CUT_NOTICE
from ocelot.settings import Settings
from tests.conftest import require
from tests.servers import RedisServer
from tests.stack import Stack, docker_ok, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DEFAULTS = Settings(home=Path("/"), database_url="", broker_url="")
LOG_CAP = 64 * 1024
FENCED = {"OCELOT_BUILD_TIMEOUT": "3", "OCELOT_MAX_LOG_BYTES": "64k"}


def yml(stages: str, timeout: str | None = "60s") -> str:
    head = "image: ocelot/busybox\nbuildTool: shell\nbranches: [ALL]\n"
    return head + (f"timeout: {timeout}\n" if timeout else "") + "stages:\n" + stages


@pytest.fixture(scope="module")
def fenced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ok, reason = docker_ok()
    require(ok, reason)
    root = tmp_path_factory.mktemp("fenced")
    redis = RedisServer(root)
    stack = Stack(root / "stack", redis, db=0)
    try:
        stack.start_worker("fenced-1", extra=FENCED)
        yield stack
    finally:
        stack.close()
        redis.stop()


def listed(stack: Stack, build_id: int) -> list[Any]:
    """The build's containers as one list call returns them (no inspect of each: one may be
    removed meanwhile)."""
    labels = [f"ocelot.build_id={build_id}", f"ocelot.instance={stack.settings.instance}"]
    return docker.from_env().api.containers(all=True, filters={"label": labels})  # type: ignore[no-any-return]


def containers(stack: Stack, build_id: int) -> list[Any]:
    labels = [f"ocelot.build_id={build_id}", f"ocelot.instance={stack.settings.instance}"]
    return docker.from_env().containers.list(all=True, filters={"label": labels})


def run(stack: Stack, path: Path, text: str, timeout: float = 60) -> dict[str, Any]:
    make_repo(path, {"ocelot.yml": text})
    return stack.wait(stack.build(stack.add_repo(path), branch="master"), timeout=timeout)


def test_running_containers_carry_the_limits(fenced: Stack, tmp_path: Path) -> None:
    # Stage one runs in a container of its own image while the build container waits:
    # both are there to inspect while it sleeps.
    make_repo(
        tmp_path / "r",
        {
            "ocelot.yml": yml(
                "  - name: own-image\n    image: ocelot/busybox\n"
                '    script: ["grep NoNewPrivs /proc/self/status", "echo sleeping", "sleep 30"]\n'
            )
        },
    )
    build_id = fenced.build(fenced.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "sleeping" in fenced.logs(build_id), 60, "the stage to sleep")
    running = eventually(lambda: len(containers(fenced, build_id)) == 2, 10, "two containers")
    assert running
    ncpu = docker.from_env().info()["NCPU"]
    kinds = set()
    for container in containers(fenced, build_id):
        container.reload()
        host = container.attrs["HostConfig"]
        kinds.add("stage" if LABEL_STAGE in container.labels else "build")
        assert host["Memory"] == DEFAULTS.build_memory == 4 * 1024**3, container.name
        assert host["MemorySwap"] == host["Memory"]  # no swap beyond the limit
        assert host["NanoCpus"] == int(min(DEFAULTS.build_cpus, ncpu) * 1e9)
        assert host["PidsLimit"] == DEFAULTS.build_pids == 1024
        assert "no-new-privileges" in host["SecurityOpt"]
        assert set(CAP_DROP) <= set(host["CapDrop"]) and "NET_RAW" in host["CapDrop"]
        assert not host["Privileged"]
    assert kinds == {"build", "stage"}
    assert "NoNewPrivs:\t1" in fenced.logs(build_id)  # as the stage itself sees it
    resp = fenced.client.post(f"/api/v1/builds/{build_id}/kill", headers=fenced.auth)
    assert resp.status_code == 200
    assert fenced.wait(build_id, timeout=20)["status"] == "KILLED"


def test_a_build_without_timeout_ends_at_the_default(fenced: Stack, tmp_path: Path) -> None:
    started = time.monotonic()
    build = run(
        fenced,
        tmp_path / "r",
        yml('  - name: forever\n    script: ["echo started", "sleep 600"]\n', timeout=None),
        timeout=30,
    )
    assert time.monotonic() - started < 20
    assert build["status"] == "FAILED", build
    [stage] = build["stages"]
    assert stage["status"] == "FAILED"
    assert "timeout: the build ran longer than its timeout" in stage["messages"], stage
    assert "timeout" in build["failure_reason"]
    eventually(lambda: not listed(fenced, build["id"]), 10, "the containers to go")


def test_a_fork_bomb_is_held_by_the_pids_limit(fenced: Stack, tmp_path: Path) -> None:
    bomb = (
        "i=0; while [ $i -lt 2000 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done; "
        "echo started-all-$i"
    )
    started = time.monotonic()
    build = run(fenced, tmp_path / "r", yml(f"  - name: bomb\n    script: ['{bomb}']\n"))
    assert time.monotonic() - started < 30
    log = fenced.logs(build["id"])
    assert build["status"] == "FAILED", (build, log[-2000:])
    assert "started-all-2000" not in log
    assert "fork" in log.lower(), log[-2000:]  # the shell says why: it could not fork
    eventually(lambda: not listed(fenced, build["id"]), 10, "the containers to go")
    # The worker (and its host) took no harm: the next build runs as usual.
    after = run(fenced, tmp_path / "r2", yml('  - name: ok\n    script: ["echo fine"]\n'))
    assert after["status"] == "PASSED" and "fine" in fenced.logs(after["id"])


def test_a_log_flood_is_cut_and_the_stage_runs_on(fenced: Stack, tmp_path: Path) -> None:
    flood = (
        "i=0; while [ $i -lt 20000 ]; do "
        'echo "flood line $i ........................................................"; '
        "i=$((i+1)); done; echo finished-printing; touch /workspace/flood-done"
    )
    build = run(
        fenced,
        tmp_path / "r",
        yml(
            f"  - name: flood\n    script: ['{flood}']\n"
            '  - name: after\n    script: ["test -f /workspace/flood-done", "echo after-ran"]\n'
        ),
    )
    log = fenced.logs(build["id"])
    flood_stage, after = build["stages"]
    assert build["status"] == "PASSED", (build, log[-2000:])
    assert flood_stage["status"] == "PASSED" and flood_stage["exit_code"] == 0
    assert after["status"] == "PASSED" and after["exit_code"] == 0  # the flood ran to its end
    notice = CUT_NOTICE.format(size="64 KiB")
    assert log.count(notice) == 1
    assert "flood line 0 " in log and "finished-printing" not in log and "after-ran" not in log
    assert log.endswith(notice + "\n--- stage after ---\n")  # Ocelot's own lines still show
    assert len(log.encode()) <= LOG_CAP + 1024
