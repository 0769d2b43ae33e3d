"""Logs: batched durable writes, and a follower that replays then tails with no gap and no
duplicate, against a real database and a real Redis."""

from __future__ import annotations

import threading

import redis as redis_lib
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.logstream import LogWriter, follow, publish_end, read_text
from ocelot.models import Build, Repo
from ocelot.settings import Settings
from ocelot.status import BuildStatus
from tests.waiting import eventually


def make_build(engine: Engine) -> int:
    with session_scope(engine) as session:
        repo = Repo(acct="a", name="b", full_name="a/b", url="/x")
        build = Build(repo=repo, branch="master", status=BuildStatus.RUNNING, attempt=1)
        session.add(build)
        session.flush()
        return build.id


def test_output_is_stored_while_it_is_written(engine: Engine, settings: Settings) -> None:
    build_id = make_build(engine)
    with LogWriter(engine, None, build_id, 1, flush_seconds=0.05) as writer:
        writer.set_stage("s")
        writer.write(b"line one\nline t")
        eventually(lambda: "line one" in read_text(engine, build_id), 5, "line one", interval=0.02)
        assert read_text(engine, build_id) == "line one\n"  # the partial line waits
        writer.write(b"wo\n\xe2\x82")  # a UTF-8 character split across writes
        writer.write(b"\xac\n")
    assert read_text(engine, build_id) == "line one\nline two\n\u20ac\n"
    assert read_text(engine, build_id, stage="other") == ""


def test_follow_replays_then_tails_without_gap_or_duplicate(
    engine: Engine, settings: Settings
) -> None:
    r = redis_lib.Redis.from_url(settings.broker_url)
    build_id = make_build(engine)
    writer = LogWriter(engine, r, build_id, 1, flush_seconds=0.01)
    for i in range(5):  # stored before the follower starts
        writer.line(f"old {i}")
        writer.flush()
    seen: list[str] = []
    ended: list[str] = []

    def consume() -> None:
        for event in follow(engine, r, build_id):
            if event.kind == "log":
                seen.extend(event.data["text"].splitlines())
            elif event.kind == "end":
                ended.append(event.data["status"])

    thread = threading.Thread(target=consume)
    thread.start()
    for i in range(50):
        writer.line(f"new {i}")
        writer.flush()
        if i == 25:
            # A chunk whose publication is lost: the follower must fill the gap from the DB.
            writer.redis = None
            writer.line("unpublished")
            writer.flush()
            writer.redis = r
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = BuildStatus.PASSED
    publish_end(r, build_id, BuildStatus.PASSED)
    thread.join(timeout=20)
    assert not thread.is_alive()
    expected = [f"old {i}" for i in range(5)] + [f"new {i}" for i in range(26)]
    expected += ["unpublished"] + [f"new {i}" for i in range(26, 50)]
    assert seen == expected
    assert ended == [BuildStatus.PASSED]


def test_follow_of_a_finished_build_replays_and_ends(engine: Engine, settings: Settings) -> None:
    r = redis_lib.Redis.from_url(settings.broker_url)
    build_id = make_build(engine)
    with LogWriter(engine, r, build_id, 1) as writer:
        writer.line("only")
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = BuildStatus.PASSED
    kinds = [(e.kind, e.data.get("text")) for e in follow(engine, r, build_id)]
    assert kinds == [("log", "only\n"), ("end", None)]


def test_logs_endpoint_text_and_sse(client, auth, engine: Engine, settings: Settings) -> None:
    r = redis_lib.Redis.from_url(settings.broker_url)
    build_id = make_build(engine)
    with LogWriter(engine, r, build_id, 1) as writer:
        writer.set_stage("one")
        writer.line("from one")
        writer.set_stage("two")
        writer.line("from two")
    text = client.get(f"/api/v1/builds/{build_id}/logs", headers=auth)
    assert text.mimetype == "text/plain"
    assert text.get_data(as_text=True) == "from one\nfrom two\n"
    only_two = client.get(f"/api/v1/builds/{build_id}/logs?stage=two", headers=auth)
    assert only_two.get_data(as_text=True) == "from two\n"
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = BuildStatus.PASSED
    sse = client.get(f"/api/v1/builds/{build_id}/logs?follow=1", headers=auth)
    assert sse.mimetype == "text/event-stream"
    body = sse.get_data(as_text=True)
    assert body.count("event: log\n") == 2
    assert body.endswith('event: end\ndata: {"status": "PASSED"}\n\n')
