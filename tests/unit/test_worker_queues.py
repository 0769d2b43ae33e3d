"""Which queues a worker consumes decides which builds it can take."""

from __future__ import annotations

from ocelot.settings import load_settings
from worker.__main__ import queues


def test_docker_worker_takes_untagged_builds_and_its_tags() -> None:
    s = load_settings(
        {"OCELOT_HOME": "/x", "OCELOT_WORKER_NAME": "w1", "OCELOT_WORKER_TAGS": "gpu"}
    )
    assert queues(s) == ["control", "ocelot.worker.w1", "notify", "forge", "builds", "builds.gpu"]


def test_local_worker_takes_only_its_tags() -> None:
    s = load_settings(
        {
            "OCELOT_HOME": "/x",
            "OCELOT_WORKER_NAME": "mac1",
            "OCELOT_WORKER_EXECUTOR": "local",
            "OCELOT_WORKER_TAGS": "mac",
        }
    )
    assert queues(s) == ["control", "ocelot.worker.mac1", "notify", "forge", "builds.mac"]
