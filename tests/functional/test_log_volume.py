"""Logs at volume (SQLite and PostgreSQL, real Redis): a line flushed in two chunks reads back
as one line (stored, numbered by range, followed, on the dashboard's stream), redaction across
such a split, the file store, and retention."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import redis as redis_lib
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.loglines import outline, read_lines
from ocelot.logstore import LogFiles, prune, writer_files
from ocelot.logstream import LogWriter, follow, publish_end, read_text, stored_chunks
from ocelot.models import Build, LogChunk, utcnow
from ocelot.secrets.redaction import MASK, make_redactor
from ocelot.settings import Settings
from ocelot.status import BuildStatus
from tests.functional.test_dashboard import make_build
from tests.functional.test_dashboard_log import store
from tests.functional.test_dashboard_pages import counted, signed_in  # noqa: F401 - fixture


def lines_of(engine: Engine, build_id: int, first: int = 1, last: int = 10**6) -> list[str]:
    return [line.text for line in read_lines(engine, build_id, first, last)]


def test_a_line_flushed_in_two_chunks_is_stored_as_one(engine: Engine) -> None:
    build_id = make_build(engine, "acme/split", status=BuildStatus.RUNNING)
    writer = LogWriter(engine, None, build_id, 1)
    writer.set_stage("s")
    writer.write(b"first half")
    writer.flush(partial_after=0)  # the line waited too long: stored as it is so far
    writer.write(b" second half\nnext\nopen")
    writer.flush(partial_after=0)
    writer.write(b" end")
    writer.close()
    with session_scope(engine) as session:
        rows = session.execute(
            select(LogChunk.text, LogChunk.lines, LogChunk.unterminated).order_by(LogChunk.seq)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("first half", 0, True),
        (" second half\nnext\nopen", 2, True),
        (" end\n", 1, False),
    ]
    other = make_build(engine, "acme/split", status=BuildStatus.RUNNING)
    with LogWriter(engine, None, other, 1) as writer:
        writer.write(b"progress 5")
        writer.flush(partial_after=0)
        writer.line("--- a banner of Ocelot's own ---")  # on a line of its own
        writer.write(b"0%\nwaiting")
        writer.line("--- another ---")
    assert read_text(engine, other) == (
        "progress 5\n--- a banner of Ocelot's own ---\n0%\nwaiting\n--- another ---\n"
    )
    assert read_text(engine, build_id) == "first half second half\nnext\nopen end\n"
    assert lines_of(engine, build_id) == ["first half second half", "next", "open end"]
    assert outline(engine, build_id).total == 3
    assert lines_of(engine, build_id, 2, 2) == ["next"] and lines_of(engine, build_id, 3) == [
        "open end"
    ]


def test_line_numbers_with_split_chunks_and_open_sections(engine: Engine) -> None:
    build_id = make_build(engine, "acme/numbers", status=BuildStatus.FAILED)
    store(
        engine,
        build_id,
        [
            (1, "build", "a\nb-start"),
            (1, "build", "-middle"),  # a line longer than a chunk
            (1, "build", "-end\nc"),
            (1, "build", "ont\n"),
            (1, "test", "x\n"),
            (1, "test", "left open"),  # the worker was lost mid-line
            (2, None, "again\n"),
        ],
    )
    shape = outline(engine, build_id)
    got = [(s.attempt, s.stage, s.first_line, s.last_line) for s in shape.sections]
    assert got == [(1, "build", 1, 3), (1, "test", 4, 5), (2, None, 6, 6)]
    everything = ["a", "b-start-middle-end", "cont", "x", "left open", "again"]
    assert lines_of(engine, build_id) == everything
    for first in range(1, 7):  # any range, from any line, reads the same lines
        for last in range(first, 7):
            got_lines = read_lines(engine, build_id, first, last)
            assert [(x.number, x.text) for x in got_lines] == [
                (n, everything[n - 1]) for n in range(first, last + 1)
            ]
    assert [x.section for x in read_lines(engine, build_id, 1, 6)] == [0, 0, 0, 1, 1, 2]
    assert read_text(engine, build_id) == "a\nb-start-middle-end\ncont\nx\nleft open\nagain\n"


def test_a_followed_split_line_reads_back_whole(engine: Engine, settings: Settings) -> None:
    r = redis_lib.Redis.from_url(settings.broker_url)
    build_id = make_build(engine, "acme/follow", status=BuildStatus.RUNNING)
    writer = LogWriter(engine, r, build_id, 1)
    writer.set_stage("s")
    writer.write(b"stored before ")
    writer.flush(partial_after=0)
    texts: list[str] = []
    subscribed = threading.Event()

    def consume() -> None:
        for event in follow(engine, r, build_id):
            subscribed.set()
            if event.kind == "log":
                texts.append(event.data["text"])
            elif event.kind == "end":
                return

    thread = threading.Thread(target=consume)
    thread.start()
    subscribed.wait(10)
    writer.write(b"the follower came\nprogress 1")
    writer.flush(partial_after=0)
    writer.write(b"0%")
    writer.flush(partial_after=0)
    writer.write(b" 100%\n")
    writer.close()
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = BuildStatus.PASSED
    publish_end(r, build_id, BuildStatus.PASSED)
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert len(texts) >= 4  # the line went out in pieces ...
    assert "".join(texts).splitlines() == ["stored before the follower came", "progress 10% 100%"]


def test_a_secret_split_across_chunks_of_one_line_is_masked(engine: Engine) -> None:
    secret = "tok-9f8e7d6c5b"
    build_id = make_build(engine, "acme/redact", status=BuildStatus.RUNNING)
    writer = LogWriter(engine, None, build_id, 1, redact=make_redactor([secret]))
    writer.set_stage("s")
    writer.write(b"a " * 10 + b"line\n" * 1000 + b"key=" + secret[:5].encode())
    writer.flush(partial_after=0)  # "key=" goes; the start of the secret is held
    writer.write(secret[5:].encode() + b" and " + secret.encode() + b"\n" + b"x\n" * 10)
    writer.close()
    text = read_text(engine, build_id)
    assert secret not in text and secret[:5] not in text and secret[5:] not in text
    assert f"key={MASK} and {MASK}" in lines_of(engine, build_id)
    assert len(lines_of(engine, build_id)) == 1 + 1000 + 10


def test_the_cap_ends_a_line_left_open(engine: Engine) -> None:
    build_id = make_build(engine, "acme/cap", status=BuildStatus.RUNNING)
    writer = LogWriter(engine, None, build_id, 1, max_bytes=1024)
    writer.set_stage("s")
    writer.write(b"progress")
    writer.flush(partial_after=0)
    writer.write(b"." * 5000 + b"\n")
    writer.close()
    lines = lines_of(engine, build_id)
    assert lines[0].startswith("progress...") and "log cut" in lines[1] and len(lines) == 2


def test_the_file_store_round_trips(engine: Engine, settings: Settings) -> None:
    files = writer_files(settings.with_(log_store="files"))
    assert isinstance(files, LogFiles) and files.root == settings.home / "logs"
    build_id = make_build(engine, "acme/files", status=BuildStatus.RUNNING)
    with LogWriter(engine, None, build_id, 1, files=files, max_bytes=10**6) as writer:
        writer.set_stage("s")
        writer.write("héllo\nwor".encode())
        writer.flush(partial_after=0)
        writer.write(b"ld\n" + b"z" * 70_000 + b"\n")
        writer.set_stage("t")
        writer.line("done")
    with session_scope(engine) as session:
        rows = session.execute(
            select(LogChunk.text, LogChunk.file_offset, LogChunk.size).order_by(LogChunk.seq)
        ).all()
    assert rows and all(text == "" and offset is not None for text, offset, _ in rows)
    expected = "héllo\nworld\n" + "z" * 70_000 + "\ndone\n"
    assert sum(size for *_, size in rows) == len(expected.encode())
    assert files.path(build_id).read_bytes() == expected.encode()
    assert read_text(engine, build_id) == expected
    assert read_text(engine, build_id, stage="t") == "done\n"
    assert lines_of(engine, build_id) == ["héllo", "world", "z" * 70_000, "done"]
    assert "".join(c.text for c in stored_chunks(engine, build_id)) == expected
    # the cap counts what the file store holds, too
    again = LogWriter(engine, None, build_id, 1, files=files, max_bytes=10**6)
    assert again._used == len(expected.encode())  # the cap starts from what is stored


def test_the_dashboard_joins_a_split_line(
    signed_in: FlaskClient,  # noqa: F811
    engine: Engine,
) -> None:
    build_id = make_build(engine, "acme/page", status=BuildStatus.FAILED)
    store(engine, build_id, [(1, "s", "one\npart"), (1, "s", "ial\ntwo\n")])
    body = signed_in.get(f"/builds/{build_id}/events").get_data(as_text=True)
    events = [json.loads(e.split("data: ", 1)[1]) for e in body.split("\n\n") if "event: log" in e]
    assert [(e["lines"], e["continues"]) for e in events] == [
        (["one", "part"], False),
        (["ial", "two"], True),
    ]
    after = signed_in.get(f"/builds/{build_id}/events?after=1").get_data(as_text=True)
    assert '"continues": true' in after and '"lines": ["ial", "two"]' in after
    lines = signed_in.get(f"/builds/{build_id}/lines?first=1&last=10").get_json()
    assert lines["total"] == 3 and [x["html"] for x in lines["lines"]] == ["one", "partial", "two"]
    page = signed_in.get(f"/builds/{build_id}").get_data(as_text=True)
    assert "partial" in page and ">part<" not in page


def test_retention_removes_old_logs_only(engine: Engine, settings: Settings) -> None:
    files = LogFiles(settings.logs)
    now = utcnow()
    old = make_build(engine, "acme/keep", status=BuildStatus.PASSED)
    recent = make_build(engine, "acme/keep", status=BuildStatus.FAILED)
    running = make_build(engine, "acme/keep", status=BuildStatus.RUNNING)
    old_sql = make_build(engine, "acme/keep", status=BuildStatus.PASSED)
    for build_id in (old, recent, running, old_sql):
        store_files = files if build_id != old_sql else None
        with LogWriter(engine, None, build_id, 1, files=store_files) as writer:
            writer.line(f"log of {build_id}")
    with session_scope(engine) as session:
        for build_id, age in ((old, 10), (recent, 1), (old_sql, 30)):
            build = session.get(Build, build_id)
            assert build is not None
            build.finished_at = now - timedelta(days=age)
    assert prune(engine, 0) == 0  # 0: keep everything
    assert prune(engine, 7, now=now) == 2
    with session_scope(engine) as session:
        kept = dict(
            session.execute(
                select(LogChunk.build_id, func.count()).group_by(LogChunk.build_id)
            ).all()
        )
        builds = session.scalar(select(func.count()).select_from(Build))
    assert kept == {recent: 1, running: 1} and builds == 4  # the builds stay
    assert not files.path(old).exists() and files.path(recent).exists()
    assert read_text(engine, recent) == f"log of {recent}\n" and read_text(engine, old) == ""
    assert lines_of(engine, old) == []
    orphan = Path(files.path(999_999))  # a file whose build is gone
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_text("x\n")
    assert prune(engine, 7, now=now) == 1 and not orphan.exists()
