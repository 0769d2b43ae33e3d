"""The warm pool (``OCELOT_WARM_CONTAINERS``), for real: fresh, never-used, fenced and
labelled containers; refilled; claimed by exactly one process; nothing left behind by a kill,
a shutdown or a dead worker; off means the old behaviour."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from ocelot.executors import BuildKey, ResourceLimits, warm_pool
from ocelot.executors.docker import CAP_DROP, DockerExecutor, container_name
from tests.conftest import require
from tests.servers import RedisServer
from tests.stack import Stack, docker_ok, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IMAGE = "ocelot/busybox"
PROBE = """\
image: ocelot/busybox
buildTool: shell
branches: [ALL]
stages:
  - name: probe
    script:
      - "echo host=$(hostname)"
      - "echo files=$(ls -A /workspace | tr '\\\\n' ,)"
      - "echo tmp=$(ls -A /tmp | tr '\\n' ,)"
      - "echo env-build=${BUILD_ID:-none}"
      - "touch /workspace/left-behind /tmp/left-behind"
"""
CHECKOUT = ".git,ocelot.yml,src.txt,"  # the checkout, and nothing else
SLEEPY = PROBE + '      - "echo started; sleep 120"\n'


def pool_rows(instance: str, every: bool = False) -> list[dict[str, Any]]:
    """Unclaimed pool containers of ``instance`` (running ones unless ``every``)."""
    rows = docker.from_env().api.containers(
        all=every, filters={"label": [warm_pool.LABEL_POOL, f"ocelot.instance={instance}"]}
    )
    return [r for r in rows if warm_pool.is_unclaimed(r["Names"][0], instance)]


def instance_rows(instance: str) -> list[dict[str, Any]]:
    return docker.from_env().api.containers(
        all=True, filters={"label": [f"ocelot.instance={instance}"]}
    )


def volumes(instance: str) -> list[str]:
    found = docker.from_env().volumes.list(filters={"label": [f"ocelot.instance={instance}"]})
    return [v.name for v in found]


def field(log: str, name: str) -> str:
    return next(line.split("=", 1)[1] for line in log.splitlines() if line.startswith(name + "="))


def remove_instance(instance: str) -> None:
    client = docker.from_env()
    for row in instance_rows(instance):
        client.api.remove_container(row["Id"], force=True)
    for name in volumes(instance):
        client.api.remove_volume(name, force=True)


@pytest.fixture
def warm(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own (own Redis, own instance) whose workers keep 2 warm containers."""
    ok, reason = docker_ok()
    require(ok, reason)
    redis = RedisServer(tmp_path)
    instance = f"warm{secrets.token_hex(3)}"
    env = {"OCELOT_WARM_CONTAINERS": "2", "OCELOT_INSTANCE": instance}
    stack = Stack(tmp_path / "stack", redis, db=0, env=env)
    stack.instance = instance  # type: ignore[attr-defined]
    try:
        yield stack
    finally:
        stack.close()
        redis.stop()
        remove_instance(instance)


def test_builds_get_fresh_fenced_containers_and_the_pool_refills(
    warm: Stack, tmp_path: Path
) -> None:
    instance = warm.instance  # type: ignore[attr-defined]
    worker = warm.start_worker("warm-1")
    make_repo(tmp_path / "r", {"ocelot.yml": PROBE, "src.txt": "x"})
    repo = warm.add_repo(tmp_path / "r")

    first = warm.wait(warm.build(repo, branch="master"))  # a miss: the pool learns the image
    assert first["status"] == "PASSED", first
    ready = eventually(lambda: len(pool_rows(instance)) == 2 and pool_rows(instance), 30, "2")

    client = docker.from_env()
    for row in ready:  # the same fences, labels and switch as any build container
        info = client.api.inspect_container(row["Id"])
        host, config = info["HostConfig"], info["Config"]
        assert set(CAP_DROP) <= set(host["CapDrop"]) and "no-new-privileges" in host["SecurityOpt"]
        assert host["Init"] is True and host["Privileged"] is False
        assert host["Memory"] > 0 and host["PidsLimit"] > 0 and host["NanoCpus"] > 0
        assert config["OpenStdin"] and config["StdinOnce"]
        assert config["Entrypoint"][:2] == ["sh", "-c"]
        assert [m["Destination"] for m in info["Mounts"]] == ["/workspace"]
        assert not any("docker.sock" in (m.get("Source") or "") for m in info["Mounts"])
        assert not any(e.startswith("OCELOT_") for e in config["Env"] or [])
        labels = config["Labels"]
        assert labels["ocelot.worker"] == "warm-1" and labels["ocelot.instance"] == instance
        assert labels[warm_pool.LABEL_POOL_IMAGE] == IMAGE
        assert info["Mounts"][0]["Name"] == warm_pool.pool_volume(
            instance, labels[warm_pool.LABEL_POOL]
        )
    warm_ids = {row["Id"][:12] for row in ready}

    used: list[str] = []
    for _ in range(3):
        build = warm.wait(warm.build(repo, branch="master"))
        assert build["status"] == "PASSED", build
        log = warm.logs(build["id"])
        used.append(field(log, "host"))
        # its checkout only: nothing an earlier build wrote, in the workspace or elsewhere
        assert field(log, "files") == CHECKOUT, log
        assert field(log, "tmp") == "", log
        assert field(log, "env-build") == str(build["id"])  # the build's env, per exec
    assert used[0] in warm_ids  # the first build after the fill ran in a warm container
    assert len(set(used)) == 3  # never reused

    def settled() -> bool:  # used containers removed, the pool refilled with new ones
        names = [r["Names"][0] for r in instance_rows(instance)]
        fresh = {r["Id"][:12] for r in pool_rows(instance)}
        return len(names) == 2 and len(fresh) == 2 and not fresh & set(used)

    eventually(settled, 30, "the used containers to go and the pool to refill")
    assert len(volumes(instance)) == 2  # one per pool container, no build's left

    warm.stop_worker(worker)  # shutdown: no pool container, no volume left
    assert instance_rows(instance) == [] and volumes(instance) == []


