"""Ocelot's own Redis clients follow a Sentinel failover: commands reach the promoted
replica, and a live-log follower whose pub/sub connection drops subscribes again on the new
primary and misses nothing (the gap comes from the database). Real redis-server and
redis-sentinel processes (tests/sentinel.py), a real SQLite database."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ocelot.db import dispose_engines, make_engine, migrate, session_scope
from ocelot.logstream import LogWriter, channel, follow, publish_end
from ocelot.models import Build
from ocelot.redis_client import make_redis
from ocelot.settings import Settings, load_settings
from ocelot.status import BuildStatus
from tests.conftest import require
from tests.functional.test_logstream import make_build
from tests.sentinel import SentinelCluster
from tests.waiting import eventually


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    require(shutil.which("redis-sentinel") is not None, "redis-sentinel is not installed")
    found = SentinelCluster(tmp_path / "redis", sentinels=1)
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def settings(tmp_path: Path, cluster: SentinelCluster) -> Iterator[Settings]:
    s = load_settings(
        {
            "OCELOT_HOME": str(tmp_path / "home"),
            "OCELOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ocelot.db'}",
            "OCELOT_BROKER_URL": cluster.broker_url,
            "OCELOT_SENTINEL_MASTER": cluster.master,
        }
    )
    migrate(s)
    yield s
    dispose_engines()


def test_commands_reach_the_promoted_replica(settings: Settings, cluster: SentinelCluster) -> None:
    client = make_redis(settings)
    client.mset({"ocelot:test:mark": "1"})  # what the reaper keeps between reaps
    eventually(lambda: cluster.replica_has("ocelot:test:mark"), 10, "the mark replicated")
    cluster.kill_primary()
    cluster.wait_for_failover()
    assert eventually(lambda: _get(client, "ocelot:test:mark"), 30, "the promoted replica")
    assert client.ping()


def _get(client: object, key: str) -> bytes | None:
    try:
        return client.get(key)  # type: ignore[attr-defined, no-any-return]
    except Exception:  # noqa: BLE001 - the failover is still under way: ask again
        return None


def test_a_follower_resubscribes_on_the_new_primary(
    settings: Settings, cluster: SentinelCluster
) -> None:
    engine: Engine = make_engine(settings)
    client = make_redis(settings)
    build_id = make_build(engine)
    writer = LogWriter(engine, client, build_id, 1, flush_seconds=0.01)
    seen: list[str] = []
    ended: list[str] = []
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            for event in follow(engine, make_redis(settings), build_id, poll_seconds=60):
                if event.kind == "log":
                    seen.extend(event.data["text"].splitlines())
                elif event.kind == "end":
                    ended.append(event.data["status"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    eventually(lambda: cluster.subscribers(channel(build_id)) > 0, 10, "the follower subscribed")
    writer.line("before")
    writer.flush()
    eventually(lambda: seen == ["before"], 10, "the line before the failover")

    cluster.kill_primary()
    writer.line("during")  # stored, its publication lost with the primary
    writer.flush()
    cluster.wait_for_failover()
    eventually(lambda: cluster.subscribers(channel(build_id)) > 0, 30, "a subscription again")
    for i in range(3):  # published on the new primary: reaches the follower live
        writer.line(f"after {i}")
        writer.flush()
    eventually(lambda: "after 2" in seen, 30, lambda: f"the lines after the failover: {seen}")
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = BuildStatus.PASSED
    publish_end(client, build_id, BuildStatus.PASSED)
    thread.join(timeout=30)
    assert not thread.is_alive() and failures == []
    assert seen == ["before", "during", "after 0", "after 1", "after 2"]
    assert ended == [BuildStatus.PASSED]
