"""Executors with the build fences on: what a stage sees of its limits, and that ordinary
work (a non-root image's workspace, killing a stage) still works under them."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ocelot.executors import ResourceLimits
from ocelot.executors.base import BuildKey
from ocelot.executors.docker import LABEL_WORKER, DockerExecutor
from ocelot.executors.local import LocalExecutor
from tests.conftest import require
from tests.executor_support import run
from tests.stack import docker_ok

IMAGE = "ocelot/busybox:latest"
LIMITS = ResourceLimits(memory=256 << 20, cpus=1.0, pids=64)


@pytest.fixture
def key() -> BuildKey:
    return BuildKey(random.randrange(10**9, 2 * 10**9), 1)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "sub").mkdir(parents=True)
    (root / "README").write_text("hello\n")
    root.chmod(0o700)  # like a fresh temporary directory: /workspace must not inherit it
    return root


@pytest.fixture
def fenced_docker() -> Iterator[DockerExecutor]:
    ok, reason = docker_ok()
    require(ok, reason)
    worker = f"test-fences-{uuid.uuid4().hex[:12]}"
    executor = DockerExecutor(worker, limits=LIMITS)
    yield executor
    client = docker.from_env()
    selector = {"label": f"{LABEL_WORKER}={worker}"}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


@pytest.mark.docker
def test_a_stage_sees_its_fences(
    fenced_docker: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    fenced_docker.prepare(key, checkout, IMAGE, {})
    result = run(
        fenced_docker,
        key,
        "grep NoNewPrivs /proc/self/status; "
        "i=0; while [ $i -lt 100 ]; do sleep 5 >/dev/null 2>&1 & i=$((i+1)); done; echo all",
    )
    assert "NoNewPrivs:\t1" in result.output
    assert result.outcome.exit_code != 0 and "all" not in result.output  # 64 pids at most
    assert "can't fork" in result.output
    # The same limits in a stage container of its own image.
    own = run(fenced_docker, key, "grep NoNewPrivs /proc/self/status", image=IMAGE)
    assert own.outcome.exit_code == 0 and "NoNewPrivs:\t1" in own.output
    fenced_docker.destroy(key)


@pytest.mark.docker
def test_a_non_root_image_works_and_its_stage_can_be_killed(
    fenced_docker: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    # no-new-privileges leaves an exec as root in a non-root container without capabilities:
    # the workspace's owner and the kill must not need one.
    client = docker.from_env()
    tag = f"ocelot/test-fenced-nobody:{uuid.uuid4().hex[:12]}"
    base = client.containers.create(IMAGE, ["true"])
    try:
        base.commit(*tag.split(":"), changes=["USER 65534:65534"])
    finally:
        base.remove(force=True)
    try:
        fenced_docker.prepare(key, checkout, tag, {})
        ok = run(fenced_docker, key, "stat -c '%u %a' . README; touch new && echo ok")
        assert ok.output.split() == ["65534", "755", "65534", "644", "ok"]
        stop_at = time.monotonic() + 1.0
        killed = run(
            fenced_docker,
            key,
            "echo started; sleep 60",
            should_stop=lambda: time.monotonic() > stop_at,
            grace=1,
        )
        assert killed.outcome.killed and killed.outcome.error is None, killed
        assert killed.elapsed < 10
    finally:
        fenced_docker.destroy(key)
        client.images.remove(tag, force=True)


def test_the_local_executor_caps_address_space(
    tmp_path: Path, key: BuildKey, checkout: Path
) -> None:
    executor = LocalExecutor(tmp_path / "ws", "w", limits=LIMITS)
    workspace = executor.prepare(key, checkout, None, {})
    try:
        result = run(
            executor,
            key,
            "ulimit -v; ulimit -H -v; ulimit -v unlimited 2>/dev/null || echo refused",
            workdir=workspace,
        )
        assert result.output.split() == [str(256 << 10), str(256 << 10), "refused"]
        free = LocalExecutor(tmp_path / "ws2", "w")
        other = BuildKey(key.build_id, 2)
        free_ws = free.prepare(other, checkout, None, {})
        assert run(free, other, "ulimit -v", workdir=free_ws).output.strip() == "unlimited"
        free.destroy(other)
    finally:
        executor.destroy(key)