def test_a_killed_build_in_a_claimed_container_leaves_nothing(warm: Stack, tmp_path: Path) -> None:
    instance = warm.instance  # type: ignore[attr-defined]
    warm.start_worker("warm-2")
    make_repo(tmp_path / "r", {"ocelot.yml": SLEEPY, "src.txt": "x"})
    repo = warm.add_repo(tmp_path / "r")
    first = warm.build(repo, branch="master")  # a miss: teaches the pool the image
    eventually(lambda: "started" in warm.logs(first), 60, "the first build to start")
    assert warm.client.post(f"/api/v1/builds/{first}/kill", headers=warm.auth).status_code == 200
    assert warm.wait(first, timeout=30)["status"] == "KILLED"
    eventually(lambda: len(pool_rows(instance)) == 2, 30, "the pool to fill")
    ready = {r["Id"][:12] for r in pool_rows(instance)}

    build_id = warm.build(repo, branch="master")
    eventually(lambda: "started" in warm.logs(build_id), 60, "the stage to start")
    assert field(warm.logs(build_id), "host") in ready  # it runs in a claimed container
    name = container_name(BuildKey(build_id, 1), instance)
    [claimed] = docker.from_env().api.containers(filters={"name": f"^/{name}$"})
    volume = warm_pool.volume_of(claimed["Labels"], instance)
    assert volume in volumes(instance)
    assert warm.client.post(f"/api/v1/builds/{build_id}/kill", headers=warm.auth).status_code == 200
    assert warm.wait(build_id, timeout=30)["status"] == "KILLED"

    def gone() -> bool:
        names = [r["Names"][0] for r in instance_rows(instance)]
        return f"/{name}" not in names and volume not in volumes(instance)

    eventually(gone, 15, "the killed build's claimed container and its volume to go")


def test_a_dead_worker_s_pool_stops_and_the_janitor_removes_it(warm: Stack, tmp_path: Path) -> None:
    instance = warm.instance  # type: ignore[attr-defined]
    victim = warm.start_worker("warm-3")
    make_repo(tmp_path / "r", {"ocelot.yml": PROBE})
    assert warm.wait(warm.build(warm.add_repo(tmp_path / "r"), branch="master"))["status"] == (
        "PASSED"
    )
    pool = eventually(lambda: len(pool_rows(instance)) == 2 and pool_rows(instance), 30, "2")
    os.killpg(victim.proc.pid, signal.SIGKILL)  # main process and pool processes
    warm.stop_worker(victim)

    def stopped() -> bool:  # the dead-man's switch: nobody else touched them
        rows = pool_rows(instance, every=True)
        return len(rows) == 2 and all(r["State"] == "exited" for r in rows)

    eventually(stopped, 30, "the dead worker's pool containers to stop on their own")
    assert {r["Id"] for r in pool_rows(instance, every=True)} == {r["Id"] for r in pool}

    executor = DockerExecutor("warm-3", instance=instance)
    # the janitor's sweep (it also removes the finished build's container if the SIGKILL came
    # before the worker's background remover got to it)
    removed = executor.cleanup("warm-3", lambda key: False)
    assert {"container " + r["Names"][0].lstrip("/") for r in pool} <= set(removed)
    assert instance_rows(instance) == [] and volumes(instance) == []


