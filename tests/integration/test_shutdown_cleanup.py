"""A worker that stops leaves no container of a finished build behind, even one its pool
processes could not remove: the stop signal (systemd's default sends it to every process of
the unit, as the test stack does to the process group) ends a pool process at once, with its
queued removals. The worker's main process removes them once the pool is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ocelot.executors import BuildKey
from ocelot.executors.docker import DockerExecutor, container_name
from tests.conftest import require
from tests.stack import Stack, docker_ok, make_repo, own_stack
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.docker]

YML = """\
image: ocelot/busybox
buildTool: shell
branches: [ALL]
stages:
  - name: s
    script: ["echo hi"]
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    ok, reason = docker_ok()
    require(ok, reason)
    with own_stack(tmp_path) as found:
        yield found


def test_a_stopped_worker_leaves_no_container_of_a_finished_build(
    stack: Stack, tmp_path: Path
) -> None:
    worker = stack.start_worker("stopper")
    make_repo(tmp_path / "r", {"ocelot.yml": YML})
    repo = stack.add_repo(tmp_path / "r")
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", build

    client = docker.from_env()
    label = {"label": [f"ocelot.instance={stack.settings.instance}"]}
    eventually(  # the build's own clean-up, in the worker's background remover, is done
        lambda: (
            not client.api.containers(all=True, filters=label)
            and not client.volumes.list(filters=label)
        ),
        30,
        "the build's container and volume to go",
    )
    # What a killed pool process leaves: the finished build's container and volume, made
    # after the worker's start-up clean-up (as the build's own executor makes them).
    key = BuildKey(build["id"], build["attempt"])
    executor = DockerExecutor("stopper", instance=stack.settings.instance)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    executor.prepare(key, checkout, "ocelot/busybox", {})
    name = container_name(key, stack.settings.instance)
    assert [r["Names"][0] for r in client.api.containers(all=True, filters=label)] == ["/" + name]

    stack.stop_worker(worker)
    assert client.api.containers(all=True, filters=label) == []
    assert client.volumes.list(filters=label) == []
    assert "janitor: removed" in worker.log.read_text(errors="replace")
