"""The broker fails over: Redis with Sentinel, its primary SIGKILLed while builds run.

A whole server side (web on a real port, beat, a Docker worker) is pointed at three
Sentinels (``sentinel://`` broker URL, tests/sentinel.py). Ten builds print numbered lines
with short sleeps; while they run the primary is killed and the Sentinels promote the
replica. Every build must still pass, exactly once (its lines once in its log), and live
followers of the REST log stream, connected before the kill, must get the lines that come
after it and the end of the build.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ocelot.logstream import channel
from tests.conftest import require
from tests.sentinel import SentinelCluster
from tests.stack import FINISHED, Stack, docker_ok, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LINES = 6
BUILDS = 10
STAGE = "\n".join(f'      - "echo line-$BUILD_ID-{n}; sleep 0.5"' for n in range(1, LINES + 1))
YML = (
    "image: ocelot/busybox\nbuildTool: shell\nbranches: [ALL]\n"
    f"stages:\n  - name: s\n    script:\n{STAGE}\n"
)


class Follower(threading.Thread):
    """Reads ``GET /api/v1/builds/<id>/logs?follow=1`` (Server-Sent Events) until ``end``."""

    def __init__(self, stack: Stack, build_id: int) -> None:
        super().__init__(daemon=True, name=f"follow-{build_id}")
        self.url = f"{stack.url}/api/v1/builds/{build_id}/logs?follow=1"
        self.headers = stack.auth
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with requests.get(self.url, headers=self.headers, stream=True, timeout=(5, 90)) as r:
                r.raise_for_status()
                kind = None
                for line in r.iter_lines(decode_unicode=True):
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind is not None:
                        self.events.append((kind, json.loads(line.removeprefix("data: "))))
                        if kind == "end":
                            return
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def text(self, events: list[tuple[str, dict[str, Any]]] | None = None) -> str:
        chosen = self.events if events is None else events
        return "".join(str(d.get("text", "")) for k, d in chosen if k == "log")

    @property
    def end(self) -> dict[str, Any] | None:
        return next((d for k, d in self.events if k == "end"), None)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    ok, reason = docker_ok()
    require(ok, reason)
    found = SentinelCluster(tmp_path / "redis", sentinels=3)
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def stack(tmp_path: Path, cluster: SentinelCluster) -> Iterator[Stack]:
    env = {
        "OCELOT_SENTINEL_MASTER": cluster.master,
        "OCELOT_MAX_BUILDS": "3",
        "OCELOT_LEASE_SECONDS": "10",
        "OCELOT_RECONCILE_AFTER": "5",
    }
    found = Stack(tmp_path / "stack", cluster.primary, env=env, broker_url=cluster.broker_url)
    try:
        found.start_beat()
        found.start_worker("sentinel-1")
        yield found
    finally:
        found.close()


def test_builds_and_live_logs_survive_a_failover(
    stack: Stack, cluster: SentinelCluster, tmp_path: Path
) -> None:
    make_repo(tmp_path / "r", {"ocelot.yml": YML})
    repo = stack.add_repo(tmp_path / "r")
    ids = [stack.build(repo, branch="master") for _ in range(BUILDS)]

    # One follower of a build that runs now, one of the last build (it runs after the kill);
    # both subscribed on the primary that is about to die.
    eventually(lambda: "line-" in stack.logs(ids[0]), 90, f"build {ids[0]} to start")
    followers = {i: Follower(stack, i) for i in (ids[0], ids[-1])}
    for follower in followers.values():
        follower.start()
    for build_id in followers:
        eventually(
            lambda b=build_id: cluster.subscribers(channel(b)) > 0,
            30,
            f"a follower of build {build_id} subscribed on the primary",
        )
    before = {i: list(f.events) for i, f in followers.items()}
    live = {i for i in followers if stack.get(i)["status"] not in FINISHED}
    assert ids[-1] in live  # its lines can only come after the failover

    cluster.kill_primary()
    cluster.wait_for_failover()

    results = [stack.wait(i, timeout=240) for i in ids]
    for build in results:
        log = stack.logs(build["id"])
        assert build["status"] == "PASSED", (build.get("failure_reason"), build, log)
        for n in range(1, LINES + 1):
            assert log.count(f"line-{build['id']}-{n}\n") == 1, (build, log)
        # exactly once: one attempt, no earlier one cut short by the failover
        assert build["attempt"] == 1 and build["attempts"] == [], build

    for build_id, follower in followers.items():
        follower.join(30)
        assert not follower.is_alive() and follower.error is None, (build_id, follower.error)
        assert follower.end == {"status": "PASSED"}, follower.events
        text = follower.text()
        for n in range(1, LINES + 1):
            assert text.count(f"line-{build_id}-{n}\n") == 1, (build_id, text)
        if build_id in live:  # still running at the kill: its end came after the failover
            after = follower.text(follower.events[len(before[build_id]) :])
            assert f"line-{build_id}-{LINES}\n" in after, (build_id, before[build_id], after)