def test_warm_containers_zero_keeps_the_old_behaviour(tmp_path: Path) -> None:
    ok, reason = docker_ok()
    require(ok, reason)
    redis = RedisServer(tmp_path)
    instance = f"cold{secrets.token_hex(3)}"
    stack = Stack(
        tmp_path / "stack", redis, db=0,
        env={"OCELOT_WARM_CONTAINERS": "0", "OCELOT_INSTANCE": instance},
    )  # fmt: skip
    try:
        stack.start_worker("cold-1")
        make_repo(tmp_path / "r", {"ocelot.yml": PROBE})
        repo = stack.add_repo(tmp_path / "r")
        for _ in range(2):
            build = stack.wait(stack.build(repo, branch="master"))
            assert build["status"] == "PASSED", build
        eventually(lambda: instance_rows(instance) == [], 15, "the build containers to go")
        assert pool_rows(instance, every=True) == [] and volumes(instance) == []
        assert not (stack.settings.home / "warm-pool").exists()
    finally:
        stack.close()
        redis.stop()
        remove_instance(instance)


def _claim_in_child(args: tuple[Path, str, int, str, str]) -> str | None:
    root, instance, build_id, image, image_id = args
    executor = DockerExecutor("claimers", instance=instance, warm=2, pool_root=root)
    target = container_name(BuildKey(build_id, 1), instance)
    return warm_pool.claim(executor, executor.client(), target, image, image_id)


def test_each_warm_container_is_claimed_by_exactly_one_process(tmp_path: Path) -> None:
    ok, reason = docker_ok()
    require(ok, reason)
    instance = f"claim{secrets.token_hex(3)}"
    executor = DockerExecutor(
        "claimers", instance=instance, warm=2, pool_root=tmp_path, limits=ResourceLimits()
    )
    client = executor.client()
    image_id = client.images.get(IMAGE).id
    try:
        warm_pool.note_use(warm_pool.pool_dir(executor), IMAGE)  # type: ignore[arg-type]
        filler = warm_pool.Filler(executor, max_builds=2)
        assert filler.refill() == 2 and filler.refill() == 0  # the target, then nothing to do
        made = {r["Id"] for r in pool_rows(instance)}
        assert len(made) == 2
        jobs = [(tmp_path, instance, 1000 + n, IMAGE, image_id) for n in range(8)]
        with multiprocessing.get_context("fork").Pool(8) as pool:
            claimed = pool.map(_claim_in_child, jobs)
        winners = [c for c in claimed if c is not None]
        assert sorted(winners) == sorted(made)  # each one exactly once
        for (_, _, build_id, _, _), got in zip(jobs, claimed, strict=True):
            name = container_name(BuildKey(build_id, 1), instance)
            found = client.api.containers(all=True, filters={"name": f"^/{name}$"})
            assert [r["Id"] for r in found] == ([got] if got else [])
        # a claimed container is removed with its pool volume by destroy, from any process
        for build_id, got in ((j[2], c) for j, c in zip(jobs, claimed, strict=True)):
            if got:
                DockerExecutor("claimers", instance=instance).destroy(BuildKey(build_id, 1))
        assert instance_rows(instance) == [] and volumes(instance) == []
        assert _claim_in_child(jobs[0]) is None  # an empty pool: a miss
    finally:
        remove_instance(instance)


def test_a_miss_teaches_the_pool_only_once_the_build_s_own_container_runs(
    tmp_path: Path,
) -> None:
    """The first build of an image makes its own container; the pool starts making its
    containers only after that one runs, so they do not share the daemon's first moments."""
    ok, reason = docker_ok()
    require(ok, reason)
    instance = f"miss{secrets.token_hex(3)}"
    executor = DockerExecutor(
        "missers", instance=instance, warm=2, pool_root=tmp_path, limits=ResourceLimits()
    )
    directory = warm_pool.pool_dir(executor)
    assert directory is not None
    client = executor.client()
    key = BuildKey(1, 1)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "f.txt").write_text("x")
    try:
        target = container_name(key, instance)
        image_id = client.images.get(IMAGE).id
        assert warm_pool.claim(executor, client, target, IMAGE, image_id) is None  # a miss
        assert warm_pool.recent_images(directory) == []  # not noted by the miss itself
        executor.prepare(key, checkout, IMAGE, {})
        state = client.api.inspect_container(target)["State"]
        assert state["Running"], state
        assert warm_pool.recent_images(directory) == [IMAGE]  # noted once it ran
        noted = (directory / next(p.name for p in directory.glob("image-*"))).stat().st_mtime
        started = state["StartedAt"]  # RFC 3339 with nanoseconds, UTC
        assert noted >= datetime.fromisoformat(started[:26] + "+00:00").timestamp()
    finally:
        executor.destroy(key)
        remove_instance(instance)
