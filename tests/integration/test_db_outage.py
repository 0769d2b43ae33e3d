"""A database outage is not a dead worker: PostgreSQL goes down (fast shutdown: every
connection cut) for longer than a lease while a build runs, and comes back. The worker rides
it out (ocelot.retrying), the reaper judges no lease until it has reached the database for a
whole lease again (recovery.may_judge_leases), and the build passes once, as attempt 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.servers import PG_BIN, PostgresServer, RedisServer
from tests.stack import Stack, docker_ok, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.postgres]

LEASE = 3.0
FAST = {
    "OCELOT_LEASE_SECONDS": str(LEASE),
    "OCELOT_RECONCILE_AFTER": "3",
    "OCELOT_WORKER_LOST_RETRIES": "2",
}


@pytest.fixture
def on_postgres(tmp_path: Path) -> Iterator[tuple[Stack, PostgresServer]]:
    ok, reason = docker_ok()
    require(ok, reason)
    require((PG_BIN / "initdb").exists(), f"PostgreSQL is not installed ({PG_BIN})")
    pg = PostgresServer()  # its own cluster: this test takes it down
    redis = RedisServer(tmp_path)
    stack = None
    try:
        env = {**FAST, "OCELOT_DATABASE_URL": pg.create_database()}
        (tmp_path / "stack").mkdir()
        stack = Stack(tmp_path / "stack", redis, db=0, env=env)
        stack.start_beat()
        yield stack, pg
    finally:
        if stack is not None:
            stack.close()
        redis.stop()
        pg.stop()


def test_a_database_outage_longer_than_the_lease_is_not_a_dead_worker(
    on_postgres: tuple[Stack, PostgresServer], tmp_path: Path
) -> None:
    stack, pg = on_postgres
    worker = stack.start_worker("steady")
    script = '["echo before-outage", "sleep 10", "echo after-outage"]'
    make_repo(
        tmp_path / "r",
        {
            "ocelot.yml": "image: ocelot/busybox\nbuildTool: shell\nbranches: [ALL]\n"
            f"stages:\n  - name: long\n    script: {script}\n"
        },
    )
    build_id = stack.build(stack.add_repo(tmp_path / "r"), branch="master")
    eventually(lambda: "before-outage" in stack.logs(build_id), 60, "the stage to start")

    pg.down_for(LEASE + 2)  # every lease runs out while the database is away

    build = stack.wait(build_id, timeout=120)
    assert build["status"] == "PASSED", build
    assert build["attempt"] == 1 and build["attempts"] == [], build  # no "worker lost"
    log = stack.logs(build_id)
    assert log.count("before-outage\n") == 1 and log.count("after-outage\n") == 1, log
    worker_log = worker.log.read_text(errors="replace")
    assert "database unreachable while" in worker_log  # it did see the outage
    assert "database reachable again" in worker_log
