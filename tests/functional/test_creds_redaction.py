"""The log writer stores (and publishes) only redacted lines, against a real DB and Redis."""

from __future__ import annotations

import json

import redis
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.logstream import LogWriter, channel, read_text
from ocelot.models import Build, Repo
from ocelot.secrets.redaction import make_redactor
from tests.servers import RedisServer

KEY = "-----BEGIN KEY-----\nAAAAline-one\nBBBBline-two\n-----END KEY-----\n"


def test_stored_and_published_log_lines_are_redacted(
    engine: Engine, redis_server: RedisServer
) -> None:
    with session_scope(engine) as session:
        repo = Repo(acct="acme", name="r", full_name="acme/r", url="/x")
        session.add(repo)
        session.flush()
        build = Build(repo_id=repo.id, status="RUNNING", trigger="cli", history=[])
        session.add(build)
        session.flush()
        build_id = build.id
    client = redis.Redis.from_url(redis_server.url)
    sub = client.pubsub(ignore_subscribe_messages=True)
    sub.subscribe(channel(build_id))
    redact = make_redactor(["s3cret!!", KEY, "abc"])
    with LogWriter(engine, client, build_id, 1, redact=redact) as writer:
        writer.write(b"echo s3cret!!\n" + KEY.encode() + b"tail s3c")
        writer.write(b"ret!! and abc\n")
    stored = read_text(engine, build_id)
    published = ""
    for _ in range(10):  # None also stands for the skipped "subscribed" message
        msg = sub.get_message(timeout=0.2)
        if msg is not None:
            published += json.loads(msg["data"])["text"]
    sub.close()
    for text in (stored, published):
        assert "s3cret!!" not in text and "AAAA" not in text and "BBBB" not in text
        assert text.count("*****") == 6, text
        assert "and abc" in text  # shorter than 4 characters: left alone
