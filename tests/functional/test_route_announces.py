"""A build that ends in ``route`` (invalid file, refused branch) is announced like any other
finished build: the step records the announcement (dispatched to notices and forge reports by
the worker when the task ends), live followers get "end"."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.runner import RunContext, route
from ocelot.runner.context import Announcement
from ocelot.services.builds import create_build
from ocelot.services.repos import add_repo
from ocelot.settings import Settings
from tests.stack import make_repo

GOOD = (
    "image: ocelot/busybox\nbuildTool: sh\nbranches: [master]\n"
    "stages:\n  - name: s\n    script: [x]\n"
)


@pytest.mark.parametrize(
    ("files", "branch", "status"),
    [
        ({"ocelot.yml": "image: x\nstages: []\n"}, "master", "FAILED_PRESTART"),
        ({"ocelot.yml": GOOD}, "feature", "SKIPPED"),
    ],
)
def test_route_stop_announces_the_finished_build(
    engine: Engine, settings: Settings, tmp_path: Path, files, branch: str, status: str
) -> None:
    make_repo(tmp_path / "r", files, branch=branch)
    r = redis_lib.Redis.from_url(settings.broker_url)
    with session_scope(engine) as session:
        add_repo(session, "acme/r", str(tmp_path / "r"))
        build_id = create_build(session, "acme/r", branch=branch).id
    ctx = RunContext(settings=settings, engine=engine, redis=r)
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"ocelot:logs:{build_id}")
    assert route(ctx, build_id) is None
    assert ctx.take_announcements() == [Announcement(build_id, status)]
    assert ctx.take_announcements() == []  # taken once
    assert route(ctx, build_id) is None  # a redelivered route announces again
    assert [a.finished for a in ctx.take_announcements()] == [True]
    message = None
    for _ in range(20):
        message = pubsub.get_message(timeout=0.2)
        if message:
            break
    assert message is not None and f'"status": "{status}"' in message["data"].decode()
    pubsub.close()
