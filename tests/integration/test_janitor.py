"""The periodic janitor removes old Ocelot leftovers and nothing that is still running."""

from __future__ import annotations

import random
from datetime import timedelta

import docker
import pytest

from ocelot.executors import BuildKey
from ocelot.executors.janitor import prune

pytestmark = [pytest.mark.docker]

INSTANCE = "janitortest"  # only this test's resources are candidates


@pytest.fixture
def client(docker_client: docker.DockerClient) -> docker.DockerClient:
    return docker_client


def leftover(client: docker.DockerClient) -> tuple[BuildKey, str]:
    key = BuildKey(random.randint(10**8, 10**9), 1)
    volume = f"ocelot-ws-{INSTANCE}-{key.build_id}-{key.attempt}"
    labels = {
        "ocelot.build_id": str(key.build_id),
        "ocelot.attempt": "1",
        "ocelot.worker": "gone",
        "ocelot.instance": INSTANCE,
    }
    client.volumes.create(volume, labels=labels)
    container = client.containers.run(
        "ocelot/busybox",
        ["sleep", "300"],
        detach=True,
        labels=labels,
        volumes={volume: {"bind": "/workspace", "mode": "rw"}},
        name=f"ocelot-{INSTANCE}-{key.build_id}-1",
    )
    return key, container.name


def exists(client: docker.DockerClient, name: str) -> bool:
    # one list call (containers.list() inspects each afterwards: racy with a removal)
    return bool(client.api.containers(all=True, filters={"name": f"^{name}$"}))


def test_prune_removes_old_leftovers_but_not_running_or_young_ones(client) -> None:
    old_key, old = leftover(client)
    live_key, live = leftover(client)
    try:
        young = prune(client, lambda key: key == live_key, timedelta(hours=1), INSTANCE)
        assert f"container {old}" not in young.removed and exists(client, old)
        freed = prune(client, lambda key: key == live_key, timedelta(0), INSTANCE)
        assert f"container {old}" in freed.removed
        assert f"volume ocelot-ws-{INSTANCE}-{old_key.build_id}-1" in freed.removed
        assert not exists(client, old)
        assert exists(client, live)  # its attempt is still running
        assert "removed container" in freed.summary()
    finally:
        for name in (old, live):
            if exists(client, name):
                client.containers.get(name).remove(force=True, v=True)
        for key in (old_key, live_key):
            try:
                client.volumes.get(f"ocelot-ws-{INSTANCE}-{key.build_id}-1").remove(force=True)
            except docker.errors.NotFound:
                pass
